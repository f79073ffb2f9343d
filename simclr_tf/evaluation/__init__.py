"""Evaluation protocols: linear evaluation, kNN, and the end-of-run report."""

from simclr_tf.evaluation.features import extract_features
from simclr_tf.evaluation.knn import knn_accuracy, knn_classify
from simclr_tf.evaluation.linear_eval import linear_evaluation, train_linear_classifier

__all__ = ["extract_features", "knn_accuracy", "knn_classify", "linear_evaluation", "train_linear_classifier"]
