"""Evaluation protocols, the library: linear evaluation, kNN, fine-tuning, distillation, label
fractions, feature extraction, and an exported encoder as a feature extractor.

Each protocol is a function of models and arrays or datasets; none reads a config or writes a
work directory. The commands that do (`python -m simclr_tf.train --config.mode=...`, the
end-of-run report, loading a pretrained run) live in `simclr_tf.evaluation`, which imports these
protocols. Protocols never import that command layer, nor `simclr_tf.callbacks`,
`simclr_tf.train`, `simclr_tf.study` or `simclr_tf.workdir` (tests/test_import_layers.py checks),
so a callback such as `KNNMonitor` can use them without pulling in the commands.

`Classifier` and `build_classifier` (from `simclr_tf.models`) are re-exported: they build the
network that `fine_tune` and `distill` train.
"""

from simclr_tf.models.classifier import Classifier
from simclr_tf.models.classifier_builder import build_classifier
from simclr_tf.protocols.distill import Distiller, distill, distillation_loss
from simclr_tf.protocols.exported import ExportedEncoder
from simclr_tf.protocols.features import extract_dataset_features, extract_features
from simclr_tf.protocols.finetune import evaluate_classifier, fine_tune
from simclr_tf.protocols.knn import knn_accuracy, knn_classify
from simclr_tf.protocols.label_fractions import stratified_fraction
from simclr_tf.protocols.linear_eval import (
    frozen_batch_norm_in_training_mode,
    linear_evaluation,
    train_linear_classifier,
)
from simclr_tf.protocols.recipe import FINE_TUNING, LINEAR_EVALUATION, OptimizerSettings

__all__ = [
    "Classifier",
    "Distiller",
    "ExportedEncoder",
    "FINE_TUNING",
    "LINEAR_EVALUATION",
    "OptimizerSettings",
    "build_classifier",
    "distill",
    "distillation_loss",
    "evaluate_classifier",
    "extract_dataset_features",
    "extract_features",
    "fine_tune",
    "frozen_batch_norm_in_training_mode",
    "knn_accuracy",
    "knn_classify",
    "linear_evaluation",
    "stratified_fraction",
    "train_linear_classifier",
]
