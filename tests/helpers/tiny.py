"""Tiny deterministic models shared by tests and the multi-worker worker script."""

import importlib.util
import os

import keras
import numpy as np
import tensorflow as tf

from simclr_tf.models.batch_norm import BatchNormalization
from simclr_tf.models.projection_head import ProjectionHead
from simclr_tf.models.resnet import ResNet
from simclr_tf.models.simclr import SimCLR

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@keras.saving.register_keras_serializable(package="simclr_tf_tests")
class FixedViews(keras.layers.Layer):
    """Deterministic 'augmentation' for invariance tests: training calls alternate identity /
    flip, so the two views differ but every run (1 or 2 replicas, 1 or 2 workers) sees exactly
    the same views."""

    def __init__(self, image_size=16, **kwargs):
        super().__init__(**kwargs)
        self.image_size = image_size
        self._calls = 0

    def call(self, images, training=False):
        images = tf.cast(images, tf.float32) / 255.0
        images = tf.image.resize(images, (self.image_size, self.image_size))
        if images.shape[-1] == 1:
            images = tf.tile(images, [1, 1, 1, 3])
        if training:
            self._calls += 1
            if self._calls % 2 == 0:
                return tf.reverse(images, axis=[2])
        return images

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size}


def small_encoder(image_size=16, synchronized=False):
    """Conv + (fused) BN + ReLU, twice, + pool: a step traces and compiles in a fraction of a
    ResNet-18's time, for tests of the step's mechanics rather than of the ResNet."""
    return keras.Sequential([
        keras.Input((image_size, image_size, 3)),
        keras.layers.Conv2D(8, 3, strides=2, use_bias=False),
        BatchNormalization(momentum=0.9, synchronized=synchronized),
        keras.layers.ReLU(),
        keras.layers.Conv2D(8, 3, use_bias=False),
        BatchNormalization(momentum=0.9, synchronized=synchronized),
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
    ])


def tiny_model(augment=None, num_classes=None, encoder=None, **kwargs):
    return SimCLR(
        encoder=encoder or ResNet(depth=18, width_multiplier=0.125, cifar_stem=True,
                                  input_shape=(16, 16, 3)),
        projection_head=ProjectionHead(num_layers=2, output_dim=16),
        augment=augment or FixedViews(16),
        num_classes=num_classes,
        **kwargs,
    )


def images_and_labels(n=8, size=16, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, size=(n,)).astype(np.int32)
    return images, labels


def tiny_config(**eval_overrides):
    """The demo config at 16 px with a width-0.125 encoder: seconds per epoch on a CPU."""
    spec = importlib.util.spec_from_file_location(
        "demo_config", os.path.join(ROOT, "tf_configs", "demo.py")
    )
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    config = demo.get_config()
    config.image_size = 16
    config.batch_size = 64
    config.num_train_examples = 640
    config.epochs = 2
    config.model.width_multiplier = 0.125
    config.knn_every_epochs = 0
    config.log_images = False
    config.eval.compare_baselines = False
    config.eval.plots = False
    config.eval.epochs = 10
    for key, value in eval_overrides.items():
        setattr(config.eval, key, value)
    return config
