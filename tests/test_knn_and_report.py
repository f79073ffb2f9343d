"""kNN classification against numpy, the linear classifier, and the demo's end-to-end report."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from simclr_tf.protocols.knn import knn_accuracy, knn_classify
from simclr_tf.protocols.label_fractions import stratified_fraction
from simclr_tf.protocols.linear_eval import train_linear_classifier
from simclr_tf.evaluation.report import evaluate_features

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def numpy_knn(bank, labels, queries, num_classes, k, temperature):
    bank = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    out = []
    for q in queries:
        sims = bank @ q
        top = np.argsort(-sims, kind="stable")[:k]
        votes = np.zeros(num_classes)
        for i in top:
            votes[labels[i]] += np.exp(sims[i] / temperature)
        out.append(np.argmax(votes))
    return np.array(out)


def test_knn_matches_numpy(rng):
    bank = rng.normal(size=(300, 8)).astype(np.float32)
    labels = rng.integers(0, 5, 300)
    queries = rng.normal(size=(40, 8)).astype(np.float32)
    for k, t in [(1, 0.1), (20, 0.1), (200, 0.5)]:
        got = knn_classify(bank, labels, queries, 5, k=k, temperature=t, batch_size=16)
        np.testing.assert_array_equal(got, numpy_knn(bank, labels, queries, 5, k, t))


def test_knn_separates_clusters_and_checks_input(rng):
    centres = rng.normal(size=(3, 16)) * 5
    labels = np.repeat(np.arange(3), 50)
    bank = centres[labels] + rng.normal(size=(150, 16))
    queries = centres[labels[::5]] + rng.normal(size=(30, 16))
    assert knn_accuracy(bank, labels, queries, labels[::5], 3, k=10) > 0.95
    with pytest.raises(ValueError, match="same width"):
        knn_classify(bank, labels, queries[:, :4], 3)
    with pytest.raises(ValueError, match="non-empty"):
        knn_classify(bank[:0], labels[:0], queries, 3)


def test_linear_classifier_learns_separable_data(rng):
    w = rng.normal(size=(10, 4))
    x = rng.normal(size=(400, 10)).astype(np.float32)
    y = np.argmax(x @ w, axis=1)
    result = train_linear_classifier(x[:300], y[:300], x[300:], y[300:], 4, epochs=30, batch_size=64)
    assert result["top1"] > 0.85 and result["top5"] == 1.0


def test_report_low_label_columns_train_on_the_labelled_subset_only(rng):
    """The 10 % column's classifier sees only its stratified subset; 100 % and kNN see all.

    Four well-separated clusters. The training images of the 10 % subset (the seeded draw the
    report makes from the labels) sit in their class's cluster; every other training image sits
    in the next class's cluster. A classifier on the subset alone is right on the test set; one
    on all the labels, or kNN over all of them, learns the shift and is wrong.
    """
    centres = 6.0 * np.eye(4, 8)
    y = np.repeat(np.arange(4), 250)
    subset = stratified_fraction(y, 0.1, seed=3)
    cluster = (y + 1) % 4
    cluster[subset] = y[subset]
    x = (centres[cluster] + rng.normal(size=(1000, 8))).astype(np.float32)
    y_test = np.repeat(np.arange(4), 50)
    x_test = (centres[y_test] + rng.normal(size=(200, 8))).astype(np.float32)
    result = evaluate_features(x, y, x_test, y_test, 4, standardize=True, seed=3, epochs=5,
                               batch_size=64)
    assert set(result) >= {"top1", "top5", "top1_1pct", "top1_10pct", "knn_top1"}
    assert result["top1_10pct"] > 0.95, result
    assert result["top1"] < 0.1 and result["knn_top1"] < 0.1, result


def test_demo_command_writes_results_and_summaries(tmp_path):
    """The main job's path at a tiny size: results.json, curves, views, TensorBoard, export."""
    workdir = str(tmp_path / "demo")
    command = [
        sys.executable, "-m", "simclr_tf.train", "--config=tf_configs/demo.py", f"--workdir={workdir}",
        "--config.epochs=2", "--config.num_train_examples=256", "--config.batch_size=64",
        "--config.model.width_multiplier=0.125", "--config.knn_every_epochs=1",
        "--config.knn_num_examples=200", "--config.eval.epochs=10",
        "--config.eval.max_examples=1000",  # the report on 1,000 + 1,000 images, not 12,000
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert b"SimCLR encoder (pretrained)" in done.stdout
    with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
    assert results["linear_eval"]["train_examples"] == 1000
    assert results["linear_eval"]["test_examples"] == 1000
    # Each representation, frozen, separates Fashion-MNIST far above chance (0.1): features
    # or labels out of order, or an untrained head, fall to chance (measured top-1: SimCLR
    # 0.67, random init 0.43, raw pixels 0.78).
    for name in ("simclr", "random_init", "raw_pixels"):
        assert results[f"{name}_top1"] > 0.3, results
        assert results[f"{name}_top1"] < results[f"{name}_top5"] <= 1.0
        assert results[f"{name}_knn_top1"] > 0.3, results
        # 10 images of the 1,000 (one per class) train the 1 % column: above chance, below all.
        assert 0.15 < results[f"{name}_top1_1pct"] < results[f"{name}_top1"], results
    # The printed table is results.json's numbers.
    printed = " ".join(f"{100 * results[f'simclr_{k}']:7.2f}%" for k in (
        "top1_1pct", "top1_10pct", "top1", "top5", "knn_top1"))
    assert printed.encode() in done.stdout, done.stdout.decode()[-2000:]
    assert results["wall_time_s"] > results["pretrain_time_s"] > 0
    for name in ("training_curves.png", "views.png", "config.json", "history.csv"):
        assert os.path.getsize(os.path.join(workdir, name)) > 0, name
    assert os.path.exists(os.path.join(workdir, "export", "encoder", "1", "saved_model.pb"))

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    views = EventAccumulator(glob.glob(os.path.join(workdir, "tensorboard", "views"))[0]).Reload()
    assert "views" in views.Tags()["tensors"]
    train = EventAccumulator(os.path.join(workdir, "tensorboard", "train")).Reload()
    scalars = set(train.Tags()["tensors"]) | set(train.Tags()["scalars"])
    for tag in ("epoch_contrast_loss", "epoch_contrast_acc", "epoch_learning_rate", "epoch_knn_top1"):
        assert tag in scalars, sorted(scalars)
