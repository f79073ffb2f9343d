"""tfds datasets: real tfds files (a tiny builder prepared offline in a temporary folder) for
sharding and sizes, and `tfds.testing.mock_data` for the real feature specs of cifar10,
imagenet2012 and stl10. Nothing is downloaded."""

import functools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from simclr_tf.data import MissingLabelsError, load_tfds

# These tests check the square host path (canvas_size=0); the canvas path (images at native
# resolution, the default for images of several sizes) is checked in test_data_canvas.py.
load_tfds = functools.partial(load_tfds, canvas_size=0)

NUM_TRAIN = 20


class SimclrTfTestImages(tfds.core.GeneratorBasedBuilder):
    """Example i is a uniform image of value i (random size), label i % 3; the `extra` split's
    labels are -1, as in stl10's unlabelled split."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(names=["x", "y", "z"]),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, NUM_TRAIN),
                "extra": self._generate_examples(100, 6)}

    def _generate_examples(self, start, n):
        rng = np.random.default_rng(start)
        for i in range(start, start + n):
            h, w = rng.integers(6, 30, 2)
            label = i % 3 if start == 0 else -1
            yield i, {"image": np.full((h, w, 3), i, np.uint8), "label": label}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tfds"))
    SimclrTfTestImages(data_dir=path).download_and_prepare()
    return path


def _values(ds):
    """The id (pixel value) and label of every example, batch after batch."""
    ids, labels = [], []
    for x, y in ds:
        ids += list(x.numpy()[:, 0, 0, 0])
        labels += list(y.numpy())
    return ids, labels


def test_real_files_sizes_labels_and_order(data_dir):
    ds, info = load_tfds("simclr_tf_test_images", "train", 4, 8, data_dir=data_dir, shuffle=False,
                         with_info=True)
    assert info.num_examples == NUM_TRAIN and info.num_classes == 3
    assert info.class_names == ("x", "y", "z") and info.image_shape == (8, 8, 3)
    images, _ = next(iter(ds))
    assert images.shape == (4, 8, 8, 3) and images.dtype == tf.uint8
    assert (images.numpy() == images.numpy()[:, :1, :1]).all()  # uniform images stay uniform
    ids, labels = _values(ds)
    assert sorted(ids) == list(range(NUM_TRAIN)) and labels == [i % 3 for i in ids]
    first = _values(load_tfds("simclr_tf_test_images", "train", 4, 8, data_dir=data_dir, seed=5))
    again = _values(load_tfds("simclr_tf_test_images", "train", 4, 8, data_dir=data_dir, seed=5))
    assert first == again and first[0] != ids and sorted(first[0]) == sorted(ids)


def test_input_context_reads_disjoint_halves(data_dir):
    halves = []
    for i in range(2):
        context = tf.distribute.InputContext(2, i, 2)
        ds = load_tfds("simclr_tf_test_images", "train", 10, 8, data_dir=data_dir, seed=i,
                       input_context=context)
        assert next(iter(ds))[0].shape == (5, 8, 8, 3)  # per-replica batch of the global 10
        halves.append(_values(ds)[0])
    assert len(halves[0]) == len(halves[1]) == NUM_TRAIN // 2
    assert not set(halves[0]) & set(halves[1])
    assert sorted(halves[0] + halves[1]) == list(range(NUM_TRAIN))
    # 20 over 3 pipelines: 6 each (2 left out), so all pipelines yield the same number of batches.
    thirds = [_values(load_tfds("simclr_tf_test_images", "train", 3, 8, data_dir=data_dir,
                                input_context=tf.distribute.InputContext(3, i, 3)))[0]
              for i in range(3)]
    assert [len(t) for t in thirds] == [6, 6, 6] and len(set(sum(thirds, []))) == 18


def test_real_files_bad_input(data_dir):
    kwargs = dict(data_dir=data_dir)
    with pytest.raises(ValueError, match="20 examples.*Received: batch_size=21"):
        load_tfds("simclr_tf_test_images", "train", 21, 8, **kwargs)
    with pytest.raises(ValueError, match="input pipeline 1 of 2.*10 examples.*batch_size=12"):
        load_tfds("simclr_tf_test_images", "train", 24, 8,
                  input_context=tf.distribute.InputContext(2, 1, 2), **kwargs)
    match = r"one of \['train', 'extra'\].*Received: split='validation'"
    with pytest.raises(ValueError, match=match):
        load_tfds("simclr_tf_test_images", "validation", 2, 8, **kwargs)
    with pytest.raises(ValueError, match="`image_size` is required"):
        load_tfds("simclr_tf_test_images", "train", 2, None, **kwargs)
    # Unlabelled examples (-1) where labels are needed: a clear error when iterating.
    with pytest.raises(tf.errors.InvalidArgumentError, match="unlabelled example"):
        list(load_tfds("simclr_tf_test_images", "extra", 2, 8, **kwargs))
    images = next(iter(load_tfds("simclr_tf_test_images", "extra", 2, 8, labeled=False, **kwargs)))
    assert images.shape == (2, 8, 8, 3)


def test_mock_cifar10_native_and_resized():
    with tfds.testing.mock_data(num_examples=12):
        ds, info = load_tfds("cifar10", "train", 4, with_info=True)
        images, labels = next(iter(ds))
        small = next(iter(load_tfds("cifar10", "test", 4, 16, labeled=False)))
    assert images.shape == (4, 32, 32, 3) and images.dtype == tf.uint8
    assert labels.dtype == tf.int32 and labels.numpy().min() >= 0 and labels.numpy().max() < 10
    assert info.num_classes == 10 and info.image_shape == (32, 32, 3)
    assert info.num_examples is None  # mock_data has no split metadata
    assert small.shape == (4, 16, 16, 3)


@pytest.mark.parametrize("name", ["imagenet2012", "imagenet2012_subset/1pct"])
def test_mock_imagenet_random_sizes_to_fixed_size(name):
    with tfds.testing.mock_data(num_examples=8):
        ds, info = load_tfds(name, "train", 4, 24, with_info=True)
        batches = list(ds)
    assert [b[0].shape for b in batches] == [(4, 24, 24, 3)] * 2
    assert info.num_classes == 1000 and info.image_shape == (24, 24, 3)


def test_mock_stl10_unlabelled_split():
    with tfds.testing.mock_data(num_examples=8):
        images = next(iter(load_tfds("stl10", "train+unlabelled", 4, 32, labeled=False)))
        with pytest.raises(MissingLabelsError, match="Labels are needed.*'unlabelled'.*labeled=False"):
            load_tfds("stl10", "unlabelled", 4, 32)
    assert images.shape == (4, 32, 32, 3) and images.dtype == tf.uint8


def test_pretraining_on_an_unlabelled_tfds_split_turns_the_probe_off():
    """The training command reads stl10's unlabelled examples as it reads a flat folder: the
    probe (on by default) goes off and says why, instead of the run failing."""
    from simclr_tf import builders
    from simclr_tf.config import default_config

    config = default_config()
    config.dataset, config.train_split, config.image_size = "stl10", "train+unlabelled", 32
    with tfds.testing.mock_data(num_examples=8):
        source, probe = builders.build_training_source(config)
    assert probe == "off (the data has no labels: split 'train+unlabelled' is unlabelled)"
    assert source.info.image_shape[:2] == (32, 32)


def test_mock_fashion_mnist_channels():
    with tfds.testing.mock_data(num_examples=4):
        gray, _ = next(iter(load_tfds("fashion_mnist", "train", 4)))
        rgb, _ = next(iter(load_tfds("fashion_mnist", "train", 4, channels=3, shuffle=False)))
    assert gray.shape == (4, 28, 28, 1) and rgb.shape == (4, 28, 28, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 1])


def test_combined_split_sharded_unlabelled(data_dir):
    """`train+extra` (26 examples) over 2 pipelines: 13 each, disjoint, all of them."""
    shards = []
    for i in range(2):
        ds, info = load_tfds("simclr_tf_test_images", "train+extra", 2, 8, labeled=False,
                             data_dir=data_dir, input_context=tf.distribute.InputContext(2, i, 2),
                             with_info=True)
        shards.append([int(v) for x in ds for v in x.numpy()[:, 0, 0, 0]])
    assert info.num_examples == 26 and [len(s) for s in shards] == [13, 13]
    assert sorted(shards[0] + shards[1]) == list(range(NUM_TRAIN)) + list(range(100, 106))


def test_not_prepared_is_an_error_and_nothing_is_downloaded(tmp_path):
    empty = str(tmp_path)
    match = r"cifar10 is not prepared.*cifar10/3.0.2.*`tfds build cifar10 --data_dir="
    with pytest.raises(ValueError, match=match):
        load_tfds("cifar10", "train", 4, data_dir=empty)
    with pytest.raises(ValueError, match="imagenet2012 needs a manual download.*--manual_dir"):
        load_tfds("imagenet2012", "train", 4, 32, data_dir=empty)
    assert not any(tmp_path.rglob("*.tfrecord*"))


def test_names_and_labels_checked_before_reading():
    with pytest.raises(ValueError, match=r"Unknown dataset name 'cifar11'.*Closest.*cifar10"):
        load_tfds("cifar11", "train", 4)
    with pytest.raises(ValueError, match=r"names no tfds dataset.*2pct.*name='imagenet2012_sub"):
        load_tfds("imagenet2012_subset/2pct", "train", 4, 32)
    # lsun has images but no labels: an error with labels, fine without.
    with pytest.raises(ValueError, match="has no label feature 'label'.*labeled=False"):
        load_tfds("lsun/classroom", "train", 4, 32)
    with tfds.testing.mock_data(num_examples=4):
        images = next(iter(load_tfds("lsun/classroom", "train", 4, 32, labeled=False)))
    assert images.shape == (4, 32, 32, 3)
