"""The embedded Fashion-MNIST subset: the shipped file, its arrays and its pipeline."""

import importlib.util
import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.data import (
    EMBEDDED_CLASS_NAMES,
    embedded_meta,
    load_embedded,
    load_embedded_arrays,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _build_script():
    spec = importlib.util.spec_from_file_location(
        "build_embedded_dataset", os.path.join(ROOT, "scripts", "build_embedded_dataset.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("split,per_class", [("train", 1000), ("test", 200)])
def test_arrays_are_stratified(split, per_class):
    images, labels = load_embedded_arrays(split)
    assert images.shape == (10 * per_class, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (10 * per_class,) and labels.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [per_class] * 10)
    # Real pictures, not blank: every class has its own mean image (mean |difference| per pixel).
    means = np.stack([images[labels == c].mean(0) for c in range(10)]).reshape(10, -1)
    distance = np.abs(means[:, None] - means[None]).mean(-1)
    assert images.std() > 50 and distance[~np.eye(10, dtype=bool)].min() > 5


def test_arrays_are_deterministic_copies():
    a, la = load_embedded_arrays("test")
    a[:] = 0  # the caller's copy; the next call is untouched
    b, lb = load_embedded_arrays("test")
    np.testing.assert_array_equal(la, lb)
    assert b.max() == 255


def test_meta_and_file_size():
    meta = embedded_meta()
    assert tuple(meta["class_names"]) == EMBEDDED_CLASS_NAMES
    assert meta["license"] == "MIT" and "Zalando" in meta["license_text"]
    assert meta["selection"]["seed"] == 0
    path = os.path.join(ROOT, "simclr_tf", "data", "fashion_mnist_subset.npz")
    assert os.path.getsize(path) < 10 * 2**20
    with np.load(path) as f:
        for split in ("train", "test"):
            index = f[f"{split}_source_index"]
            assert np.all(np.diff(index) > 0)  # sorted, unique: the original order


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_build_script_on_synthetic_idx(tmp_path):
    """The selection procedure, on fake IDX files: per-class counts, seed-determinism, and the
    recorded source indices point at the right originals."""
    script = _build_script()
    rng = np.random.default_rng(0)
    for prefix, n in [("train", 300), ("t10k", 120)]:
        labels = np.arange(n) % 10
        images = rng.integers(0, 256, (n, 28, 28))
        images[:, 0, 0] = np.arange(n) % 256  # a fingerprint of the index
        _write_idx(str(tmp_path / f"{prefix}-images-idx3-ubyte.gz"), images)
        _write_idx(str(tmp_path / f"{prefix}-labels-idx1-ubyte.gz"), labels)
    arrays = script.build(str(tmp_path), seed=3, train_per_class=5, test_per_class=2)
    again = script.build(str(tmp_path), seed=3, train_per_class=5, test_per_class=2)
    other = script.build(str(tmp_path), seed=4, train_per_class=5, test_per_class=2)
    np.testing.assert_array_equal(arrays["train_source_index"], again["train_source_index"])
    assert not np.array_equal(arrays["train_source_index"], other["train_source_index"])
    np.testing.assert_array_equal(np.bincount(arrays["train_labels"]), [5] * 10)
    np.testing.assert_array_equal(np.bincount(arrays["test_labels"]), [2] * 10)
    index = arrays["train_source_index"]
    np.testing.assert_array_equal(arrays["train_images"][:, 0, 0, 0], index % 256)
    np.testing.assert_array_equal(arrays["train_labels"], index % 10)
    out = str(tmp_path / "subset.npz")
    script.write_atomically(out, arrays)
    with np.load(out) as f:
        np.testing.assert_array_equal(f["test_images"], arrays["test_images"])
    assert os.listdir(tmp_path).count("subset.npz.tmp") == 0


def test_build_script_rejects_bad_files(tmp_path):
    script = _build_script()
    path = str(tmp_path / "x.gz")
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 0x0D, 1]) + (3).to_bytes(4, "big") + b"abc")  # float payload
    with pytest.raises(ValueError, match="not a uint8 IDX"):
        script.read_idx(path)
    with pytest.raises(ValueError, match="fewer than 4"):
        script.stratified(np.arange(20) % 10, 4, seed=0)


def test_pipeline_shapes_and_order():
    ds = load_embedded("test", 64, shuffle=False)
    images, labels = next(iter(ds))
    ref_images, ref_labels = load_embedded_arrays("test")
    assert images.dtype == tf.uint8 and labels.dtype == tf.int32
    np.testing.assert_array_equal(images.numpy(), ref_images[:64])
    np.testing.assert_array_equal(labels.numpy(), ref_labels[:64])
    assert len(list(ds)) == 2000 // 64  # drop_remainder


def test_pipeline_seeded_shuffle_is_deterministic():
    first = [y.numpy() for _, y in load_embedded("test", 500, seed=7)]
    second = [y.numpy() for _, y in load_embedded("test", 500, seed=7)]
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(second))
    assert not np.array_equal(first[0], load_embedded_arrays("test")[1][:500])
    # A permutation within the epoch: each class still 200 times over the 4 full batches.
    np.testing.assert_array_equal(np.bincount(np.concatenate(first)), [200] * 10)


def test_resize_channels_and_unlabelled():
    ds, info = load_embedded("test", 8, 32, labeled=False, channels=3, with_info=True)
    images = next(iter(ds))
    assert images.shape == (8, 32, 32, 3) and images.dtype == tf.uint8
    np.testing.assert_array_equal(images[..., 0], images[..., 2])  # grayscale, tiled
    assert info.image_shape == (32, 32, 3) and info.num_examples == 2000 and info.num_classes == 10


def test_input_context_shards_disjoint_halves():
    images, labels = load_embedded_arrays("test")
    shards = []
    for i in range(2):
        context = tf.distribute.InputContext(2, i, 2)
        ds = load_embedded("test", 100, shuffle=False, input_context=context)
        batch = next(iter(ds))
        assert batch[0].shape == (50, 28, 28, 1)  # the per-replica batch of the global 100
        shards.append(np.concatenate([x.numpy() for x, _ in ds]))
    np.testing.assert_array_equal(shards[0], images[0:2000:2])
    np.testing.assert_array_equal(shards[1], images[1:2000:2])


def test_distribute_datasets_from_function(two_replicas):
    ds = two_replicas.distribute_datasets_from_function(
        lambda context: load_embedded("test", 16, shuffle=False, input_context=context))
    images, labels = next(iter(ds))
    parts = two_replicas.experimental_local_results(images)
    assert [p.shape[0] for p in parts] == [8, 8]


@pytest.mark.parametrize("kwargs,match", [
    (dict(split="validation", batch_size=8), "'train', 'test'.*Received: split='validation'"),
    (dict(split="test", batch_size=2001), "2000 examples.*Received: batch_size=2001"),
    (dict(split="test", batch_size=0), "batch_size.*>= 1. Received: batch_size=0"),
    (dict(split="test", batch_size=8, image_size=-3), "Received: image_size=-3"),
    (dict(split="test", batch_size=8, channels=2), "Received: channels=2"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_embedded(**kwargs)


def test_batch_larger_than_shard():
    context = tf.distribute.InputContext(2, 0, 2)
    with pytest.raises(ValueError, match="input pipeline 0 of 2.*1000 examples"):
        load_embedded("test", 2002, input_context=context)
