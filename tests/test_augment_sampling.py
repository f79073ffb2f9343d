"""Statistics of the random parameters over 10,000 draws against independent references.

The crop sampler is compared with a plain-numpy port of `tf.image.sample_distorted_bounding_box`
(one image and one attempt at a time, as the C++ op) and with the op itself. Two-sample
Kolmogorov-Smirnov distances use 10,000 draws a side: under equal distributions a distance above
0.03 has probability ~2e-4 (2 exp(-2 n m / (n + m) 0.03^2)), so the bound is tight enough to
catch a wrong sampler (a uniform-area sampler is off by > 0.1) and the seeds are fixed.
Probabilities use |p_hat - p| < 0.015, about 4 standard deviations at n = 10,000.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.augment import SimCLRAugment
from simclr_tf.augment.color_distortion import RandomColorDistortion
from simclr_tf.augment.gaussian_blur import RandomGaussianBlur
from simclr_tf.augment.random_flip import RandomFlipLeftRight
from simclr_tf.augment.random_resized_crop import sample_distorted_boxes

N = 10_000
KS_BOUND = 0.03
P_BOUND = 0.015
SEED = tf.constant([12, 34])


def ks_distance(a, b):
    """Two-sample Kolmogorov-Smirnov statistic (handles ties)."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return np.max(np.abs(cdf_a - cdf_b))


def numpy_distorted_box(rng, height, width, area_range, ratio_range, min_covered, attempts):
    """One box, step by step as sample_distorted_bounding_box_op.cc (float32 like the op)."""
    f32 = np.float32
    min_area = f32(area_range[0]) * f32(width) * f32(height)
    max_area = f32(area_range[1]) * f32(width) * f32(height)
    for _ in range(attempts):
        ratio = f32(rng.random()) * f32(ratio_range[1] - ratio_range[0]) + f32(ratio_range[0])
        h = int(np.rint(np.sqrt(min_area / ratio)))
        max_h = int(np.rint(np.sqrt(max_area / ratio)))
        if np.rint(f32(max_h * ratio)) > width:
            max_h = int((width + 0.5 - 1e-7) / float(ratio))
            if np.rint(f32(max_h * ratio)) > width:
                max_h -= 1
        max_h = min(max_h, height)
        h = min(h, max_h)
        if h < max_h:
            h += int(rng.integers(0, max_h - h + 1))
        w = int(np.rint(f32(h * ratio)))
        if w * h < min_area:
            h += 1
            w = int(np.rint(f32(h * ratio)))
        if w * h > max_area:
            h -= 1
            w = int(np.rint(f32(h * ratio)))
        if not (min_area <= w * h <= max_area and 0 < w <= width and 0 < h <= height):
            continue
        if f32(w * h) / f32(width * height) < f32(min_covered):  # the whole-image object box
            continue
        y = int(rng.integers(0, height - h)) if h < height else 0
        x = int(rng.integers(0, width - w)) if w < width else 0
        return y, x, h, w
    return 0, 0, height, width


@tf.function
def _tf_op_boxes(seeds, height, width):
    def one(seed):
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            [height, width, 3],
            tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
            seed=seed,
            min_object_covered=0.1,
            aspect_ratio_range=(3 / 4, 4 / 3),
            area_range=(0.08, 1.0),
            max_attempts=100,
            use_image_if_no_bounding_boxes=True,
        )
        return tf.concat([begin[:2], size[:2]], axis=0)

    return tf.map_fn(one, seeds)


def _box_statistics(boxes, height, width):
    y, x, h, w = (boxes[:, i].astype(np.float64) for i in range(4))
    return {
        "area": h * w / (height * width),
        "aspect": w / h,
        "centre_y": (y + h / 2) / height,
        "centre_x": (x + w / 2) / width,
        "whole": (h == height) & (w == width),
    }


@pytest.mark.parametrize("height,width", [(224, 224), (32, 32), (48, 64)])
def test_crop_distribution_matches_reference(height, width):
    ours = sample_distorted_boxes(SEED, N, height, width).numpy()
    rng = np.random.default_rng(0)
    port = np.array(
        [
            numpy_distorted_box(rng, height, width, (0.08, 1.0), (3 / 4, 4 / 3), 0.1, 100)
            for _ in range(N)
        ]
    )
    seeds = tf.constant(rng.integers(0, 2**31 - 1, (N, 2)), tf.int32)
    op = _tf_op_boxes(seeds, height, width).numpy()

    # Support: integer boxes inside the image, area in [0.1, 1] (min_object_covered 0.1).
    np.testing.assert_array_equal(ours, np.round(ours))
    assert np.all(ours[:, 0] + ours[:, 2] <= height) and np.all(ours[:, 1] + ours[:, 3] <= width)
    assert np.all(ours >= 0) and np.all(ours[:, 2:] >= 1)
    stats = _box_statistics(ours, height, width)
    assert stats["area"].min() >= 0.1 - 1e-9 and stats["area"].max() <= 1.0
    for reference in (_box_statistics(port, height, width), _box_statistics(op, height, width)):
        for key in ("area", "aspect", "centre_y", "centre_x"):
            distance = ks_distance(stats[key], reference[key])
            assert distance < KS_BOUND, f"{key}: KS distance {distance:.4f}"
        assert abs(stats["whole"].mean() - reference["whole"].mean()) < P_BOUND
    # The bound has power: a sampler with uniform area (torchvision's) is far from the op,
    # which draws the crop height uniformly.
    uniform_area = np.random.default_rng(3).uniform(0.1, 1.0, N)
    assert ks_distance(stats["area"], uniform_area) > 4 * KS_BOUND


