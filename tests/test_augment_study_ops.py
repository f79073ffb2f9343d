"""Cutout, Sobel, Gaussian noise, rotation and their compositions (paper Figure 4 / 5):
numpy references on injected parameters, eager == tf.function == XLA, statistics of the
draws, and the asymmetric protocol."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.augment import (
    ComposedAugment,
    RandomCutout,
    RandomGaussianNoise,
    RandomRotation90,
    RandomSobel,
)
from simclr_tf.augment.gaussian_noise import standard_normal

N = 10_000
P_BOUND = 0.015  # ~4 standard deviations of a proportion at n = 10,000
KS_BOUND = 0.03
SEED = tf.constant([5, 7])


def _images(rng, b=3, size=8):
    return rng.random((b, size, size, 3)).astype(np.float32)


def ks_to_uniform(x, lo, hi):
    x = np.sort((np.asarray(x) - lo) / (hi - lo))
    return np.max(np.abs(np.arange(1, len(x) + 1) / len(x) - x))


# --- numeric references on injected parameters -------------------------------------------------

def test_cutout_equals_numpy(rng):
    images = _images(rng)
    centers = np.array([[2.5, 3.5], [0.2, 7.9], [4.0, 4.0]], np.float32)
    sizes = np.array([3.0, 4.0, 0.0], np.float32)
    got = RandomCutout(fill_value=0.5).transform_images(
        tf.constant(images), {"centers": centers, "sizes": sizes}
    ).numpy()
    expected = images.copy()
    for b in range(3):
        for i in range(8):
            for j in range(8):
                if abs(i + 0.5 - centers[b, 0]) < sizes[b] / 2 and abs(j + 0.5 - centers[b, 1]) < sizes[b] / 2:
                    expected[b, i, j] = 0.5
    np.testing.assert_array_equal(got, expected)
    assert (got[0] == 0.5).all(axis=-1).sum() == 9  # a 3 x 3 square inside the image


def numpy_sobel(image):
    gray = image @ np.array([0.2989, 0.587, 0.114])
    p = np.pad(gray, 1, mode="reflect")
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
    out = np.zeros_like(gray)
    for i in range(gray.shape[0]):
        for j in range(gray.shape[1]):
            win = p[i:i + 3, j:j + 3]
            out[i, j] = np.hypot((win * kx).sum(), (win * kx.T).sum())
    return np.repeat(np.clip(out / (4 * np.sqrt(2)), 0, 1)[..., None], 3, axis=-1)


def test_sobel_equals_numpy(rng):
    images = _images(rng)
    got = RandomSobel().transform_images(tf.constant(images), {"apply": tf.constant([True, False, True])})
    np.testing.assert_allclose(got[0], numpy_sobel(images[0]), atol=2e-3)  # luma weights rounded
    np.testing.assert_allclose(got[1], images[1])
    np.testing.assert_allclose(got[2], numpy_sobel(images[2]), atol=2e-3)
    # A vertical step edge of height 1: |gx| = 4 at the two columns beside it, magnitude 1/sqrt(2).
    step = np.zeros((1, 6, 6, 3), np.float32)
    step[:, :, 3:] = 1.0
    edges = RandomSobel().transform_images(tf.constant(step), {"apply": tf.constant([True])}).numpy()
    # (the luma weights sum to 0.9999, hence the tolerance)
    np.testing.assert_allclose(edges[0, :, 2:4, 0], 1 / np.sqrt(2), rtol=2e-4)
    np.testing.assert_allclose(edges[0, :, [0, 5], 0], 0.0, atol=1e-5)


def test_noise_equals_numpy(rng):
    images = _images(rng)
    noise = rng.normal(size=images.shape).astype(np.float32)
    sigma = np.array([0.0, 0.1, 0.5], np.float32)
    got = RandomGaussianNoise().transform_images(tf.constant(images), {"sigma": sigma, "noise": noise})
    np.testing.assert_allclose(got, np.clip(images + sigma[:, None, None, None] * noise, 0, 1), rtol=1e-6)


def test_rotation_equals_numpy(rng):
    images = _images(rng, b=4)
    got = RandomRotation90().transform_images(tf.constant(images), {"quarter_turns": tf.constant([0, 1, 2, 3])})
    for b in range(4):
        np.testing.assert_array_equal(got[b], np.rot90(images[b], k=b))


# --- eager == tf.function == XLA for one seed ------------------------------------------------

@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomCutout(seed=1),
        lambda: RandomSobel(probability=0.5, seed=1),
        lambda: RandomGaussianNoise(seed=1),
        lambda: RandomRotation90(seed=1),
        # Crop, colour and blur compile in their own tests; the common crop's sampler is the
        # slow part of an XLA compile (40 s), so it runs under -m large.
        lambda: ComposedAugment(8, ("rotate", "cutout", "noise", "sobel"), common_crop=False, seed=1),
        pytest.param(
            lambda: ComposedAugment(8, ("crop", "color", "blur", "rotate"), asymmetric=True, seed=1),
            marks=pytest.mark.large,
        ),
    ],
)
def test_eager_function_and_xla_agree(rng, make):
    images = _images(rng, b=4, size=12)
    layer = make()
    eager = layer(images, seed=SEED).numpy()
    fn = tf.function(lambda x: layer(x, seed=SEED))
    xla = tf.function(lambda x: layer(x, seed=SEED), jit_compile=True)
    np.testing.assert_allclose(fn(images).numpy(), eager, atol=1e-5)
    np.testing.assert_allclose(xla(images).numpy(), eager, atol=1e-4)
    size = getattr(layer, "image_size", 12)  # the single layers keep the input's size
    assert eager.shape == (4, size, size, 3)
    assert 0.0 <= eager.min() and eager.max() <= 1.0
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


# --- statistics of the draws over 10,000 images ---------------------------------------------

def test_rotation_angles_uniform():
    ref = tf.zeros([N, 1, 1, 3])
    turns = RandomRotation90().get_random_transformation(ref, seed=SEED)["quarter_turns"].numpy()
    for k in range(4):
        assert abs(np.mean(turns == k) - 0.25) < P_BOUND
    turns = RandomRotation90(angles=(90, 270)).get_random_transformation(ref, seed=SEED)["quarter_turns"].numpy()
    assert set(np.unique(turns)) == {1, 3} and abs(np.mean(turns == 1) - 0.5) < P_BOUND


def test_noise_draws():
    z = standard_normal(SEED, [N]).numpy()
    from math import erf
    x = np.sort(z)
    cdf = 0.5 * (1 + np.vectorize(erf)(x / np.sqrt(2)))
    assert np.max(np.abs(np.arange(1, N + 1) / N - cdf)) < KS_BOUND
    t = RandomGaussianNoise(sigma_range=(0.02, 0.2), probability=0.7).get_random_transformation(
        tf.zeros([N, 1, 1, 3]), seed=SEED
    )
    sigma = t["sigma"].numpy()
    assert abs(np.mean(sigma > 0) - 0.7) < P_BOUND
    assert ks_to_uniform(sigma[sigma > 0], 0.02, 0.2) < KS_BOUND * 1.2


def test_cutout_draws():
    t = RandomCutout(size_range=(0.2, 0.6), probability=0.6).get_random_transformation(
        tf.zeros([N, 10, 20, 3]), seed=SEED
    )
    sizes, centers = t["sizes"].numpy(), t["centers"].numpy()
    assert abs(np.mean(sizes > 0) - 0.6) < P_BOUND
    assert ks_to_uniform(sizes[sizes > 0], 2.0, 6.0) < KS_BOUND * 1.2  # of the shorter side, 10
    assert ks_to_uniform(centers[:, 0], 0, 10) < KS_BOUND and ks_to_uniform(centers[:, 1], 0, 20) < KS_BOUND


def test_sobel_probability():
    t = RandomSobel(probability=0.3).get_random_transformation(tf.zeros([N, 1, 1, 3]), seed=SEED)
    assert abs(np.mean(t["apply"].numpy()) - 0.3) < P_BOUND


# --- compositions -------------------------------------------------------------------------

def test_asymmetric_pairs_share_the_common_crop(rng):
    images = _images(rng, b=4, size=16)
    layer = ComposedAugment(8, ("color", "rotate"), asymmetric=True, seed=3)
    targeted, identity = layer(images).numpy(), layer(images).numpy()
    # The identity branch is exactly the common crop: the same crop without stages.
    bare = ComposedAugment(8, (), asymmetric=True, seed=3)
    np.testing.assert_array_equal(identity, bare(images).numpy())
    np.testing.assert_array_equal(bare(images).numpy(), identity)  # second call: same crop
    assert not np.allclose(targeted, identity)
    # The next pair draws a new common crop.
    assert not np.allclose(layer(images).numpy(), targeted)
    assert not np.allclose(layer(images).numpy(), identity)
    # Explicit seed: the pair's seed; branch names the view.
    np.testing.assert_array_equal(layer(images, seed=SEED, branch=1), bare(images, seed=SEED, branch=1))


def test_symmetric_views_differ_and_order_matters(rng):
    images = _images(rng, b=4, size=16)
    layer = ComposedAugment(8, ("crop", "color"), seed=3)
    assert not np.allclose(layer(images).numpy(), layer(images).numpy())
    a = ComposedAugment(8, ("noise", "sobel"), common_crop=False)(images, seed=SEED).numpy()
    b = ComposedAugment(8, ("sobel", "noise"), common_crop=False)(images, seed=SEED).numpy()
    assert not np.allclose(a, b)
    # Sobel last: the output is an edge map (three equal channels).
    np.testing.assert_allclose(a[..., 0], a[..., 2])


def test_bad_arguments():
    with pytest.raises(ValueError, match="transforms=\\('crop', 'jpeg'\\)"):
        ComposedAugment(8, ("crop", "jpeg"))
    with pytest.raises(ValueError, match="angles"):
        RandomRotation90(angles=(45,))
    with pytest.raises(ValueError, match="square"):
        RandomRotation90().transform_images(tf.zeros([1, 4, 6, 3]), {"quarter_turns": tf.constant([1])})


def test_asymmetric_pairs_in_a_traced_step(rng):
    """As in SimCLR.train_step: two calls in one tf.function are (targeted, identity)."""
    images = _images(rng, b=4, size=16)
    targeted_layer = ComposedAugment(8, ("rotate", "noise"), asymmetric=True, seed=9)
    bare_layer = ComposedAugment(8, (), asymmetric=True, seed=9)
    step = tf.function(lambda layer, x: (layer(x), layer(x)))
    for _ in range(2):  # two steps: the second pair is again (targeted, identity)
        targeted, identity = step(targeted_layer, images)
        common, common_again = step(bare_layer, images)
        np.testing.assert_array_equal(common.numpy(), common_again.numpy())
        np.testing.assert_array_equal(identity.numpy(), common.numpy())
        assert not np.allclose(targeted.numpy(), common.numpy())
