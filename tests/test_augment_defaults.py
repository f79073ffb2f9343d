"""The augmentation users get without arguments: every default of `SimCLRAugment` and of its
presets (`imagenet()`, `cifar()`) is the reference's (google-research/simclr `tf2/data_util.py`;
docs/differences.md lists where we differ on purpose).

Attributes are read, and then the composed layer's behaviour is measured, so a changed default
is caught even where an attribute would still read right: the parameters it draws (10,000 per
test, against the same independent references and bounds as tests/test_augment_sampling.py) and
the views it returns (a few hundred tiny images).
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.augment import SimCLRAugment
from tests.test_augment_ops import _reference_blur
from tests.test_augment_sampling import KS_BOUND
from tests.test_augment_sampling import N
from tests.test_augment_sampling import P_BOUND
from tests.test_augment_sampling import SEED
from tests.test_augment_sampling import _box_statistics
from tests.test_augment_sampling import ks_distance
from tests.test_augment_sampling import numpy_distorted_box

# The reference's pipeline, written out (docs: /work/shared/REFERENCE.md, "Augmentation").
REFERENCE = {
    "crop": True,
    "flip": True,
    "color_distort": True,
    "interpolation": "bicubic",
    "area_range": (0.08, 1.0),
    "aspect_ratio_range": (3.0 / 4.0, 4.0 / 3.0),
    "jitter_probability": 0.8,
    "grayscale_probability": 0.2,
    "brightness_mode": "simclrv2",
    "blur_probability": 0.5,
    "sigma_range": (0.1, 2.0),
    "blur_min_radius": 0,  # the reference's kernel rule alone
    "center_crop_fraction": None,  # 0.875 above 32 px, none at 32 px or less
}
# What each way of building the layer sets on top: (factory(image_size), size, strength, blur).
PRESETS = {
    "no_arguments": (lambda size=224, **kwargs: SimCLRAugment(size, **kwargs), 224, 1.0, True),
    "imagenet": (SimCLRAugment.imagenet, 224, 1.0, True),
    "cifar": (SimCLRAugment.cifar, 32, 0.5, False),
}
SIZE = 32  # the side of the images parameters are drawn for (the crop is in input pixels)


@pytest.fixture(scope="module")
def reference_boxes():
    """10,000 crops of a 32 x 32 image from the numpy port of the reference's sampler, with the
    reference's arguments (min_object_covered 0.1, 100 attempts)."""
    rng = np.random.default_rng(0)
    return np.array(
        [
            numpy_distorted_box(rng, SIZE, SIZE, (0.08, 1.0), (3 / 4, 4 / 3), 0.1, 100)
            for _ in range(N)
        ]
    )


def _reference_color_factors(strength, n):
    """The reference's colour jitter factors at strength s, simclrv2 brightness (multiplicative,
    U[max(0, 1 - 0.8 s), 1 + 0.8 s]), as test_augment_sampling writes them."""
    rng = np.random.default_rng(1)
    s = strength
    return {
        "brightness": rng.uniform(max(0.0, 1 - 0.8 * s), 1 + 0.8 * s, n),
        "contrast": rng.uniform(1 - 0.8 * s, 1 + 0.8 * s, n),
        "saturation": rng.uniform(1 - 0.8 * s, 1 + 0.8 * s, n),
        "hue": rng.uniform(-0.2 * s, 0.2 * s, n),
    }


@pytest.mark.parametrize("preset", PRESETS)
def test_attributes_are_the_reference(preset):
    factory, size, strength, blur = PRESETS[preset]
    layer = factory()
    expected = {**REFERENCE, "image_size": size, "color_jitter_strength": strength, "blur": blur}
    config = layer.get_config()
    for key, value in expected.items():
        for actual in (getattr(layer, key), config[key]):
            if isinstance(value, (tuple, float)):
                np.testing.assert_allclose(actual, value, rtol=1e-6, err_msg=key)
            else:
                assert actual == value and type(actual) is type(value), key
    # The stages themselves hold the same values (the composed layer hands them over).
    assert layer.random_crop.area_range == pytest.approx(REFERENCE["area_range"])
    assert layer.random_crop.aspect_ratio_range == pytest.approx(REFERENCE["aspect_ratio_range"])
    assert layer.random_crop.interpolation == "bicubic"
    assert layer.color_distortion.strength == strength
    assert layer.color_distortion.grayscale_probability == pytest.approx(0.2)
    assert layer.color_distortion.jitter_probability == pytest.approx(0.8)
    assert layer.color_distortion.brightness_mode == "simclrv2"
    assert layer.color_distortion.random_order
    assert layer.gaussian_blur.probability == pytest.approx(0.5)
    assert layer.gaussian_blur.sigma_range == pytest.approx((0.1, 2.0))


