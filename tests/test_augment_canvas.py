"""Views cropped from a canvas: images of several sizes at native resolution, padded to one shape.

The reference (google-research/simclr `tf2/data_util.py`) crops each decoded original. Here a
batch holds images of several aspect ratios in a padded canvas with their sizes, and these tests
check the three things that make it the same: the boxes follow the reference's sampler on each
unpadded image (against the plain-numpy port of `tf.image.sample_distorted_bounding_box` in
`test_augment_sampling`), a view from the canvas equals the same box cropped from the unpadded
original and resized by `tf.image.resize` (the reference's resize), and the evaluation crop
equals the reference's `center_crop` of the original.
"""

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.augment import CenterCropResize, RandomResizedCrop, SimCLRAugment
from simclr_tf.augment.random_flip import RandomFlipLeftRight
from tests.test_augment_sampling import KS_BOUND, N, SEED, ks_distance, numpy_distorted_box

# (height, width): ImageNet's landscape 500 x 375 and portrait 375 x 500, a square, a thin strip.
SIZES = [(375, 500), (500, 375), (300, 300), (64, 200)]
CANVAS = 500


def _canvas(sizes, side, seed=0, padding=0.0, channels=3):
    """Random float images of `sizes` in a (B, side, side, C) canvas filled with `padding`."""
    rng = np.random.default_rng(seed)
    originals = [rng.random((h, w, channels)).astype(np.float32) for h, w in sizes]
    canvas = np.full((len(sizes), side, side, channels), padding, np.float32)
    for i, image in enumerate(originals):
        canvas[i, : image.shape[0], : image.shape[1]] = image
    return originals, canvas, np.array(sizes, np.int32)


def _statistics(boxes, height, width):
    y, x, h, w = (boxes[:, i].astype(np.float64) for i in range(4))
    return {
        "area": h * w / (height * width),
        "aspect": w / h,
        "centre_y": (y + h / 2) / height,
        "centre_x": (x + w / 2) / width,
    }


def test_boxes_follow_reference_sampler_in_each_images_geometry():
    # One mixed batch: N images of each size, interleaved, so every box is drawn with its own
    # image's size next to images of other sizes.
    sizes = np.array([SIZES[i % len(SIZES)] for i in range(len(SIZES) * N)], np.float32)
    layer = RandomResizedCrop(224)
    boxes = layer.get_random_transformation(
        tf.zeros([len(sizes), 1, 1, 3]), seed=SEED, sizes=tf.constant(sizes)
    )["boxes"].numpy()
    rng = np.random.default_rng(0)
    for k, (height, width) in enumerate(SIZES):
        ours = boxes[k :: len(SIZES)]
        # Inside the image (never in the padding), integer, at least 10 % of its area.
        assert np.all(ours >= 0) and np.all(ours[:, 2:] >= 1)
        assert np.all(ours[:, 0] + ours[:, 2] <= height)
        assert np.all(ours[:, 1] + ours[:, 3] <= width)
        port = np.array(
            [
                numpy_distorted_box(rng, height, width, (0.08, 1.0), (3 / 4, 4 / 3), 0.1, 100)
                for _ in range(N)
            ]
        )
        stats, reference = _statistics(ours, height, width), _statistics(port, height, width)
        assert stats["area"].min() >= 0.1 - 1e-9
        for key in stats:
            distance = ks_distance(stats[key], reference[key])
            assert distance < KS_BOUND, f"{height}x{width} {key}: KS distance {distance:.4f}"
        # The whole image is reachable, edges included: boxes reach every border (the op's
        # offsets stop one pixel short of the far edges unless the crop spans the image).
        assert ours[:, 0].min() == 0 and ours[:, 1].min() == 0
        assert (ours[:, 0] + ours[:, 2]).max() >= height - 1
        assert (ours[:, 1] + ours[:, 3]).max() >= width - 1
        # A sampler in the canvas' geometry (500 x 500) would be far off for the non-square
        # images and the small one: the bound has power here.
        if (height, width) != (300, 300):
            canvas_geometry = np.array(
                [
                    numpy_distorted_box(rng, CANVAS, CANVAS, (0.08, 1.0), (3 / 4, 4 / 3), 0.1, 100)
                    for _ in range(2000)
                ]
            )
            wrong = _statistics(canvas_geometry, height, width)
            assert max(ks_distance(stats[k], wrong[k]) for k in stats) > 4 * KS_BOUND


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_view_from_canvas_equals_crop_of_original(interpolation):
    originals, canvas, sizes = _canvas(SIZES, CANVAS, padding=0.0)
    layer = RandomResizedCrop(48, interpolation=interpolation)
    inputs = {"image": canvas, "image_size": sizes}
    views = layer(inputs, seed=SEED).numpy()
    boxes = layer.get_random_transformation(
        tf.constant(canvas), seed=SEED, sizes=tf.constant(sizes, tf.float32)
    )["boxes"].numpy().astype(int)
    for image, (y, x, h, w), view in zip(originals, boxes, views):
        crop = image[y : y + h, x : x + w]
        expected = tf.image.resize(crop, [48, 48], method=interpolation, antialias=False)
        expected = np.clip(expected.numpy(), 0.0, 1.0)
        assert np.max(np.abs(view - expected)) <= 1 / 255
    # The padding is never read: other padding gives the very same views.
    _, noisy, _ = _canvas(SIZES, CANVAS, padding=1.0)
    noisy[:, :, :] = np.where(canvas == 0.0, np.random.default_rng(5).random(canvas.shape), canvas)
    again = layer({"image": noisy.astype(np.float32), "image_size": sizes}, seed=SEED).numpy()
    np.testing.assert_array_equal(again, views)


