"""google-research/simclr's published checkpoints as this package's Keras models."""

from simclr_tf.official.loader import OfficialModel, describe, load_official
from simclr_tf.official.reader import is_official, resolve_checkpoint
from simclr_tf.official.serving import export_classifier, imagenet_wnids, preprocess

__all__ = [
    "OfficialModel",
    "describe",
    "export_classifier",
    "imagenet_wnids",
    "is_official",
    "load_official",
    "preprocess",
    "resolve_checkpoint",
]