@pytest.mark.parametrize("preset", PRESETS)
def test_drawn_parameters_follow_the_reference(preset, reference_boxes):
    factory, _, strength, blur = PRESETS[preset]
    t = factory().get_random_transformation(tf.zeros([N, SIZE, SIZE, 3]), seed=SEED)
    assert set(t) == {"crop", "flip", "color"} | ({"blur"} if blur else set())

    # Crop: area (0.08, 1) and aspect (3/4, 4/3), as the reference's sampler draws them.
    ours = _box_statistics(t["crop"]["boxes"].numpy(), SIZE, SIZE)
    reference = _box_statistics(reference_boxes, SIZE, SIZE)
    for key in ("area", "aspect", "centre_y", "centre_x"):
        distance = ks_distance(ours[key], reference[key])
        assert distance < KS_BOUND, f"{key}: KS distance {distance:.4f}"
    assert abs(ours["whole"].mean() - reference["whole"].mean()) < P_BOUND

    # Flip p = 0.5; jitter p = 0.8 and grayscale p = 0.2, independent.
    assert abs(t["flip"]["flip"].numpy().mean() - 0.5) < P_BOUND
    jitter, gray = t["color"]["jitter"].numpy(), t["color"]["grayscale"].numpy()
    assert abs(jitter.mean() - 0.8) < P_BOUND
    assert abs(gray.mean() - 0.2) < P_BOUND
    assert abs((jitter & gray).mean() - 0.16) < P_BOUND

    # Jitter factors at the preset's strength with simclrv2 (multiplicative) brightness.
    for key, expected in _reference_color_factors(strength, N).items():
        drawn = t["color"][key].numpy()
        assert expected.min() - 1e-3 < drawn.min() and drawn.max() < expected.max() + 1e-3, key
        assert ks_distance(drawn, expected) < KS_BOUND, key
    # Random order: each of the 24 orders equally likely (chi-square, 23 degrees of freedom).
    orders = {perm: i for i, perm in enumerate(itertools.permutations(range(4)))}
    counts = np.bincount([orders[tuple(r)] for r in t["color"]["order"].numpy()], minlength=24)
    assert np.sum((counts - N / 24) ** 2 / (N / 24)) < 60

    # Blur p = 0.5, sigma U(0.1, 2.0); none at all in the CIFAR preset.
    if blur:
        assert abs(t["blur"]["blur"].numpy().mean() - 0.5) < P_BOUND
        sigma = t["blur"]["sigma"].numpy()
        assert 0.1 <= sigma.min() and sigma.max() < 2.0
        assert ks_distance(sigma, np.random.default_rng(2).uniform(0.1, 2.0, N)) < KS_BOUND
        drawn = t["blur"]["blur"].numpy()  # independent of the colour stage's draws
        assert abs((jitter & drawn).mean() - 0.4) < P_BOUND
        assert abs((gray & drawn).mean() - 0.1) < P_BOUND


@pytest.mark.parametrize("preset", PRESETS)
def test_views_are_grayscale_at_the_reference_rate(preset):
    """Grayscale measured on the views themselves: 512 colour images, the fraction of views with
    three equal channels (jitter never removes all colour: saturation >= 0.2). 4 standard
    deviations at n = 512 is 0.07."""
    factory = PRESETS[preset][0]
    images = tf.random.stateless_uniform([512, 12, 12, 3], seed=[3, 4])
    views = factory(8, seed=0)(images, training=True).numpy()
    gray = np.all(np.abs(views - views[..., :1]) < 1e-6, axis=(1, 2, 3))
    assert abs(gray.mean() - 0.2) < 0.07, gray.mean()


@pytest.mark.parametrize("preset", PRESETS)
def test_training_view_is_a_bicubic_crop_then_the_reference_blur(preset):
    """With jitter and grayscale turned off in the drawn parameters, a view is the drawn box
    resized by the exact Keys bicubic kernel (ScaleAndTranslate, as test_augment_ops), flipped
    where drawn, clipped; then blurred as the reference at a kernel of 10 % of the side (3 taps
    at 32 px), and not blurred at all below 20 px (blur_min_radius 0)."""
    factory, _, _, blur = PRESETS[preset]
    images = tf.random.stateless_uniform([6, 40, 36, 3], seed=[5, 6])
    for size in (32, 16):
        layer = factory(size, seed=0)
        t = layer.get_random_transformation(images)
        t["color"]["jitter"] = tf.zeros([6], tf.bool)
        t["color"]["grayscale"] = tf.zeros([6], tf.bool)
        if blur:
            t["blur"]["blur"] = tf.ones([6], tf.bool)
        views = layer.transform_images(images, t).numpy()
        boxes = t["crop"]["boxes"].numpy().astype(int)
        for b, (y, x, h, w) in enumerate(boxes):
            crop = images[b : b + 1, y : y + h, x : x + w]
            expected = tf.raw_ops.ScaleAndTranslate(
                images=crop, size=[size, size], scale=[size / h, size / w],
                translation=[0.0, 0.0], kernel_type="keyscubic", antialias=False,
            )[0].numpy()
            if t["flip"]["flip"][b]:
                expected = expected[:, ::-1]
            expected = np.clip(expected, 0.0, 1.0)
            if blur and size == 32:
                sigma = float(t["blur"]["sigma"][b])
                expected = np.clip(_reference_blur(expected, sigma, 1), 0.0, 1.0)
            np.testing.assert_allclose(views[b], expected, atol=1e-5, err_msg=f"{size} px, {b}")


@pytest.mark.parametrize("preset", PRESETS)
def test_evaluation_is_a_bicubic_centre_crop_above_32_px(preset):
    factory = PRESETS[preset][0]
    images = tf.random.stateless_uniform([2, 64, 80, 3], seed=[7, 8])
    # 0.875 of the shorter side above 32 px: 56 px, from (64 - 56 + 1) // 2 = 4 and
    # (80 - 56 + 1) // 2 = 12, bicubic (tf.image's tabulated kernel: within 2e-3).
    expected = tf.image.resize(images[:, 4:60, 12:68], (48, 48), "bicubic")
    np.testing.assert_allclose(
        factory(48)(images, training=False), tf.clip_by_value(expected, 0.0, 1.0), atol=2e-3
    )
    # At 32 px or less no crop: the whole centred square, from (80 - 64 + 1) // 2 = 8.
    expected = tf.image.resize(images[:, :, 8:72], (32, 32), "bicubic")
    np.testing.assert_allclose(
        factory(32)(images, training=False), tf.clip_by_value(expected, 0.0, 1.0), atol=2e-3
    )
