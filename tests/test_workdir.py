"""Work directories on any tf.io.gfile filesystem (here the in-memory `ram://`), atomic
checkpoints, and chief-only writing."""

import importlib.util
import os
import uuid

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf import workdir as wd
from simclr_tf.callbacks.checkpoint import MARKER_FILE, WEIGHTS_FILE, ResumableCheckpoint
from test_quiet_output import CHATTER, absl_records  # noqa: F401 (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config():
    spec = importlib.util.spec_from_file_location("demo_config", os.path.join(ROOT, "tf_configs", "demo.py"))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    config = demo.get_config()
    config.image_size = 16
    config.batch_size = 32
    config.num_train_examples = 64
    config.epochs = 2
    config.model.width_multiplier = 0.125
    config.knn_every_epochs = 0
    config.log_images = False
    config.eval.compare_baselines = False
    config.export = True
    return config


def ram_dir():
    return f"ram://simclr_tf_test_{uuid.uuid4().hex[:8]}"


def test_pretrain_on_ram_filesystem_then_resume(absl_records):
    """A whole run with its work directory on `ram://` (no local file), then a resume there.
    Its export logs TensorFlow's info chatter, which the command's default filter hides."""
    from simclr_tf.evaluation.pretrained import load_pretrained
    from simclr_tf.train import _OwnInfoOnly, pretrain

    workdir = ram_dir()
    config = tiny_config()
    model, _ = pretrain(config, workdir)
    chatter = [r for r in absl_records if any(c in r.getMessage() for c in CHATTER)]
    assert {c for c in CHATTER for r in chatter if c in r.getMessage()} == set(CHATTER)
    assert not [r for r in chatter if _OwnInfoOnly().filter(r)]
    ckpts = wd.join(workdir, "checkpoints")
    assert sorted(tf.io.gfile.listdir(ckpts)) == ["ckpt-000001", "ckpt-000002"]
    assert sorted(tf.io.gfile.listdir(wd.join(ckpts, "ckpt-000002"))) == sorted([MARKER_FILE, WEIGHTS_FILE])
    assert wd.read_json(wd.join(ckpts, "ckpt-000002", MARKER_FILE))["step"] == 4
    assert wd.read_json(wd.join(workdir, "config.json"))["derived"]["steps_per_epoch"] == 2
    with tf.io.gfile.GFile(wd.join(workdir, "history.csv")) as f:
        assert [line.split(",")[0] for line in f.read().split()[1:]] == ["0", "1"]
    assert tf.io.gfile.glob(wd.join(workdir, "tensorboard", "train", "events.out.tfevents.*"))
    assert tf.io.gfile.exists(wd.join(workdir, "export", "encoder", "1", "saved_model.pb"))
    # The evaluation modes read the run back from the same filesystem.
    loaded = load_pretrained(workdir)
    for a, b in zip(model.encoder.weights, loaded.encoder.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    config.epochs = 3  # the same command with one more epoch: resumes at epoch 2, step 4
    config.export = False
    pretrain(config, workdir)
    assert wd.read_json(wd.join(ckpts, "ckpt-000003", MARKER_FILE))["step"] == 6
    with tf.io.gfile.GFile(wd.join(workdir, "history.csv")) as f:
        assert [line.split(",")[0] for line in f.read().split()[1:]] == ["0", "1", "2"]


def test_incomplete_checkpoint_is_never_restored(tmp_path):
    """A folder without its marker (a kill mid-write, or an object store's partial copy) is
    skipped, and removed by the next save; the marker is what makes a checkpoint count."""
    directory = ram_dir()
    callback = ResumableCheckpoint(directory, keep=5)
    for epoch in (1, 2):
        path = wd.join(directory, f"ckpt-{epoch:06d}")
        wd.makedirs(path)
        with tf.io.gfile.GFile(wd.join(path, WEIGHTS_FILE), "w") as f:
            f.write("torn")
    wd.write_json(wd.join(directory, "ckpt-000001", MARKER_FILE), {"epoch": 1})
    assert callback.checkpoints() == [(1, wd.join(directory, "ckpt-000001"))]
    assert callback.latest_epoch() == 1
    callback._prune(epoch=3)
    assert sorted(tf.io.gfile.listdir(directory)) == ["ckpt-000001"]


class _Extended:
    def __init__(self, chief):
        self.should_checkpoint = chief


class _Strategy:
    """What `workdir.is_chief` reads of a `tf.distribute` strategy."""

    def __init__(self, chief):
        self.extended = _Extended(chief)


@pytest.mark.parametrize("chief", [True, False])
def test_only_the_chief_writes_checkpoints(chief):
    """Every worker runs the same save; only the chief's lands in the shared directory, and
    every worker restores from it (the multi-worker run itself: test_multiworker.py)."""
    from helpers.tiny import images_and_labels, tiny_model

    images, _ = images_and_labels(8)
    directory = ram_dir()
    model = tiny_model()
    model.build(images.shape)
    model._distribute_strategy = _Strategy(chief)
    callback = ResumableCheckpoint(directory)
    callback.set_model(model)
    with wd.chief_path(directory, model._distribute_strategy) as written:
        assert (written == directory) == chief
    callback.save(1)
    assert callback.latest_epoch() == (1 if chief else 0)
    if not chief:
        assert not tf.io.gfile.exists(written)  # a worker's scratch folder is gone


def test_epoch_order_depends_on_seed_and_epoch_only():
    """The stream from epoch 2 on equals epochs 2.. of the stream from epoch 0 (what makes a
    resumed run see an uninterrupted run's batches); another seed gives another order."""
    from simclr_tf import data

    source = data.get_source("embedded_fashion_mnist", "test", labeled=True)
    stream = lambda first, seed=0: data.epochs(source, 50, 3, first_epoch=first, seed=seed)  # noqa: E731
    labels = lambda ds, n: np.stack([y.numpy() for _, y in ds.take(n)])  # noqa: E731
    whole = labels(stream(0), 12)
    np.testing.assert_array_equal(labels(stream(2), 6), whole[6:])
    assert not np.array_equal(whole[:3], whole[3:6])  # each epoch its own shuffle
    assert not np.array_equal(labels(stream(0, seed=1), 3), whole[:3])
