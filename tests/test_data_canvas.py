"""Images of several sizes reach the model at native resolution, in a padded canvas with sizes.

The host only decodes (and shrinks an image whose longer side exceeds the canvas); the model's
augmentation crops every view from the native pixels (tests/test_augment_canvas.py).
"""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from simclr_tf import SimCLRAugment
from simclr_tf.data import from_directory, get_dataset, load_tfds
from simclr_tf.data.decode import decode_native, default_canvas_size
from tests.helpers.tiny import tiny_model


def _write(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    encode = tf.io.encode_png if path.endswith(".png") else tf.io.encode_jpeg
    tf.io.write_file(path, encode(image))


def test_default_canvas_holds_imagenet_photos_natively():
    assert default_canvas_size(224) == 512 and default_canvas_size(32) == 74


def test_folder_yields_native_pixels_in_a_canvas(tmp_path):
    rng = np.random.default_rng(0)
    originals = {
        "a/0.png": rng.integers(0, 256, (30, 17, 3), np.uint8),  # portrait, fits
        "a/1.png": rng.integers(0, 256, (9, 37, 3), np.uint8),  # as wide as the canvas
        "b/0.png": rng.integers(0, 256, (80, 60, 3), np.uint8),  # too large: shrunk to 37
    }
    for name, image in originals.items():
        _write(str(tmp_path / name), image)
    (images, labels), = list(from_directory(str(tmp_path), 3, 16, shuffle=False))
    canvas, sizes = images["image"].numpy(), images["image_size"].numpy()
    assert canvas.shape == (3, 37, 37, 3) and canvas.dtype == np.uint8  # 37 = 16 * 16 / 7 up
    np.testing.assert_array_equal(sizes, [[30, 17], [9, 37], [37, 28]])  # 60 * 37 / 80 = 27.75
    np.testing.assert_array_equal(labels, [0, 0, 1])
    for k, name in enumerate(["a/0.png", "a/1.png"]):  # native: every pixel as decoded
        np.testing.assert_array_equal(canvas[k, :sizes[k, 0], :sizes[k, 1]], originals[name])
    shrunk = tf.image.resize(originals["b/0.png"], [37, 28], method="area").numpy()
    assert np.max(np.abs(canvas[2, :37, :28] - np.round(shrunk))) <= 1
    for k, (h, w) in enumerate(sizes):  # zeros after each image
        assert canvas[k, h:].max(initial=0) == 0 and canvas[k, :, w:].max(initial=0) == 0


def test_folder_batches_equal_a_per_image_reference_byte_for_byte(tmp_path, monkeypatch):
    """The pipeline (chunks decoded concurrently, each image padded once as it is batched)
    yields exactly what decoding each file alone and padding it into a zero canvas gives,
    batch by batch, with the corrupt file skipped and named; `load_arrays` too."""
    from simclr_tf.data import directory, load_arrays

    monkeypatch.setattr(directory, "_CHUNK", 3)  # several chunks, the corrupt file inside one
    rng = np.random.default_rng(4)
    sizes = [(30, 17), (9, 37), (37, 37), (1, 1), (80, 60), (20, 25), (12, 33), (37, 5)]
    files = []
    for i, (h, w) in enumerate(sizes):
        files.append(str(tmp_path / "data" / f"c{i % 2}" / f"{i}.jpg"))
        _write(files[-1], rng.integers(0, 256, (h, w, 3), np.uint8))
    corrupt = str(tmp_path / "data" / "c0" / "1b.jpg")  # the middle of the first chunk
    with open(corrupt, "wb") as f:
        f.write(open(files[2], "rb").read()[:100])
    canvas = 37  # default_canvas_size(16)

    def reference(path):
        """Decoded alone (libjpeg's scaled decode and the area filter for the one image larger
        than the canvas), then put into the top-left of a zero canvas."""
        encoded = tf.io.read_file(path)
        image = tf.io.decode_jpeg(encoded, channels=3).numpy()
        if max(image.shape[:2]) > canvas:
            image = decode_native(encoded, 3, canvas, tf.io.decode_jpeg).numpy()
        padded = np.zeros((canvas, canvas, 3), np.uint8)
        padded[:image.shape[0], :image.shape[1]] = image
        return padded, image.shape[:2]

    order = sorted(files, key=lambda f: (os.path.dirname(f), os.path.basename(f)))
    expected = [reference(f) for f in order]
    labels = [int(os.path.basename(os.path.dirname(f))[1]) for f in order]
    ds = from_directory(str(tmp_path / "data"), 3, 16, shuffle=False, skip_corrupt=True)
    assert ds.element_spec == (
        {"image": tf.TensorSpec((3, canvas, canvas, 3), tf.uint8),
         "image_size": tf.TensorSpec((3, 2), tf.int32)},
        tf.TensorSpec((3,), tf.int32))
    batches = list(ds)
    assert len(batches) == 2  # 8 good files, batches of 3, the remainder dropped
    for b, (images, y) in enumerate(batches):
        want = expected[3 * b:3 * b + 3]
        np.testing.assert_array_equal(images["image"].numpy(), np.stack([e[0] for e in want]))
        np.testing.assert_array_equal(images["image_size"].numpy(), [e[1] for e in want])
        np.testing.assert_array_equal(y.numpy(), labels[3 * b:3 * b + 3])
    arrays, array_labels = load_arrays(f"dir:{tmp_path / 'data'}", "", 16, skip_corrupt=True)
    np.testing.assert_array_equal(arrays["image"], np.stack([e[0] for e in expected]))
    np.testing.assert_array_equal(arrays["image_size"], [e[1] for e in expected])
    np.testing.assert_array_equal(array_labels, labels)
    with pytest.raises(tf.errors.InvalidArgumentError, match="image file .*1b.jpg: not a readable"):
        for _ in from_directory(str(tmp_path / "data"), 3, 16, shuffle=False):
            pass


def test_large_jpeg_uses_the_scaled_decode():
    # A smooth 400 x 300 JPEG into a 96 canvas: libjpeg decodes at 1/4 (100 x 75, the smallest
    # scale whose longer side stays >= 96), then the area filter; close to the full decode.
    y, x = np.mgrid[0:300, 0:400]
    image = np.stack([x * 255 // 400, y * 255 // 300, (x + y) * 255 // 700], -1).astype(np.uint8)
    encoded = tf.io.encode_jpeg(image, quality=95)
    out = decode_native(encoded, 3, 96, lambda e: tf.io.decode_image(e, channels=3)).numpy()
    assert out.shape == (72, 96, 3)
    full = tf.image.resize(tf.io.decode_jpeg(encoded), [72, 96], method="area").numpy()
    assert np.mean(np.abs(out.astype(float) - full)) < 2.0


def test_mock_imagenet_yields_canvases():
    with tfds.testing.mock_data(num_examples=8):
        ds, info = load_tfds("imagenet2012", "train", 4, 24, with_info=True)
        images, labels = next(iter(ds))
    assert images["image"].shape == (4, 55, 55, 3) and info.image_shape == (55, 55, 3)
    sizes = images["image_size"].numpy()
    assert sizes.min() >= 1 and sizes.max() <= 55 and labels.shape == (4,)


def test_pretraining_on_a_folder_of_several_sizes(tmp_path):
    rng = np.random.default_rng(1)
    for i, (h, w) in enumerate([(30, 40), (40, 18), (20, 20), (12, 40)]):
        _write(str(tmp_path / "c" / f"{i}.png"), rng.integers(0, 256, (h, w, 3), np.uint8))
    ds = get_dataset(f"dir:{tmp_path}", "train", 4, 16, shuffle=False)
    model = tiny_model(augment=SimCLRAugment(16, seed=0), num_classes=2)
    model.compile(optimizer="sgd")
    before = [w.numpy() for w in model.encoder.trainable_weights]
    model.fit(ds, epochs=1, verbose=0)
    changed = [not np.array_equal(a, w.numpy()) for a, w in
               zip(before, model.encoder.trainable_weights)]
    # (SGD's default 0.01 moves about half of them above float32 rounding in one step.)
    assert changed[0] and sum(changed) > len(changed) // 3, "a step on canvases trains the encoder"
    (images, _), = list(ds)
    features = model(images)["features"].numpy()  # the evaluation crop of each image's centre
    # Each equals the same model on that image alone, unpadded: the canvas' padding and the
    # other images' sizes play no part.
    for k, (h, w) in enumerate(images["image_size"].numpy()):
        alone = images["image"][k:k + 1, :h, :w]
        np.testing.assert_allclose(features[k], model(alone)["features"][0].numpy(),
                                   rtol=1e-4, atol=1e-5, err_msg=f"image {k} ({h}x{w})")


def test_arrays_of_several_sizes_are_canvases_for_features_and_fine_tuning(tmp_path):
    from simclr_tf.data import load_arrays, num_images, take
    from simclr_tf.protocols.features import extract_features
    from simclr_tf.protocols.recipe import training_dataset

    rng = np.random.default_rng(2)
    for i, (h, w) in enumerate([(30, 40), (40, 18), (20, 20)]):
        _write(str(tmp_path / "k" / f"{i}.png"), rng.integers(0, 256, (h, w, 3), np.uint8))
    images, labels = load_arrays(f"dir:{tmp_path}", "train", 16)
    assert images["image"].shape == (3, 37, 37, 3) and num_images(images) == 3
    np.testing.assert_array_equal(images["image_size"], [[28, 37], [37, 17], [20, 20]])
    np.testing.assert_array_equal(take(images, [2])["image_size"], [[20, 20]])
    model = tiny_model(augment=SimCLRAugment(16, seed=0))
    model.build((None, 16, 16, 3))
    # Features of the evaluation crop of each image's own centre, batch by batch or at once.
    features = extract_features(model, images, batch_size=2)
    expected = model({k: tf.constant(v) for k, v in images.items()})["features"].numpy()
    np.testing.assert_allclose(features, expected, atol=1e-5)
    dataset, batch_size, num_examples = training_dataset((images, labels), 2)
    element, _ = next(iter(dataset))
    assert element["image"].shape == (2, 37, 37, 3) and (batch_size, num_examples) == (2, 3)


def test_pretrain_command_on_a_folder_logs_views_and_runs_knn(tmp_path):
    """The training command on images of several sizes: canvases into build, the view summary,
    the kNN monitor's in-memory bank (canvas arrays) and fit."""
    from tests.test_evaluation_modes import tiny_config
    from simclr_tf.train import pretrain

    rng = np.random.default_rng(3)
    for c in ("x", "y"):
        for i, (h, w) in enumerate([(30, 40), (40, 18), (20, 20), (12, 40)]):
            _write(str(tmp_path / "data" / c / f"{i}.png"), rng.integers(0, 256, (h, w, 3), np.uint8))
    config = tiny_config()
    config.dataset, config.train_split, config.eval_split = f"dir:{tmp_path / 'data'}", "", ""
    config.batch_size, config.num_train_examples, config.epochs = 4, 8, 1
    config.knn_every_epochs, config.knn_num_examples, config.log_images = 1, 8, True
    model, summary = pretrain(config, str(tmp_path / "work"))
    history = open(str(tmp_path / "work" / "history.csv")).read()
    assert "knn_top1" in history and model.built
    assert os.listdir(str(tmp_path / "work" / "tensorboard" / "views"))
