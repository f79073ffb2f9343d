"""Contrastive losses: NT-Xent (`nt_xent.py`) and the paper's alternatives (`alternatives.py`).

Every function here takes the two views' projections `(z1, z2)` and gathers the negatives from
every replica under `tf.distribute`; `get_contrastive_loss` resolves the `SimCLR(loss=...)` spec.
"""

from simclr_tf.losses.alternatives import (
    LOSSES,
    get_contrastive_loss,
    margin_triplet_loss,
    margin_triplet_loss_and_metrics,
    nt_logistic_loss,
    nt_logistic_loss_and_metrics,
    semi_hard_negatives,
)
from simclr_tf.losses.nt_xent import contrastive_loss_and_metrics, nt_xent_loss

__all__ = [
    "LOSSES",
    "contrastive_loss_and_metrics",
    "get_contrastive_loss",
    "margin_triplet_loss",
    "margin_triplet_loss_and_metrics",
    "nt_logistic_loss",
    "nt_logistic_loss_and_metrics",
    "nt_xent_loss",
    "semi_hard_negatives",
]
