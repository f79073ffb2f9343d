"""Callbacks for pretraining: atomic checkpoints with resume, kNN monitor, view summaries."""

from simclr_tf.callbacks.checkpoint import ResumableCheckpoint
from simclr_tf.callbacks.csv_history import CSVHistory
from simclr_tf.callbacks.knn_monitor import KNNMonitor
from simclr_tf.callbacks.view_summary import ViewSummary

__all__ = ["CSVHistory", "KNNMonitor", "ResumableCheckpoint", "ViewSummary"]
