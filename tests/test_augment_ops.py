"""The batched augmentation ops against TensorFlow's own image ops, one image at a time."""

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.augment import color_ops
from simclr_tf.augment import resize_ops
from simclr_tf.augment.color_distortion import RandomColorDistortion
from simclr_tf.augment.gaussian_blur import RandomGaussianBlur
from simclr_tf.augment.gaussian_blur import blur_radius
from simclr_tf.augment.gaussian_blur import gaussian_kernels
from simclr_tf.augment.gaussian_blur import separable_blur
from simclr_tf.augment.random_flip import flip_left_right

# (y, x, height, width) crops of a 30 x 40 image, resized up and down.
BOXES = [(3, 5, 20, 17), (0, 0, 30, 40), (7, 2, 9, 30), (29, 39, 1, 1)]


def _images(rng, batch, height, width):
    images = rng.random((batch, height, width, 3), dtype=np.float32)
    # Edge cases of the HSV maths: grey, black, white and tied channels.
    images[0, 0, :4] = [[0.5, 0.5, 0.5], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.7, 0.7, 0.2]]
    images[0, 1, :3] = [[0.2, 0.7, 0.7], [0.9, 0.1, 0.9], [1.0, 0.0, 0.0]]
    return images


@pytest.mark.parametrize("size", [12, 32])
def test_crop_and_resize_matches_tf_image(rng, size):
    images = rng.random((len(BOXES), 30, 40, 3), dtype=np.float32)
    boxes = tf.constant(BOXES, tf.float32)
    bilinear = resize_ops.crop_and_resize(images, boxes, size, "bilinear")
    bicubic = resize_ops.crop_and_resize(images, boxes, size, "bicubic")
    for b, (y, x, h, w) in enumerate(BOXES):
        crop = images[b : b + 1, y : y + h, x : x + w]
        expected = tf.image.resize(crop, (size, size), "bilinear")
        np.testing.assert_allclose(bilinear[b : b + 1], expected, atol=1e-5)
        # Exact Keys kernel, as ScaleAndTranslate; ResizeBicubic tabulates it (differs < 1e-3).
        expected = tf.raw_ops.ScaleAndTranslate(
            images=crop,
            size=[size, size],
            scale=[size / h, size / w],
            translation=[0.0, 0.0],
            kernel_type="keyscubic",
            antialias=False,
        )
        np.testing.assert_allclose(bicubic[b : b + 1], expected, atol=1e-5)
        expected = tf.image.resize(crop, (size, size), "bicubic")
        np.testing.assert_allclose(bicubic[b : b + 1], expected, atol=2e-3)


def test_crop_and_resize_flip_mirrors_output(rng):
    images = rng.random((2, 30, 40, 3), dtype=np.float32)
    boxes = tf.constant(BOXES[:2], tf.float32)
    plain = resize_ops.crop_and_resize(images, boxes, 16)
    flipped = resize_ops.crop_and_resize(images, boxes, 16, flip=tf.constant([True, False]))
    np.testing.assert_allclose(flipped[0], plain[0, :, ::-1], atol=1e-6)
    np.testing.assert_array_equal(flipped[1], plain[1])


def test_resize_at_same_size_is_identity(rng):
    images = rng.random((2, 32, 32, 3), dtype=np.float32)
    for interpolation in resize_ops.INTERPOLATIONS:
        out = resize_ops.center_crop_and_resize(images, 32, 1.0, interpolation)
        np.testing.assert_allclose(out, images, atol=1e-6)


@pytest.mark.parametrize(
    "height,width,fraction,expected",
    [
        # The reference's _compute_crop_shape / center_crop for a square output.
        (256, 256, 0.875, (16, 16, 224, 224)),
        (256, 320, 0.875, (16, 48, 224, 224)),
        (331, 250, 0.875, (56, 16, 219, 219)),  # rint(218.75) = 219; (331 - 219 + 1) // 2 = 56
        (32, 32, 1.0, (0, 0, 32, 32)),
        (33, 40, 1.0, (0, 4, 33, 33)),  # (40 - 33 + 1) // 2 = 4: an odd margin rounds down
    ],
)
def test_center_crop_boxes(height, width, fraction, expected):
    heights, widths = tf.fill([3], float(height)), tf.fill([3], float(width))
    boxes = resize_ops.center_crop_boxes(heights, widths, fraction).numpy()
    np.testing.assert_array_equal(boxes, np.tile([expected], (3, 1)))


def test_color_ops_match_tf_image_per_image(rng):
    images = _images(rng, 6, 8, 8)
    factors = np.array([0.0, 0.2, 0.6, 1.0, 1.4, 1.8], np.float32)
    deltas = np.array([-0.5, -0.16, 0.0, 0.05, 0.2, 0.49], np.float32)
    contrast = color_ops.adjust_contrast(images, factors)
    saturation = color_ops.adjust_saturation(images, factors)
    hue = color_ops.adjust_hue(images, deltas)
    gray = color_ops.to_grayscale(images)
    for b in range(6):
        np.testing.assert_allclose(
            contrast[b], tf.image.adjust_contrast(images[b], factors[b]), atol=2e-6
        )
        np.testing.assert_allclose(
            saturation[b], tf.image.adjust_saturation(images[b], factors[b]), atol=2e-6
        )
        np.testing.assert_allclose(hue[b], tf.image.adjust_hue(images[b], deltas[b]), atol=2e-6)
        np.testing.assert_allclose(gray[b], tf.image.rgb_to_grayscale(images[b]), atol=1e-6)


