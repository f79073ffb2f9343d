"""Sobel filtering, one of the paper's studied transformations (Figure 4j, Table 3)."""

import keras
import tensorflow as tf

from simclr_tf.augment import base
from simclr_tf.augment import color_ops

# The largest gradient magnitude of a [0, 1] image: |gx|, |gy| <= 4 each.
_MAX_MAGNITUDE = 4.0 * 2.0**0.5


def sobel_magnitude(images):
    """Gradient magnitude of the luma, scaled into [0, 1] by its largest possible value and
    tiled to 3 channels. Reflect padding (as `tf.image.sobel_edges`); one conv, XLA-friendly."""
    gray = color_ops.to_grayscale(images)[..., :1]
    padded = tf.pad(gray, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
    gx = tf.constant([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = tf.stack([gx, tf.transpose(gx)], axis=-1)[:, :, None, :]  # (3, 3, 1, 2)
    grads = tf.nn.conv2d(padded, kernels, strides=1, padding="VALID")
    magnitude = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=-1, keepdims=True) + 1e-12)
    return tf.tile(tf.clip_by_value(magnitude / _MAX_MAGNITUDE, 0.0, 1.0), [1, 1, 1, 3])


@keras.saving.register_keras_serializable(package="simclr_tf")
class RandomSobel(base.BaseAugmentation):
    """Replaces each image, with probability `probability`, by its Sobel edge magnitude.

    The edge map is computed on the luma (ITU-R 601 weights, as the grayscale of the colour
    distortion), with reflect padding, scaled by the largest possible magnitude (4 * sqrt(2)) so
    that it stays in [0, 1] with no per-image normalisation, and tiled to 3 channels. The paper
    studies Sobel filtering as a transformation (Figure 4 j) and as a target to predict from h
    and g(h) (Table 3) without giving its exact scaling; this one is ours. Identity when
    `training=False`.

    Args:
        probability: chance per image of the filter.
        seed: int or None.

    Example:

    ```python
    edges = simclr_tf.augment.RandomSobel(probability=1.0)(images)
    ```
    """

    def __init__(self, probability=1.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        # === Config ===
        self.probability = base.check_probability("probability", probability)

    def get_random_transformation(self, images, training=True, seed=None):
        if not training:
            return None
        return {"apply": base.bernoulli(self.draw_seed(seed), tf.shape(images)[0], self.probability)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        # A select, not a 0/1 blend: the edge map's three channels stay exactly equal.
        return tf.where(transformation["apply"][:, None, None, None], sobel_magnitude(images), images)

    def get_config(self):
        config = super().get_config()
        config.update({"probability": self.probability})
        return config
