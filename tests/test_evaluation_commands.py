"""The training command's linear_eval, finetune and distill modes end to end, from a tiny
pretraining run (conftest's session fixture `pretrain_workdir`)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers.tiny import ROOT, tiny_config

from simclr_tf.data import load_arrays
from simclr_tf.models.classifier import Classifier
from simclr_tf.evaluation.modes import run_mode
from simclr_tf.evaluation.pretrained import load_pretrained


def test_linear_eval_command_end_to_end(pretrain_workdir, tmp_path):
    """`python -m simclr_tf.train --config.mode=linear_eval` from a pretraining work directory."""
    workdir = str(tmp_path / "linear")
    command = [
        sys.executable,
        "-m",
        "simclr_tf.train",
        "--config=tf_configs/demo.py",
        f"--workdir={workdir}",
        "--config.mode=linear_eval",
        f"--config.eval.checkpoint={pretrain_workdir}",
        "--config.eval.epochs=10",
        # 1,000 of the 10,000 training labels (stratified): the command's path is the same, and
        # the features to extract a tenth.
        "--config.eval.label_fraction=0.1",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
    assert results["mode"] == "linear_eval" and results["num_examples"] == 2000
    assert results["num_train_examples"] == 1000 and results["label_fraction"] == 0.1
    assert results["top1"] > 0.4 and results["knn_top1"] > 0.4  # measured 0.63 and 0.51
    assert results["top5"] >= results["top1"]


# three runs; the default suite runs finetune mode in test_evaluation_modes.py and distillation in
# test_evaluation_distill.py
@pytest.mark.large
def test_finetune_then_distill_modes(pretrain_workdir, tmp_path):
    finetune = str(tmp_path / "finetune")
    config = tiny_config(
        checkpoint=pretrain_workdir,
        label_fraction=0.1,
        from_projection_layer=1,
        optimizer="lars",
        base_learning_rate=0.05,
        learning_rate_scaling="sqrt",
        epochs=3,
        batch_size=64,
    )
    config.mode = "finetune"
    results = run_mode(config, finetune)
    with open(os.path.join(finetune, "results.json")) as f:
        assert json.load(f) == pytest.approx(results)
    assert results["num_examples"] == 2000
    assert results["top1"] > 0.2  # measured 0.40 on 1,000 labels
    classifier = keras.saving.load_model(os.path.join(finetune, "classifier.keras"))
    assert isinstance(classifier, Classifier)
    assert [type(layer).__name__ for layer in classifier.projection.layers] == [
        "Dense",
        "BatchNormalization",
        "ReLU",
    ]
    assert isinstance(load_pretrained(finetune), Classifier)  # a finetune run is a teacher

    distill = str(tmp_path / "distill")
    config = tiny_config(epochs=2, batch_size=64)
    config.mode = "distill"
    config.model.width_multiplier = 0.0625  # a smaller student, trained from scratch
    config.distill.teacher = finetune
    results = run_mode(config, distill)
    assert results["teacher_top1"] == pytest.approx(classifier_top1(finetune))
    assert results["num_examples"] == 2000
    # The scores against the saved student's and teacher's own predictions on the test split.
    student = keras.saving.load_model(os.path.join(distill, "classifier.keras"))
    x, y = load_arrays("embedded_fashion_mnist", "test", image_size=16)
    s = np.argmax(student.predict(x, batch_size=500, verbose=0), axis=1)
    t = np.argmax(classifier.predict(x, batch_size=500, verbose=0), axis=1)
    assert results["agreement"] == pytest.approx(np.mean(s == t), abs=1e-6)
    assert results["top1"] == pytest.approx(np.mean(s == y), abs=1e-6)
    assert results["teacher_top1"] == pytest.approx(np.mean(t == y), abs=1e-6)


def classifier_top1(workdir):
    with open(os.path.join(workdir, "results.json")) as f:
        return json.load(f)["top1"]
