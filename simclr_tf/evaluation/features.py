"""Embedding images with a trained encoder (the evaluation preprocessing, inference-mode BN)."""

import weakref

import numpy as np
import tensorflow as tf


def extract_features(model, images, batch_size=256):
    """(N, D) float32 numpy features of `images` (uint8 or float numpy/tensor).

    `model` is a `SimCLR` (its `augment(training=False)` centre crop and resize, then the
    encoder), or any callable encoder that takes the images as they are.
    """
    embed = _embed_function(model)
    outputs = []
    for start in range(0, len(images), batch_size):
        outputs.append(embed(tf.convert_to_tensor(images[start : start + batch_size])).numpy())
    if not outputs:
        raise ValueError("extract_features received no images.")
    return np.concatenate(outputs)


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