def test_crop_falls_back_to_whole_image():
    # No aspect ratio in (3.0, 3.1) fits a 10 x 10 image with at least 80% of its area.
    boxes = sample_distorted_boxes(SEED, 50, 10, 10, (0.8, 1.0), (3.0, 3.1)).numpy()
    np.testing.assert_array_equal(boxes, np.tile([[0, 0, 10, 10]], (50, 1)))


@pytest.mark.parametrize("strength,mode", [(1.0, "simclrv2"), (0.5, "simclrv2"), (1.0, "simclrv1")])
def test_color_parameters_match_reference(strength, mode):
    layer = RandomColorDistortion(strength=strength, brightness_mode=mode)
    t = layer.get_random_transformation(tf.zeros([N, 1, 1, 3]), seed=SEED)
    t = {key: value.numpy() for key, value in t.items()}
    # The reference's ranges, written out: brightness 0.8 s, contrast 0.8 s, saturation 0.8 s,
    # hue 0.2 s; simclrv2 brightness multiplies by U[max(0, 1 - 0.8 s), 1 + 0.8 s].
    rng = np.random.default_rng(1)
    s = strength
    if mode == "simclrv2":
        brightness = rng.uniform(max(0.0, 1 - 0.8 * s), 1 + 0.8 * s, N)
    else:
        brightness = rng.uniform(-0.8 * s, 0.8 * s, N)
    reference = {
        "brightness": brightness,
        "contrast": rng.uniform(1 - 0.8 * s, 1 + 0.8 * s, N),
        "saturation": rng.uniform(1 - 0.8 * s, 1 + 0.8 * s, N),
        "hue": rng.uniform(-0.2 * s, 0.2 * s, N),
    }
    for key, expected in reference.items():
        assert expected.min() - 1e-3 < t[key].min() and t[key].max() < expected.max() + 1e-3, key
        assert ks_distance(t[key], expected) < KS_BOUND, key
    # p = 0.8 jitter and p = 0.2 grayscale, independent.
    assert abs(t["jitter"].mean() - 0.8) < P_BOUND
    assert abs(t["grayscale"].mean() - 0.2) < P_BOUND
    assert abs((t["jitter"] & t["grayscale"]).mean() - 0.16) < P_BOUND
    # Each of the 24 orders equally likely: chi-square with 23 degrees of freedom.
    orders = {perm: i for i, perm in enumerate(itertools.permutations(range(4)))}
    counts = np.bincount([orders[tuple(row)] for row in t["order"]], minlength=24)
    chi2 = np.sum((counts - N / 24) ** 2 / (N / 24))
    assert chi2 < 60, f"chi2 = {chi2:.1f}"  # p ~ 4e-5 under uniformity


def test_flip_and_blur_parameters():
    flip = RandomFlipLeftRight().get_random_transformation(tf.zeros([N, 1, 1, 3]), seed=SEED)
    assert abs(flip["flip"].numpy().mean() - 0.5) < P_BOUND
    blur = RandomGaussianBlur().get_random_transformation(tf.zeros([N, 1, 1, 3]), seed=SEED)
    assert abs(blur["blur"].numpy().mean() - 0.5) < P_BOUND
    sigma = blur["sigma"].numpy()
    assert 0.1 <= sigma.min() and sigma.max() < 2.0
    assert ks_distance(sigma, np.random.default_rng(2).uniform(0.1, 2.0, N)) < KS_BOUND


def test_composed_layer_draws_independent_stages():
    images = tf.zeros([N, 32, 32, 3])
    t = SimCLRAugment.imagenet(32).get_random_transformation(images, seed=SEED)
    flip = t["flip"]["flip"].numpy()
    jitter = t["color"]["jitter"].numpy()
    blur = t["blur"]["blur"].numpy()
    area = np.prod(t["crop"]["boxes"].numpy()[:, 2:], axis=1) / 32**2
    assert abs(flip.mean() - 0.5) < P_BOUND and abs(blur.mean() - 0.5) < P_BOUND
    assert abs((flip & blur).mean() - 0.25) < P_BOUND
    assert abs((jitter & flip).mean() - 0.4) < P_BOUND
    assert abs(np.corrcoef(area, t["blur"]["sigma"].numpy())[0, 1]) < 0.04
