"""Evaluation protocols: linear evaluation, kNN, fine-tuning, distillation, label fractions,
the training command's evaluation modes, and the end-of-run report."""

from simclr_tf.models.classifier import Classifier
from simclr_tf.models.classifier_builder import build_classifier
from simclr_tf.evaluation.distill import Distiller, distill, distillation_loss
from simclr_tf.evaluation.exported import ExportedEncoder
from simclr_tf.evaluation.features import extract_dataset_features, extract_features
from simclr_tf.evaluation.finetune import evaluate_classifier, fine_tune
from simclr_tf.evaluation.knn import knn_accuracy, knn_classify
from simclr_tf.evaluation.label_fractions import stratified_fraction
from simclr_tf.evaluation.linear_eval import linear_evaluation, train_linear_classifier
from simclr_tf.evaluation.modes import MODES, run_mode
from simclr_tf.evaluation.pretrained import load_pretrained
from simclr_tf.evaluation.report import evaluate_features

__all__ = [
    "Classifier", "Distiller", "ExportedEncoder", "MODES", "build_classifier", "distill",
    "distillation_loss", "evaluate_classifier", "evaluate_features", "extract_dataset_features",
    "extract_features", "fine_tune", "knn_accuracy", "knn_classify", "linear_evaluation",
    "load_pretrained", "run_mode", "stratified_fraction", "train_linear_classifier",
]
