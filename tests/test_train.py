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

from helpers.tiny import small_encoder
from simclr_tf.callbacks.checkpoint import ResumableCheckpoint
from simclr_tf.config import default_config, resolve
from simclr_tf.models.projection_head import ProjectionHead
from simclr_tf.models.simclr import SimCLR
from simclr_tf.train import check_overrides
from simclr_tf.workdir import prepare_workdir

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


def complete_checkpoints(workdir):
    folder = os.path.join(workdir, "checkpoints")
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    return [n for n in names if os.path.exists(os.path.join(folder, n, "state.json"))]


def checkpoint_arrays(workdir, epoch):
    """Every array of a checkpoint's weights file (model, optimiser slots and iterations, the
    augmentation layers' seed state), by its path in the file."""
    import h5py

    arrays = {}
    path = os.path.join(workdir, "checkpoints", f"ckpt-{epoch:06d}", "model.weights.h5")
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def history(workdir):
    with open(os.path.join(workdir, "history.csv")) as f:
        return list(csv.DictReader(f))


# two processes; the default suite resumes in-process
# (test_checkpoint_keeps_last_n_and_restores_everything, test_workdir.py's ram:// resume)
@pytest.mark.large
def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(tmp_path):
    """Kill the process hard in its second epoch (after its first checkpoint), restart: the run
    ends with the same weights, optimiser state and seed state as an uninterrupted run of the
    same seed, and its epoch counter, step counter and learning rate continue."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    extra = ["--config.epochs=2"]
    reference = str(tmp_path / "reference")
    done = subprocess.run(train_command(reference, *extra), cwd=ROOT, env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-3000:]

    workdir = str(tmp_path / "run")
    first = subprocess.Popen(train_command(workdir, *extra), cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not complete_checkpoints(workdir) and time.time() < deadline and first.poll() is None:
        time.sleep(0.02)
    at_kill = complete_checkpoints(workdir)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL, first.stderr.read().decode()[-3000:]
    # It died in epoch 2 of 2: epoch 1's checkpoint was there, epoch 2's never completed.
    assert at_kill == ["ckpt-000001"]
    assert complete_checkpoints(workdir) == ["ckpt-000001"]
    assert read_state(workdir, 1)["step"] == 10  # 320 examples / batch 32
    assert [r["epoch"] for r in history(workdir)] == ["0"]

    second = subprocess.run(train_command(workdir, *extra), cwd=ROOT, env=env, capture_output=True, timeout=600)
    assert second.returncode == 0, second.stderr.decode()[-3000:]
    assert read_state(workdir, 2)["step"] == 20  # the counter continued from 10, not from 0
    # Epoch 2 was logged once, as epoch index 1 (not a restarted 0), at the learning rate of
    # the uninterrupted run (warmup over, cosine decay), not the first epoch's.
    got, want = history(workdir), history(reference)
    assert [r["epoch"] for r in got] == ["0", "1"] == [r["epoch"] for r in want]
    for key in ("learning_rate", "contrast_loss"):
        np.testing.assert_allclose(
            [float(r[key]) for r in got], [float(r[key]) for r in want], rtol=1e-5, err_msg=key
        )
    assert float(got[1]["learning_rate"]) != pytest.approx(float(got[0]["learning_rate"]))
    resumed, uninterrupted = checkpoint_arrays(workdir, 2), checkpoint_arrays(reference, 2)
    assert sorted(resumed) == sorted(uninterrupted)
    assert any("optimizer" in name for name in resumed) and any("seed" in name for name in resumed)
    for name, value in uninterrupted.items():
        np.testing.assert_allclose(resumed[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    with open(os.path.join(workdir, "config.json")) as f:
        saved = json.load(f)
    derived, base = saved["derived"], saved["config"]["optimizer"]["base_learning_rate"]
    # The demo config's base rate, scaled linearly to this test's batch of 32.
    assert derived["steps_per_epoch"] == 10 and derived["learning_rate"] == pytest.approx(base * 32 / 256)


def small_pretrainer():
    """The config's seeded augmentation (a restore must bring its state back) on the two-conv
    encoder: the checkpoint's mechanics, not the ResNet's (test_resnet.py saves that)."""
    from simclr_tf.builders import build_augment

    config = default_config()
    config.image_size = 16
    return SimCLR(
        encoder=small_encoder(16),
        projection_head=ProjectionHead(num_layers=2, output_dim=16),
        augment=build_augment(config),
    )


def test_checkpoint_keeps_last_n_and_restores_everything(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (32, 16, 16, 3), dtype=np.uint8)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(8, drop_remainder=True)
    directory = str(tmp_path / "ckpt")
    model = small_pretrainer()
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(ds, epochs=3, verbose=0, callbacks=[ResumableCheckpoint(directory, keep=2)])
    assert sorted(os.listdir(directory)) == ["ckpt-000002", "ckpt-000003"]

    restored = small_pretrainer()
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
    # The reference's counts: 5120 * 10 // 512 + 1 steps, 1 * 5120 // 512 of warmup.
    assert derived["steps_per_epoch"] == 10 and derived["total_steps"] == 101 and derived["warmup_steps"] == 10
    config.optimizer.learning_rate_scaling = "sqrt"
    assert resolve(config, 5120)["learning_rate"] == pytest.approx(0.3 * 512 ** 0.5)
    with pytest.raises(ValueError, match="larger than the training set"):
        resolve(config, num_train_examples=100)
