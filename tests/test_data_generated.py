"""The package's generated colour datasets (`colour_shapes`, `tinted_fashion_mnist`): sizes,
determinism, the pipeline, and the property the studies need: colour says (almost) nothing about
the class, while the object is there to be learned."""

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf import data
from simclr_tf.data.embedded import load_embedded_arrays
from simclr_tf.data.shapes import load_shapes_arrays
from simclr_tf.data.tinted import TINTED_NAME, load_tinted_arrays


def test_tinted_fashion_mnist_splits_are_deterministic_and_balanced():
    images, labels = load_tinted_arrays("train")
    assert images.shape == (10_000, 28, 28, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int32 and np.bincount(labels).tolist() == [1000] * 10
    again, _ = load_tinted_arrays("train")
    np.testing.assert_array_equal(images, again)
    images[0] = 0  # callers get copies
    assert load_tinted_arrays("train")[0][0].any()
    test_images, test_labels = load_tinted_arrays("test")
    assert test_images.shape == (2_000, 28, 28, 3) and np.bincount(test_labels).tolist() == [200] * 10
    with pytest.raises(ValueError, match="split='validation'"):
        load_tinted_arrays("validation")


def test_tinted_images_keep_the_garment_and_its_labels():
    """Each image is its Fashion-MNIST garment, blended between two colours: the colour image is
    an affine function of the grey garment per image (up to the background gradient and noise),
    so the garment's grey level correlates strongly with the image's projection on fg - bg."""
    tinted, labels = load_tinted_arrays("test")
    grey, grey_labels = load_embedded_arrays("test")
    np.testing.assert_array_equal(labels, grey_labels)
    correlations = []
    for image, garment in zip(tinted[:200].astype(np.float64), grey[:200, ..., 0].astype(np.float64)):
        # The direction from the background colour to the garment colour, fitted per image.
        inside, outside = image[garment > 200].mean(0), image[garment < 20].mean(0)
        projection = image @ (inside - outside)
        correlations.append(np.corrcoef(projection.ravel(), garment.ravel())[0, 1])
    assert np.median(correlations) > 0.9, np.median(correlations)


@pytest.mark.parametrize("load", [load_tinted_arrays, load_shapes_arrays])
def test_colour_carries_little_class_information(load):
    """Per image, the mean colour: the classes' average mean colours differ far less than the
    images of one class do (the colours are drawn independently of the class)."""
    images, labels = load("train")
    colour = images.reshape(len(images), -1, 3).mean(1) / 255.0
    class_means = np.stack([colour[labels == k].mean(0) for k in range(10)])
    within = np.mean([colour[labels == k].std(0) for k in range(10)])
    assert class_means.std(0).max() < 0.15 * within, (class_means.std(0), within)


def test_tinted_pipeline_and_channels():
    ds, info = data.get_dataset(TINTED_NAME, "test", 64, shuffle=False, with_info=True)
    images, labels = next(iter(ds))
    assert images.shape == (64, 28, 28, 3) and images.dtype == tf.uint8
    assert info.num_examples == 2000 and info.num_classes == 10 and info.class_names[0] == "T-shirt/top"
    expected, expected_labels = load_tinted_arrays("test")
    np.testing.assert_array_equal(images.numpy(), expected[:64])
    np.testing.assert_array_equal(labels.numpy(), expected_labels[:64])
    grey = next(iter(data.get_dataset(TINTED_NAME, "test", 8, 32, channels=1, shuffle=False)))[0]
    assert grey.shape == (8, 32, 32, 1)
    x, y = data.load_arrays(TINTED_NAME, "train", max_examples=5)
    assert x.shape == (5, 28, 28, 3) and y.shape == (5,)
