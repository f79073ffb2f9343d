"""The training command: config overrides, resume after SIGKILL, atomic checkpoints."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.callbacks.checkpoint import ResumableCheckpoint
from simclr_tf.config import default_config, resolve
from simclr_tf.train import check_overrides, prepare_workdir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [
    "--config.epochs=3", "--config.batch_size=32", "--config.num_train_examples=320",
    "--config.model.width_multiplier=0.125", "--config.image_size=16", "--config.knn_every_epochs=0",
    "--config.eval.compare_baselines=False", "--config.export=False", "--config.log_images=False",
    "--config.checkpoint_every_epochs=1",
]


def train_command(workdir, *extra):
    return [sys.executable, "-m", "simclr_tf.train", "--config=tf_configs/demo.py", f"--workdir={workdir}", *TINY, *extra]


def read_state(workdir, epoch):
    with open(os.path.join(workdir, "checkpoints", f"ckpt-{epoch:06d}", "state.json")) as f:
        return json.load(f)


def test_sigkill_mid_run_then_resume(tmp_path):
    """Kill the process hard after its first checkpoint, restart: no completed epoch is lost,
    the step counter continues, and the restored weights are the checkpoint's."""
    workdir = str(tmp_path / "run")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    first = subprocess.Popen(train_command(workdir), cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt1 = os.path.join(workdir, "checkpoints", "ckpt-000001")
    deadline = time.time() + 240
    while not os.path.exists(ckpt1) and time.time() < deadline and first.poll() is None:
        time.sleep(0.2)
    assert os.path.exists(ckpt1), first.stderr.read().decode()[-3000:] if first.poll() is not None else "no checkpoint"
    first.send_signal(signal.SIGKILL)
    first.wait()
    saved = read_state(workdir, 1)
    assert saved["epoch"] == 1 and saved["step"] == 10  # 320 examples / batch 32
    ckpt_dir = os.path.join(workdir, "checkpoints")
    for name in os.listdir(ckpt_dir):  # a kill mid-write may leave a .tmp folder, never a torn ckpt
        if name.startswith("ckpt-"):
            assert sorted(os.listdir(os.path.join(ckpt_dir, name))) == ["model.weights.h5", "state.json"]

    second = subprocess.run(train_command(workdir), cwd=ROOT, env=env, capture_output=True, timeout=600)
    assert second.returncode == 0, second.stderr.decode()[-3000:]
    assert read_state(workdir, 3)["step"] == 30  # the counter continued from 10, not from 0
    with open(os.path.join(workdir, "history.csv")) as f:
        epochs = sorted({int(r["epoch"]) for r in csv.DictReader(f)})
    assert epochs == [0, 1, 2]
    with open(os.path.join(workdir, "config.json")) as f:
        derived = json.load(f)["derived"]
    assert derived["steps_per_epoch"] == 10 and derived["learning_rate"] == pytest.approx(1.0 * 32 / 256)


def tiny_model():
    from simclr_tf.builders import build_pretrainer

    config = default_config()
    config.image_size = 16
    config.model.depth = 18
    config.model.width_multiplier = 0.125
    config.model.cifar_stem = True
    return build_pretrainer(config, num_classes=None)


def test_checkpoint_keeps_last_n_and_restores_everything(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (32, 16, 16, 3), dtype=np.uint8)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(8, drop_remainder=True)
    directory = str(tmp_path / "ckpt")
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(ds, epochs=3, verbose=0, callbacks=[ResumableCheckpoint(directory, keep=2)])
    assert sorted(os.listdir(directory)) == ["ckpt-000002", "ckpt-000003"]

    restored = tiny_model()
    restored.build(images.shape)
    restored.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    callback = ResumableCheckpoint(directory, keep=2)
    history = restored.fit(ds, epochs=4, verbose=0, callbacks=[callback])
    assert callback.restored_epoch == 3
    assert len(history.history["loss"]) == 1  # only epoch 4 ran
    assert int(restored.optimizer.iterations.numpy()) == 16
    # Continue the original for one epoch: same weights, same optimiser slots, same views.
    model.fit(ds, epochs=1, verbose=0)
    for a, b in zip(model.weights, restored.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, err_msg=a.path)


def test_unknown_override_lists_valid_keys():
    with pytest.raises(SystemExit) as exc:
        check_overrides(["train", "--config.batchsize=8"])
    message = str(exc.value)
    assert "Unknown config key 'batchsize'" in message and "batch_size" in message
    check_overrides(["train", "--config.batch_size=8", "--config.model.depth=50"])


def test_unwritable_workdir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot be created or written"):
        prepare_workdir(str(blocker / "sub"))


def test_derived_values_follow_overrides():
    config = default_config()
    config.batch_size = 512
    config.optimizer.base_learning_rate = 0.3
    config.epochs = 10
    config.warmup_epochs = 1
    derived = resolve(config, num_train_examples=5120)
    assert derived["learning_rate"] == pytest.approx(0.6)
    assert derived["steps_per_epoch"] == 10 and derived["total_steps"] == 100 and derived["warmup_steps"] == 10
    config.optimizer.learning_rate_scaling = "sqrt"
    assert resolve(config, 5120)["learning_rate"] == pytest.approx(0.3 * 512 ** 0.5)
    with pytest.raises(ValueError, match="larger than the training set"):
        resolve(config, num_train_examples=100)