def _reference_jitter(image, op_order, factors, additive):
    """The reference's color_jitter_rand on one image, with given factors: tf.image ops."""
    brightness, contrast, saturation, hue = factors
    ops = [
        (lambda x: x + brightness) if additive else (lambda x: x * brightness),
        lambda x: tf.image.adjust_contrast(x, contrast),
        lambda x: tf.image.adjust_saturation(x, saturation),
        lambda x: tf.image.adjust_hue(x, hue),
    ]
    for op in op_order:
        image = tf.clip_by_value(ops[op](image), 0.0, 1.0)
    return image


@pytest.mark.parametrize("additive", [False, True])
def test_color_jitter_matches_reference_in_every_order(rng, additive):
    # All 24 orders, one per image, with strong factors so that the clips matter.
    import itertools

    orders = np.array(list(itertools.permutations(range(4))), np.int32)
    batch = len(orders)
    images = _images(rng, batch, 6, 6)
    if additive:
        brightness = rng.uniform(-0.8, 0.8, batch).astype(np.float32)
    else:
        brightness = rng.uniform(0.2, 1.8, batch).astype(np.float32)
    contrast = rng.uniform(0.2, 1.8, batch).astype(np.float32)
    saturation = rng.uniform(0.2, 1.8, batch).astype(np.float32)
    hue = rng.uniform(-0.2, 0.2, batch).astype(np.float32)
    out = color_ops.color_jitter(
        images, brightness, contrast, saturation, hue, orders, additive_brightness=additive
    )
    for b in range(batch):
        factors = (brightness[b], contrast[b], saturation[b], hue[b])
        expected = _reference_jitter(images[b], orders[b], factors, additive)
        np.testing.assert_allclose(out[b], expected, atol=5e-6, err_msg=f"order {orders[b]}")


def test_color_distortion_injected_flags(rng):
    images = _images(rng, 4, 8, 8)
    layer = RandomColorDistortion()
    transformation = {
        "jitter": tf.constant([False, True, False, True]),
        "grayscale": tf.constant([False, False, True, True]),
        "brightness": tf.constant([1.5, 1.5, 1.5, 1.5]),
        "contrast": tf.constant([0.5, 0.5, 0.5, 0.5]),
        "saturation": tf.constant([1.7, 1.7, 1.7, 1.7]),
        "hue": tf.constant([0.1, 0.1, 0.1, 0.1]),
        "order": tf.constant([[3, 2, 1, 0]] * 4, tf.int32),
    }
    out = layer.transform_images(tf.constant(images), transformation).numpy()

    def jittered(image):
        return _reference_jitter(image, [3, 2, 1, 0], (1.5, 0.5, 1.7, 0.1), False)

    def gray(image):
        return np.repeat(tf.image.rgb_to_grayscale(image), 3, axis=-1)

    np.testing.assert_allclose(out[0], images[0], atol=1e-6)  # neither
    np.testing.assert_allclose(out[1], jittered(images[1]), atol=5e-6)
    np.testing.assert_allclose(out[2], gray(images[2]), atol=1e-6)
    np.testing.assert_allclose(out[3], gray(jittered(images[3])), atol=5e-6)
    np.testing.assert_array_equal(
        layer.transform_images(images, transformation, training=False), images
    )


def _reference_blur(image, sigma, radius):
    """The reference's gaussian_blur: two depthwise convolutions, 'SAME' zero padding."""
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-(x**2) / (2.0 * sigma**2))
    kernel /= kernel.sum()
    horizontal = np.tile(kernel.reshape(1, -1, 1, 1), [1, 1, 3, 1])
    vertical = np.tile(kernel.reshape(-1, 1, 1, 1), [1, 1, 3, 1])
    image = tf.nn.depthwise_conv2d(image[None], horizontal, [1, 1, 1, 1], "SAME")
    return tf.nn.depthwise_conv2d(image, vertical, [1, 1, 1, 1], "SAME")[0]


@pytest.mark.parametrize("height,width,radius", [(40, 40, 2), (24, 30, 3)])
def test_separable_blur_matches_reference(rng, height, width, radius):
    images = rng.random((3, height, width, 3), dtype=np.float32)
    sigmas = np.array([0.1, 0.9, 2.0], np.float32)
    out = separable_blur(images, gaussian_kernels(sigmas, radius), radius)
    for b in range(3):
        np.testing.assert_allclose(out[b], _reference_blur(images[b], sigmas[b], radius), atol=1e-6)


def test_blur_radius_follows_reference():
    # kernel_size = height // 10, radius = kernel_size // 2: 23 taps at 224 px, 3 at 32 px.
    assert [2 * blur_radius(h) + 1 for h in (224, 96, 32, 20, 19)] == [23, 9, 3, 3, 1]


def test_blur_layer_injected(rng):
    images = rng.random((2, 40, 40, 3), dtype=np.float32)
    layer = RandomGaussianBlur()
    transformation = {"blur": tf.constant([True, False]), "sigma": tf.constant([1.3, 1.3])}
    out = layer.transform_images(tf.constant(images), transformation).numpy()
    np.testing.assert_allclose(out[0], np.clip(_reference_blur(images[0], 1.3, 2), 0, 1), atol=1e-6)
    np.testing.assert_array_equal(out[1], images[1])


def test_flip_left_right(rng):
    images = rng.random((3, 5, 7, 3), dtype=np.float32)
    out = flip_left_right(images, tf.constant([True, False, True])).numpy()
    np.testing.assert_array_equal(out, [images[0, :, ::-1], images[1], images[2, :, ::-1]])
