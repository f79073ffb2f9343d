"""`get_dataset` / `load_arrays`: one entry point over the embedded set, folders and tfds."""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from simclr_tf.data import (
    EMBEDDED_NAME,
    KNOWN_TFDS,
    get_dataset,
    load_arrays,
    load_embedded_arrays,
)


def _folder(root, values):
    for cls, value in values.items():
        for i in range(3):
            path = os.path.join(root, cls, f"{i}.png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tf.io.write_file(path, tf.io.encode_png(np.full((10 + i, 12, 3), value, np.uint8)))


def test_dispatch_embedded():
    ds, info = get_dataset(EMBEDDED_NAME, "test", 100, shuffle=False, with_info=True)
    images, labels = next(iter(ds))
    ref_images, ref_labels = load_embedded_arrays("test")
    np.testing.assert_array_equal(images, ref_images[:100])
    np.testing.assert_array_equal(labels, ref_labels[:100])
    assert info.num_examples == 2000 and info.num_classes == 10


def test_dispatch_folder_split_sub_folder(tmp_path, caplog):
    _folder(tmp_path / "train", {"cat": 30, "dog": 220})
    _folder(tmp_path / "test", {"cat": 30, "dog": 220, "eel": 120})
    ds, info = get_dataset(f"dir:{tmp_path}", "test", 9, 8, shuffle=False, with_info=True)
    images, labels = next(iter(ds))
    # Images of several sizes: native resolution in a canvas (19 = 16/7 of 8, rounded up).
    assert info.class_names == ("cat", "dog", "eel") and images["image"].shape == (9, 19, 19, 3)
    np.testing.assert_array_equal(images["image_size"], [[10, 12], [11, 12], [12, 12]] * 3)
    for canvas, (h, w), value in zip(images["image"].numpy(), images["image_size"].numpy(),
                                     np.repeat([30, 220, 120], 3)):
        assert np.all(canvas[:h, :w] == value) and canvas[h:].max() == 0 and canvas[:, w:].max() == 0
    np.testing.assert_array_equal(labels, np.repeat([0, 1, 2], 3))
    # No `validation` sub-folder: the folder itself, whose classes are then `test` and `train`.
    from absl import logging as absl_logging

    # absl's own level: a test that parsed and unparsed the absl flags leaves it at WARNING.
    absl_logging.set_verbosity(absl_logging.INFO)
    with caplog.at_level(logging.INFO):
        _, info = get_dataset(f"dir:{tmp_path}", "validation", 2, 8, with_info=True)
    assert info.class_names == ("test", "train") and "has no 'validation' sub-folder" in caplog.text


def test_dispatch_tfds_under_mock():
    with tfds.testing.mock_data(num_examples=4):
        images = next(iter(get_dataset("cifar100", "train", 4, 32, labeled=False)))
    assert images.shape == (4, 32, 32, 3) and images.dtype == tf.uint8


@pytest.mark.parametrize("name", ["cifar11", "dir:", ""])
def test_unknown_name_lists_what_exists(name):
    with pytest.raises(ValueError) as error:
        get_dataset(name, "train", 4, 32)
    message = str(error.value)
    assert f"Received: name={name!r}" in message and EMBEDDED_NAME in message and "dir:" in message
    assert all(known in message for known in KNOWN_TFDS)
    if name == "cifar11":
        assert "Closest tfds names: " in message and "cifar10" in message.split("Closest")[1]


def test_load_arrays(tmp_path):
    images, labels = load_arrays(EMBEDDED_NAME, "test", max_examples=50)
    ref_images, ref_labels = load_embedded_arrays("test")
    np.testing.assert_array_equal(images, ref_images[:50])
    np.testing.assert_array_equal(labels, ref_labels[:50])
    big, big_labels = load_arrays(EMBEDDED_NAME, "test", image_size=32, max_examples=300)
    assert big.shape == (300, 32, 32, 1) and big.dtype == np.uint8
    np.testing.assert_array_equal(big_labels, ref_labels[:300])
    # Resizing preserves the picture: the mean brightness per image barely moves.
    np.testing.assert_allclose(big.mean((1, 2, 3)), ref_images[:300].mean((1, 2, 3)), atol=4)
    _folder(tmp_path, {"a": 10, "b": 250})
    images, labels = load_arrays(f"dir:{tmp_path}", "train", 6, canvas_size=0)
    assert images.shape == (6, 6, 6, 3) and list(labels) == [0, 0, 0, 1, 1, 1]
    # By default images of several sizes stay native, as a canvas dict (14 = 16/7 of 6, up).
    images, _ = load_arrays(f"dir:{tmp_path}", "train", 6)
    assert images["image"].shape == (6, 14, 14, 3)
    np.testing.assert_array_equal(images["image_size"], [[10, 12], [11, 12], [12, 12]] * 2)
