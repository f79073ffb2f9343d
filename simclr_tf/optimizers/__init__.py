"""LARS, the reference's momentum / Adam with an L2 term, and the warmup + cosine schedule."""

from simclr_tf.optimizers.l2 import AdamWithL2, SGDWithL2, build_optimizer, exclude_from_decay
from simclr_tf.optimizers.lars import LARS
from simclr_tf.optimizers.schedules import WarmupCosine, scale_learning_rate, steps_from_epochs

__all__ = [
    "AdamWithL2",
    "LARS",
    "SGDWithL2",
    "WarmupCosine",
    "build_optimizer",
    "exclude_from_decay",
    "scale_learning_rate",
    "steps_from_epochs",
]