def _reference_center_crop(image, size, fraction=0.875):
    """tf2/data_util.py `center_crop` for a square output, written out from the reference."""
    height, width = image.shape[:2]
    aspect = 1.0  # output height / width
    if aspect > width / height:
        crop_h = int(np.rint(fraction / aspect * width))
        crop_w = int(np.rint(fraction * width))
    else:
        crop_h = int(np.rint(fraction * height))
        crop_w = int(np.rint(fraction * aspect * height))
    top, left = (height - crop_h + 1) // 2, (width - crop_w + 1) // 2
    crop = image[top : top + crop_h, left : left + crop_w]
    return tf.image.resize(crop, [size, size], method="bicubic").numpy()


def test_evaluation_crop_equals_reference_center_crop_of_original():
    originals, canvas, sizes = _canvas(SIZES, CANVAS, padding=0.5)
    expected = [np.clip(_reference_center_crop(image, 40), 0, 1) for image in originals]
    inputs = {"image": canvas, "image_size": sizes}
    for out in (
        CenterCropResize(40)(inputs),
        RandomResizedCrop(40)(inputs, training=False),
        SimCLRAugment(40)(inputs, training=False),
    ):
        for view, reference in zip(out.numpy(), expected):
            assert np.max(np.abs(view - reference)) <= 1 / 255


def test_canvas_path_compiles_with_xla_and_matches_eager():
    _, canvas, sizes = _canvas([(30, 40), (40, 18), (12, 40)], 40)
    canvas = tf.constant((canvas * 255).astype(np.uint8))
    # The crop is what the canvas changes (the other stages see its square output).
    crop = RandomResizedCrop(16, seed=1)

    def views(x, s):
        inputs = {"image": x, "image_size": s}
        return tf.concat([crop(inputs, seed=tf.constant([3, 4])), crop(inputs, training=False)], 0)

    compiled = tf.function(views, jit_compile=True)(canvas, tf.constant(sizes))
    eager = views(canvas, tf.constant(sizes))
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), atol=2e-5)


def test_crop_disabled_resizes_each_whole_image():
    originals, canvas, sizes = _canvas([(30, 40), (40, 18)], 40)
    augment = SimCLRAugment(16, crop=False, flip=False, color_distort=False, blur=False)
    views = augment({"image": canvas, "image_size": sizes}).numpy()
    for image, view in zip(originals, views):
        expected = np.clip(tf.image.resize(image, [16, 16], method="bicubic").numpy(), 0, 1)
        assert np.max(np.abs(view - expected)) <= 1 / 255


def test_canvas_errors_are_clear():
    canvas = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="crop a canvas first"):
        RandomFlipLeftRight()({"image": canvas, "image_size": [[8, 8], [4, 4]]})
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        RandomResizedCrop(4)({"image": canvas, "image_size": [8, 8, 8]})
    with pytest.raises(ValueError, match="'image' key"):
        SimCLRAugment(4)({"pixels": canvas})
