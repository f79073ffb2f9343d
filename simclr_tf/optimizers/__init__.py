"""LARS and the warmup + cosine learning-rate schedule of SimCLR."""

from simclr_tf.optimizers.lars import LARS
from simclr_tf.optimizers.schedules import WarmupCosine, scale_learning_rate, steps_from_epochs

__all__ = ["LARS", "WarmupCosine", "scale_learning_rate", "steps_from_epochs"]
