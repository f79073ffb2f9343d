"""`simclr_tf.callbacks` as `fit` calls them, on a model small enough to train in a second.

The checkpoints' resume and torn-write cases are in tests/test_workdir.py and tests/test_train.py,
the view summaries' images in tests/test_augment_layers.py; here each callback's schedule and
what it writes.
"""

import csv
import uuid

import keras
import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.callbacks import CSVHistory, KNNMonitor, ResumableCheckpoint
from simclr_tf.protocols.features import extract_features
from simclr_tf.protocols.knn import knn_accuracy


def _ram_dir():
    return f"ram://callbacks-{uuid.uuid4().hex}"


def _clusters(n, seed, shuffle_labels=False):
    """4 x 4 images of 3 classes, class c red, green or blue, plus noise: directions apart, so
    the kNN's cosine similarity separates them."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = np.eye(3)[labels][:, None, None, :] * 200 + rng.integers(0, 30, (n, 4, 4, 3))
    if shuffle_labels:
        labels = rng.permutation(labels)
    return images.astype(np.uint8), labels.astype(np.int32)


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((4, 4, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
        keras.layers.Dense(8),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


def _fit(model, epochs, callbacks):
    images, _ = _clusters(16, 0)
    return model.fit(images, np.zeros((16, 8)), batch_size=8, epochs=epochs, verbose=0,
                     callbacks=callbacks)


def test_knn_monitor_schedule_and_value():
    bank, queries = _clusters(60, 1), _clusters(30, 2)
    monitor = KNNMonitor(bank, queries, num_classes=3, every_epochs=3, k=5)
    model = _model()
    history = _fit(model, 7, [monitor])
    # After the first epoch (CSVLogger fixes its columns there), every 3rd and the last.
    assert [epoch for epoch, _ in monitor.history] == [1, 3, 6, 7]
    logged = history.history["knn_top1"]
    assert len(logged) == 4 and all(isinstance(v, (float, np.floating)) for v in logged)
    expected = knn_accuracy(
        extract_features(model, bank[0]), bank[1], extract_features(model, queries[0]),
        queries[1], 3, k=5, temperature=0.1,
    )
    assert monitor.history[-1][1] == pytest.approx(expected)
    assert expected == 1.0  # separable classes
    # Labels that carry no information: near chance, so the value is the kNN's, not a constant.
    noise = KNNMonitor(bank, _clusters(30, 2, shuffle_labels=True), 3, k=5)
    noise.set_model(model)
    assert noise.evaluate() < 0.7
    # The defaults: lightly's and solo-learn's weighted kNN, k = 200, temperature 0.1.
    default = KNNMonitor(bank, queries, 3)
    assert (default.k, default.temperature, default.every_epochs) == (200, 0.1, 1)


def test_csv_history_writes_to_any_filesystem():
    directory = _ram_dir()
    path = f"{directory}/history.csv"
    monitor = KNNMonitor(_clusters(30, 1), _clusters(15, 2), 3, every_epochs=2, k=5)
    _fit(_model(), 3, [monitor, CSVHistory(path)])  # the monitor first: its value is in the row
    with tf.io.gfile.GFile(path) as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    assert {"epoch", "knn_top1", "loss"} <= set(rows[0])
    assert all(float(row["knn_top1"]) == 1.0 for row in rows)  # epochs 1, 2 and the last
    assert all(np.isfinite(float(row["loss"])) for row in rows)


def test_resumable_checkpoint_every_and_keep():
    directory = _ram_dir()
    model = _model()
    model.build((None, 4, 4, 3))
    callback = ResumableCheckpoint(directory, every_epochs=2, keep=2)
    _fit(model, 5, [callback])
    # Saved after epochs 2, 4 and the last (5); the oldest pruned.
    assert [epoch for epoch, _ in callback.checkpoints()] == [4, 5]
    assert callback.latest_epoch() == 5
    for every, keep in ((0, 1), (1, 0)):
        with pytest.raises(ValueError, match="every_epochs"):
            ResumableCheckpoint(directory, every_epochs=every, keep=keep)
