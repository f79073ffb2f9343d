"""The layers in every runtime they meet: eager, tf.function, XLA, tf.data, MirroredStrategy."""

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.augment import RandomColorDistortion
from simclr_tf.augment import RandomFlipLeftRight
from simclr_tf.augment import RandomGaussianBlur
from simclr_tf.augment import RandomResizedCrop
from simclr_tf.augment import SimCLRAugment


def _images(seed=0, shape=(4, 48, 40, 3)):
    return tf.random.stateless_uniform(shape, seed=[seed, 1])


def _modes(fn):
    return {
        "eager": fn,
        "tf.function": tf.function(fn),
        "xla": tf.function(fn, jit_compile=True),
    }


@pytest.mark.parametrize(
    "factory",
    [
        lambda: SimCLRAugment.imagenet(40),
        lambda: RandomResizedCrop(24),
        lambda: RandomFlipLeftRight(),
        lambda: RandomColorDistortion(),
        lambda: RandomGaussianBlur(),
    ],
    ids=[
        "SimCLRAugment",
        "RandomResizedCrop",
        "RandomFlipLeftRight",
        "RandomColorDistortion",
        "RandomGaussianBlur",
    ],
)
def test_injected_transformation_same_in_every_mode(factory):
    layer = factory()
    images = _images()
    transformation = layer.get_random_transformation(images, seed=[3, 4])
    outputs = {
        name: fn(images, transformation).numpy()
        for name, fn in _modes(lambda x, t: layer.transform_images(x, t)).items()
    }
    np.testing.assert_allclose(outputs["tf.function"], outputs["eager"], atol=1e-5)
    np.testing.assert_allclose(outputs["xla"], outputs["eager"], atol=1e-5)


def test_same_seed_same_views_in_every_mode():
    # Each mode gets a fresh layer with the same seed: the random draws must agree too (the
    # integer-based uniforms on non-negative seeds; float draws would differ under XLA).
    images = tf.cast(_images() * 255.0, tf.uint8)
    outputs, layers, functions = {}, {}, {}
    for name in ("eager", "tf.function", "xla"):
        layers[name] = layer = SimCLRAugment.imagenet(40, seed=11)
        functions[name] = _modes(lambda x: (layer(x), layer(x)))[name]
        outputs[name] = [v.numpy() for v in functions[name](images)]
    for name in ("tf.function", "xla"):
        for view, expected in zip(outputs[name], outputs["eager"]):
            np.testing.assert_allclose(view, expected, atol=1e-5, err_msg=name)
    # Two calls in one compiled step differ, and so does the next step: the seed state advances
    # inside the XLA-compiled function, once per call.
    first, second = outputs["xla"]
    assert np.abs(first - second).mean() > 0.01
    third, _ = functions["xla"](images)
    assert np.abs(first - third.numpy()).mean() > 0.01
    np.testing.assert_array_equal(layers["xla"].seed_generator.state.numpy(), [11, 4])


def test_tf_data_map():
    images = tf.cast(_images(shape=(8, 40, 40, 3)) * 255.0, tf.uint8)
    layer = SimCLRAugment.cifar(seed=2)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(4).map(layer)
    epoch1 = [batch.numpy() for batch in dataset]
    epoch2 = [batch.numpy() for batch in dataset]
    assert [batch.shape for batch in epoch1] == [(4, 32, 32, 3)] * 2
    assert all(0.0 <= batch.min() and batch.max() <= 1.0 for batch in epoch1)
    assert np.abs(epoch1[0] - epoch2[0]).mean() > 0.01  # the generator advances across epochs
    # The same seed, eagerly, gives the pipeline's first batch.
    np.testing.assert_allclose(SimCLRAugment.cifar(seed=2)(images[:4]), epoch1[0], atol=1e-5)
    # Per-example maps (rank 3) and parallel calls work too.
    singles = tf.data.Dataset.from_tensor_slices(images).map(layer, num_parallel_calls=2)
    assert [tuple(x.shape) for x in singles] == [(32, 32, 3)] * 8


def test_tf_data_parallel_map_with_explicit_seeds():
    # One image eight times: views differ only through the per-element seeds.
    images = tf.tile(tf.cast(_images(shape=(1, 40, 40, 3)) * 255.0, tf.uint8), [8, 1, 1, 1])
    layer = SimCLRAugment.cifar()
    dataset = tf.data.Dataset.from_tensor_slices(images).enumerate()
    dataset = dataset.map(
        lambda i, x: layer(x, seed=tf.stack([7, i])), num_parallel_calls=4, deterministic=True
    )
    views = np.stack([view.numpy() for view in dataset])
    expected = np.stack([layer(images[i], seed=[7, i]) for i in range(8)])
    np.testing.assert_allclose(views, expected, atol=1e-5)
    distances = np.abs(views[:, None] - views[None]).mean(axis=(2, 3, 4))
    assert np.all(distances[~np.eye(8, dtype=bool)] > 1e-3)


def test_mirrored_strategy_views_differ_across_calls_and_replicas(two_replicas):
    strategy = two_replicas
    with strategy.scope():
        layer = SimCLRAugment.imagenet(32, seed=5)
    # Both replicas see the same images, so any difference between them is in the draws.
    images = _images(shape=(4, 40, 40, 3))

    @tf.function
    def step():
        def replica_fn():
            return layer(images), layer(images)

        return strategy.run(replica_fn)

    view1, view2 = step()
    v1 = [t.numpy() for t in strategy.experimental_local_results(view1)]
    v2 = [t.numpy() for t in strategy.experimental_local_results(view2)]
    assert np.abs(v1[0] - v2[0]).mean() > 0.01  # two views in one step
    assert np.abs(v1[0] - v1[1]).mean() > 0.01  # two replicas
    assert np.abs(v2[0] - v2[1]).mean() > 0.01
    # The state advanced once per call, in step on both replicas' copies.
    for state in strategy.experimental_local_results(layer.seed_generator.state.value):
        np.testing.assert_array_equal(state.numpy(), [5, 2])
