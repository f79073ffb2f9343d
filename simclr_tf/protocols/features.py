"""Embedding images with a trained encoder (the evaluation preprocessing, inference-mode BN).

`model` may be a `SimCLR` (its `augment(training=False)` centre crop and resize, then the
encoder), a `simclr_tf.protocols.ExportedEncoder` (a SavedModel that preprocesses itself) or any
callable encoder that takes the images as they are.
"""

import weakref

import numpy as np
import tensorflow as tf

from simclr_tf.augment.base import image_inputs
from simclr_tf.data.types import num_images, take


def extract_features(model, images, batch_size=256):
    """(N, D) float32 numpy features of `images` (uint8 or float numpy/tensor, or a canvas dict
    of arrays `{"image", "image_size"}` as `simclr_tf.data.load_arrays` gives for images of
    several sizes)."""
    embed = _embed_function(model)
    outputs = []
    for start in range(0, num_images(images), batch_size):
        batch = take(images, slice(start, start + batch_size))
        outputs.append(embed(tf.nest.map_structure(tf.convert_to_tensor, batch)).numpy())
    if not outputs:
        raise ValueError("extract_features received no images.")
    return np.concatenate(outputs)


def extract_dataset_features(model, dataset):
    """Features and labels of every example of a dataset of `(images, labels)` batches.

    For splits too large for numpy images (the features are far smaller): the dataset is read
    once, in its own order, and nothing is dropped, so batch it without `drop_remainder`.

    Returns:
        `(features, labels)`: (N, D) float32 and (N,) int32 numpy arrays.
    """
    embed = _embed_function(model)
    features, labels = [], []
    for batch in dataset:
        if isinstance(batch, dict):
            batch = (image_inputs(batch), batch["label"])
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(
                "extract_dataset_features needs a dataset of (images, labels) batches. "
                f"Received elements of type {type(batch).__name__}."
            )
        features.append(embed(batch[0]).numpy())
        labels.append(batch[1].numpy().reshape(-1).astype("int32"))
    if not features:
        raise ValueError("extract_dataset_features received an empty dataset.")
    return np.concatenate(features), np.concatenate(labels)


# Weak keys: a model that is gone takes its traced function with it.
_EMBED_FUNCTIONS = weakref.WeakKeyDictionary()


def _embed_function(model):
    """One traced embedding function per model, reused across calls (no retracing)."""
    if model in _EMBED_FUNCTIONS:
        return _EMBED_FUNCTIONS[model]
    encoder = getattr(model, "encoder", model)
    preprocess = getattr(model, "augment", None)

    @tf.function(reduce_retracing=True)
    def embed(batch):
        if preprocess is not None:
            batch = preprocess(batch, training=False)
        return tf.cast(encoder(batch, training=False), tf.float32)

    _EMBED_FUNCTIONS[model] = embed
    return embed
