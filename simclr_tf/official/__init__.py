"""google-research/simclr's published checkpoints as this package's Keras models."""

from simclr_tf.official.loader import OfficialModel, describe, load_official
from simclr_tf.official.reader import is_official, resolve_checkpoint

__all__ = ["OfficialModel", "describe", "is_official", "load_official", "resolve_checkpoint"]
