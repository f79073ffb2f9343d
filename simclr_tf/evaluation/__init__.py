"""Evaluation commands: the training command's evaluation modes (`linear_eval`, `finetune`,
`distill`), loading what an evaluation starts from, the labelled splits of a config, and the
end-of-run report.

The protocols these commands run live in `simclr_tf.protocols` (the library; it never imports
this package). Their names are re-exported here too, so that code written as
`from simclr_tf.evaluation import linear_evaluation` keeps working; new code imports them from
`simclr_tf.protocols` (or `simclr_tf`).
"""

from simclr_tf.evaluation.modes import MODES, run_mode
from simclr_tf.evaluation.pretrained import load_pretrained
from simclr_tf.evaluation.report import evaluate_features
from simclr_tf.protocols import (
    Classifier,
    Distiller,
    ExportedEncoder,
    build_classifier,
    distill,
    distillation_loss,
    evaluate_classifier,
    extract_dataset_features,
    extract_features,
    fine_tune,
    knn_accuracy,
    knn_classify,
    linear_evaluation,
    stratified_fraction,
    train_linear_classifier,
)

__all__ = [
    # The command API.
    "MODES", "evaluate_features", "load_pretrained", "run_mode",
    # Re-exported from simclr_tf.protocols, for imports written before the split.
    "Classifier", "Distiller", "ExportedEncoder", "build_classifier", "distill",
    "distillation_loss", "evaluate_classifier", "extract_dataset_features", "extract_features",
    "fine_tune", "knn_accuracy", "knn_classify", "linear_evaluation", "stratified_fraction",
    "train_linear_classifier",
]
