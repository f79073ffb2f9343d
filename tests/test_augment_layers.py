"""The augmentation layers as users call them: inputs, outputs, seeds, evaluation path, config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.augment import CenterCropResize
from simclr_tf.augment import RandomColorDistortion
from simclr_tf.augment import RandomFlipLeftRight
from simclr_tf.augment import RandomGaussianBlur
from simclr_tf.augment import RandomResizedCrop
from simclr_tf.augment import SimCLRAugment
from simclr_tf.visualize import views_figure, visualize_views
from tests.test_case import run_keras_saving_test
from tests.test_case import run_serialization_test


def _uint8(rng, *shape):
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize(
    "shape,dtype",
    [
        ((4, 40, 48, 3), "uint8"),
        ((4, 40, 48, 1), "uint8"),
        ((4, 24, 24, 3), "float32"),
        ((40, 48, 3), "uint8"),
    ],
)
def test_output_shape_dtype_range(rng, shape, dtype):
    images = _uint8(rng, *shape) if dtype == "uint8" else rng.random(shape, dtype=np.float32)
    augment = SimCLRAugment(32, seed=0)
    for training in (True, False):
        out = augment(images, training=training)
        assert out.dtype == tf.float32
        assert tuple(out.shape) == shape[:-3] + (32, 32, 3)
        assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0


def test_uint8_and_float_inputs_agree(rng):
    images = _uint8(rng, 2, 36, 36, 3)
    a = SimCLRAugment(32, seed=5)(images)
    b = SimCLRAugment(32, seed=5)(images.astype(np.float32) / 255.0)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_one_channel_is_tiled(rng):
    gray = _uint8(rng, 2, 36, 36, 1)
    a = SimCLRAugment(32, seed=5)(gray)
    b = SimCLRAugment(32, seed=5)(np.repeat(gray, 3, axis=-1))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_parameters_and_views_differ_per_image():
    # One image repeated: any difference inside the batch comes from per-image parameters.
    images = tf.tile(tf.random.stateless_uniform([1, 64, 64, 3], seed=[1, 2]), [16, 1, 1, 1])
    augment = SimCLRAugment.imagenet(64, seed=0)
    t = augment.get_random_transformation(images)
    assert len(np.unique(t["crop"]["boxes"].numpy(), axis=0)) > 12
    assert len(np.unique(t["color"]["order"].numpy(), axis=0)) > 8
    assert len(np.unique(t["blur"]["sigma"].numpy())) == 16
    assert len(np.unique(t["color"]["brightness"].numpy())) == 16
    views = augment.transform_images(images, t).numpy()
    distances = np.abs(views[:, None] - views[None]).mean(axis=(2, 3, 4))
    assert np.all(distances[~np.eye(16, dtype=bool)] > 1e-3)


def test_seeded_views_repeat_and_calls_differ(rng):
    images = _uint8(rng, 4, 40, 40, 3)
    first, second = SimCLRAugment(32, seed=7), SimCLRAugment(32, seed=7)
    a1, a2 = first(images), first(images)
    b1, b2 = second(images), second(images)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert float(tf.reduce_mean(tf.abs(a1 - a2))) > 0.01
    c1 = SimCLRAugment(32, seed=8)(images)
    assert float(tf.reduce_mean(tf.abs(a1 - c1))) > 0.01


def test_explicit_seed_overrides_generator(rng):
    images = tf.constant(_uint8(rng, 3, 40, 40, 3), tf.float32) / 255.0
    augment = SimCLRAugment(32, seed=1)
    t1 = augment.get_random_transformation(images, seed=[4, 2])
    t2 = augment.get_random_transformation(images, seed=[4, 2])
    tf.nest.map_structure(np.testing.assert_array_equal, t1, t2)


def test_evaluation_path(rng):
    images = rng.random((2, 64, 80, 3), dtype=np.float32)
    augment = SimCLRAugment(48, interpolation="bilinear", seed=0)
    out = augment(images, training=False)
    # 0.875 of the shorter side: 56 px, centred, (64 - 56 + 1) // 2 = 4, (80 - 56 + 1) // 2 = 12.
    expected = tf.image.resize(images[:, 4:60, 12:68], (48, 48), "bilinear")
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_allclose(
        CenterCropResize(48, interpolation="bilinear")(images), expected, atol=1e-5
    )
    # No crop at 32 px or less: a 32 px image comes back as it is.
    small = rng.random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(SimCLRAugment.cifar(seed=0)(small, training=False), small, atol=1e-6)
    np.testing.assert_allclose(
        SimCLRAugment(32, center_crop_fraction=0.5)(small, training=False),
        tf.clip_by_value(tf.image.resize(small[:, 8:24, 8:24], (32, 32), "bicubic"), 0.0, 1.0),
        atol=2e-3,
    )


@pytest.mark.parametrize(
    "layer",
    [RandomFlipLeftRight(), RandomColorDistortion(), RandomGaussianBlur()],
    ids=lambda l: type(l).__name__,
)
def test_stages_are_identity_when_not_training(rng, layer):
    images = rng.random((2, 40, 40, 3), dtype=np.float32)
    np.testing.assert_array_equal(layer(images, training=False), images)


def test_disabled_stages(rng):
    images = tf.constant(rng.random((4, 32, 32, 3), dtype=np.float32))
    augment = SimCLRAugment(32, crop=False, flip=False, color_distort=False, blur=False, seed=0)
    t = augment.get_random_transformation(images)
    assert set(t) == {"crop"}
    np.testing.assert_allclose(augment(images), images, atol=1e-6)
    # Without the crop a non-square image is resized whole.
    wide = rng.random((2, 20, 40, 3), dtype=np.float32)
    augment = SimCLRAugment(
        16, crop=False, flip=False, color_distort=False, blur=False, interpolation="bilinear"
    )
    np.testing.assert_allclose(augment(wide), tf.image.resize(wide, (16, 16), "bilinear"), atol=1e-5)
    assert set(SimCLRAugment.cifar(seed=0).get_random_transformation(images)) == {
        "crop",
        "flip",
        "color",
    }
    assert set(SimCLRAugment.imagenet(32).get_random_transformation(images)) == {
        "crop",
        "flip",
        "color",
        "blur",
    }


def test_composition_is_the_stages_in_order(rng):
    # The composed layer equals its stages run one after the other on the same parameters.
    images = tf.constant(rng.random((4, 48, 40, 3), dtype=np.float32))
    augment = SimCLRAugment.imagenet(40, seed=0)
    t = augment.get_random_transformation(images)
    expected = RandomResizedCrop(40).transform_images(images, t["crop"])
    expected = RandomFlipLeftRight().transform_images(expected, t["flip"])
    expected = RandomColorDistortion().transform_images(expected, t["color"])
    expected = RandomGaussianBlur().transform_images(expected, t["blur"])
    np.testing.assert_allclose(augment.transform_images(images, t), expected, atol=1e-5)


def test_presets():
    cifar, imagenet = SimCLRAugment.cifar(), SimCLRAugment.imagenet()
    assert (cifar.image_size, cifar.color_jitter_strength, cifar.blur) == (32, 0.5, False)
    assert (imagenet.image_size, imagenet.color_jitter_strength, imagenet.blur) == (224, 1.0, True)
    custom = SimCLRAugment.cifar(24, blur=True, brightness_mode="simclrv1")
    assert (custom.image_size, custom.blur, custom.color_distortion.brightness_mode) == (
        24,
        True,
        "simclrv1",
    )


def test_symbolic_call_and_output_shape():
    inputs = keras.Input((40, 48, 3), dtype="uint8")
    outputs = SimCLRAugment(32)(inputs)
    assert tuple(outputs.shape) == (None, 32, 32, 3)
    assert SimCLRAugment(32).compute_output_shape((None, 40, 48, 1)) == (None, 32, 32, 3)
    assert RandomGaussianBlur().compute_output_shape((None, 40, 48, 1)) == (None, 40, 48, 3)


@pytest.mark.parametrize(
    "layer",
    [
        SimCLRAugment.cifar(seed=3, area_range=(0.2, 1.0), center_crop_fraction=0.9),
        RandomResizedCrop(24, aspect_ratio_range=(0.5, 2.0), interpolation="bilinear", seed=1),
        RandomFlipLeftRight(probability=0.3, seed=2),
        RandomColorDistortion(0.7, 0.5, 0.1, "simclrv1", random_order=False, seed=4),
        RandomGaussianBlur(0.25, (0.5, 1.5), kernel_radius=2, seed=5),
        CenterCropResize(24, crop_fraction=0.75),
    ],
    ids=lambda l: type(l).__name__,
)
def test_serialization_round_trip(rng, layer):
    clone = run_serialization_test(
        layer,
        rng.random((2, 32, 32, 3), dtype=np.float32),
        call_kwargs={} if isinstance(layer, CenterCropResize) else {"training": False},
    )
    assert type(clone) is type(layer)


def test_keras_saving_round_trip(rng, tmp_path):
    model = keras.Sequential([keras.Input((36, 36, 3)), SimCLRAugment.cifar(seed=3)])
    images = rng.random((2, 36, 36, 3), dtype=np.float32)
    restored = run_keras_saving_test(model, images, tmp_path, call_kwargs={"training": False})
    assert restored.layers[0].get_config() == model.layers[0].get_config()


@pytest.mark.parametrize(
    "images,message",
    [
        (np.zeros((2, 8, 8, 3, 1), np.uint8), "rank"),
        (np.zeros((8, 8), np.uint8), "rank"),
        (np.zeros((2, 8, 8, 4), np.uint8), "channels"),
        (np.zeros((2, 8, 8, 2), np.float32), "channels"),
        (np.zeros((2, 8, 8, 3), bool), "numbers"),
        (np.full((2, 8, 8, 3), "a"), "numbers"),
    ],
)
def test_bad_images_raise(images, message):
    for layer in (SimCLRAugment(8), RandomColorDistortion(), CenterCropResize(8)):
        with pytest.raises(ValueError, match=message):
            layer(images)


@pytest.mark.parametrize(
    "factory,message",
    [
        (lambda: SimCLRAugment(0), "image_size"),
        (lambda: SimCLRAugment(-3), "image_size"),
        (lambda: SimCLRAugment(32.0), "image_size"),
        (lambda: CenterCropResize(0), "image_size"),
        (lambda: SimCLRAugment(32, color_jitter_strength=-1), "strength"),
        (lambda: SimCLRAugment(32, brightness_mode="v3"), "brightness_mode"),
        (lambda: SimCLRAugment(32, interpolation="nearest"), "interpolation"),
        (lambda: SimCLRAugment(32, area_range=(0.5, 0.1)), "area_range"),
        (lambda: SimCLRAugment(32, area_range=(0.1, 1.5)), "area_range"),
        (lambda: SimCLRAugment(32, aspect_ratio_range=(0.0, 1.0)), "aspect_ratio_range"),
        (lambda: SimCLRAugment(32, blur_probability=1.5), "probability"),
        (lambda: SimCLRAugment(32, sigma_range=(0.0, 1.0)), "sigma_range"),
        (lambda: SimCLRAugment(32, center_crop_fraction=0.0), "center_crop_fraction"),
        (lambda: SimCLRAugment(32, seed="a"), "seed"),
        (lambda: RandomResizedCrop(32, max_attempts=0), "max_attempts"),
        (lambda: RandomGaussianBlur(kernel_radius=-1), "kernel_radius"),
    ],
)
def test_bad_arguments_raise(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_error_message_names_the_value():
    with pytest.raises(ValueError, match=r"Received: image_size=0"):
        SimCLRAugment(0)
    with pytest.raises(ValueError, match=r"Received: images.shape=\(2, 8, 8, 4\)"):
        SimCLRAugment(8)(np.zeros((2, 8, 8, 4), np.uint8))


def test_visualize_views(rng, tmp_path):
    images = _uint8(rng, 3, 40, 40, 3)
    path = str(tmp_path / "views.png")
    grid = visualize_views(images, SimCLRAugment(24, seed=0), path, num_pairs=2, padding=2)
    png = tf.io.decode_png(tf.io.read_file(path), channels=3).numpy()
    np.testing.assert_array_equal(png, grid)
    # 24-px views enlarged 4x (nearest) to 96-px tiles: a 40-px title band, then 3 rows of 96
    # px with 2 px below each; original + 2 pairs (2 px between views, 4 px before a pair).
    assert png.shape == (40 + 3 * (96 + 2), 2 + 96 + 2 * (4 + 96 + 2 + 96) + 2, 3)
    original = tf.image.resize(images[:1] / 255.0, (24, 24), "bilinear")[0].numpy()
    blocks = np.repeat(np.repeat(original, 4, axis=0), 4, axis=1)
    inner = (slice(2, -2), slice(2, -2))  # the tile's edge pixels may be antialiased
    np.testing.assert_allclose(png[40:136, 2:98][inner] / 255.0, blocks[inner], atol=2 / 255 + 1e-6)
    first, second = png[40:136, 102:198], png[40:136, 200:296]
    assert np.abs(first.astype(int) - second).mean() > 2  # the two views of a pair differ
    assert np.all(png[136:138, 2:98] == 255) and np.all(png[40:136, 98:102] == 255)
    assert (png[:40] < 128).any()  # the titles are drawn in the band above the first row
    fig = views_figure(images, SimCLRAugment(24, seed=0), num_pairs=2, padding=2)
    assert tuple(fig.get_size_inches() * fig.dpi) == (png.shape[1], png.shape[0])
    titles = [ax.get_title() for ax in fig.axes[:5]]
    assert titles == ["original", "pair 1\nview 1", "pair 1\nview 2", "pair 2\nview 1", "pair 2\nview 2"]
    assert all(not ax.get_title() for ax in fig.axes[5:])  # titles on the first row only
    import matplotlib.pyplot as plt

    plt.close(fig)
    with pytest.raises(ValueError, match="num_pairs"):
        visualize_views(images, SimCLRAugment(24), path, num_pairs=0)
    with pytest.raises(ValueError, match="tile_size"):
        visualize_views(images, SimCLRAugment(24), path, tile_size=0)


def test_view_summary_images_are_enlarged(rng, tmp_path):
    """The TensorBoard image of a pair of 24-px views is drawn at 4x (>= 96 px, nearest), and
    drawing it leaves the augmentation's seed state as it was."""
    from types import SimpleNamespace

    from simclr_tf.callbacks import ViewSummary

    augment = SimCLRAugment(24, seed=0)
    augment(_uint8(rng, 2, 24, 24, 3), training=True)  # built, its seed state exists
    before = [v.numpy() for v in augment.variables]
    callback = ViewSummary(str(tmp_path), _uint8(rng, 2, 24, 24, 3))
    callback.set_model(SimpleNamespace(augment=augment))
    callback.on_train_begin()
    callback.on_train_end()
    for a, b in zip(before, augment.variables):  # training's random stream is left alone
        np.testing.assert_array_equal(a, b.numpy())
    (events,) = tf.io.gfile.glob(str(tmp_path / "views" / "events.out.tfevents.*"))
    images = [  # an image summary's tensor: width, height, then one PNG per image
        tf.io.decode_png(png).numpy()
        for event in tf.compat.v1.train.summary_iterator(events)
        for value in event.summary.value
        for png in tf.make_ndarray(value.tensor)[2:]
    ]
    assert len(images) == 2
    # 24-px views, a 1-px gap between them, all 4x: 96 x (24 + 1 + 24) * 4.
    assert images[0].shape == (96, 196, 3)
    assert np.all(images[0][::4, ::4] == images[0][1::4, 1::4])  # nearest: 4x4 blocks
    assert np.all(images[0][:, 96:100] == 255)  # the white gap between the two views
