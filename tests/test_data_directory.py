"""Image folders: class sub-folders and flat folders, mixed sizes, corrupt files, bad input."""

import logging
import os
import re

import functools

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.data import MissingLabelsError, from_directory, list_images, resize_to_square

# These tests check the square host path (canvas_size=0); the canvas path (images at native
# resolution, the default for images of several sizes) is checked in test_data_canvas.py.
from_directory = functools.partial(from_directory, canvas_size=0)


def _write(path, image):
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    encode = tf.io.encode_png if path.endswith(".png") else tf.io.encode_jpeg
    tf.io.write_file(path, encode(np.asarray(image, np.uint8)))
    return path


def _uniform(h, w, value, channels=3):
    return np.full((h, w, channels), value, np.uint8)


@pytest.fixture
def classes(tmp_path):
    """Two classes of uniform images of mixed sizes and formats: class `a` is 40, `b` is 200;
    a grayscale PNG and a nested sub-folder too."""
    root = tmp_path / "classes"
    _write(root / "a" / "1.jpg", _uniform(20, 30, 40))
    _write(root / "a" / "2.PNG", _uniform(50, 17, 40, channels=1))
    _write(root / "a" / "deeper" / "3.png", _uniform(16, 16, 40))
    _write(root / "b" / "1.jpeg", _uniform(9, 70, 200))
    _write(root / "b" / "2.png", _uniform(33, 33, 200))
    (root / "b" / "notes.txt").write_text("not an image, ignored")
    (root / "empty_class").mkdir()
    return str(root)


def test_class_sub_folders(classes):
    files, labels, names = list_images(classes)
    assert names == ("a", "b") and labels == [0, 0, 0, 1, 1]
    assert [os.path.basename(f) for f in files] == ["1.jpg", "2.PNG", "3.png", "1.jpeg", "2.png"]
    ds, info = from_directory(classes, 5, 16, shuffle=False, with_info=True)
    assert info.num_examples == 5 and info.num_classes == 2 and info.image_shape == (16, 16, 3)
    images, y = next(iter(ds))
    assert images.shape == (5, 16, 16, 3) and images.dtype == tf.uint8 and y.dtype == tf.int32
    # Every image, whatever its size, format or channels, keeps its class's colour.
    expected = np.where(y.numpy() == 0, 40, 200)[:, None, None, None]
    assert np.abs(images.numpy().astype(int) - expected).max() <= 2


def test_flat_folder_unlabelled_and_loose_files_ignored_with_labels(tmp_path, caplog):
    flat = tmp_path / "flat"
    for i, (h, w) in enumerate([(10, 30), (40, 20), (16, 16), (64, 48)]):
        _write(flat / f"{i}.{'png' if i % 2 else 'jpg'}", _uniform(h, w, 10 * i + 5))
    ds = from_directory(str(flat), 2, 8, labeled=False, shuffle=False)
    images = np.concatenate([x.numpy() for x in ds])
    assert images.shape == (4, 8, 8, 3)
    np.testing.assert_allclose(images.reshape(4, -1).mean(1), [5, 15, 25, 35], atol=2)
    # The error names what a command-line user can do, and is the one pretraining catches.
    with pytest.raises(MissingLabelsError, match="is flat.*--config.mode=pretrain.*labeled=False"):
        from_directory(str(flat), 2, 8)
    _write(flat / "cls" / "x.png", _uniform(8, 8, 99))
    with caplog.at_level(logging.WARNING):
        files, labels, names = list_images(str(flat), labeled=True)
    assert names == ("cls",) and len(files) == 1 and "4 image files directly in" in caplog.text
    assert len(list_images(str(flat), labeled=False)[0]) == 5  # unlabelled: everything


def test_bmp_gif_webp_and_grayscale(tmp_path):
    """Every format decodes, a GIF to its first frame; channels=1 converts RGB to luma."""
    from PIL import Image  # Pillow comes with matplotlib (a test dependency)

    root = tmp_path / "formats"
    (root / "x").mkdir(parents=True)
    Image.fromarray(_uniform(12, 20, 60)).save(root / "x" / "a.bmp")
    frames = [Image.fromarray(_uniform(10, 10, v)) for v in (100, 250)]
    frames[0].save(root / "x" / "b.GIF", save_all=True, append_images=frames[1:])
    Image.fromarray(_uniform(9, 14, 140)).save(root / "x" / "c.webp", lossless=True)
    rgba = np.concatenate([_uniform(8, 8, 0), _uniform(8, 8, 255, channels=1)], -1)
    rgba[..., 0] = 255  # pure red, opaque
    Image.fromarray(rgba, "RGBA").save(root / "x" / "d.png")
    files, _, _ = list_images(str(root))
    assert [os.path.basename(f) for f in files] == ["a.bmp", "b.GIF", "c.webp", "d.png"]
    rgb = next(iter(from_directory(str(root), 4, 6, shuffle=False)))[0].numpy()
    assert rgb.shape == (4, 6, 6, 3)
    expected = np.array([[60] * 3, [100] * 3, [140] * 3, [255, 0, 0]])[:, None, None]
    np.testing.assert_allclose(rgb, np.broadcast_to(expected, rgb.shape), atol=2)
    gray = next(iter(from_directory(str(root), 4, 6, shuffle=False, channels=1)))[0].numpy()
    assert gray.shape == (4, 6, 6, 1)
    luma = np.array([60, 100, 140, 0.2989 * 255])[:, None, None, None]  # ITU-R 601 weights
    np.testing.assert_allclose(gray, np.broadcast_to(luma, gray.shape), atol=2)


def test_resize_rule_shorter_side_then_centre_crop():
    # 10 x 30: red | green | blue columns; the centre square (columns 10-19) is inside green.
    image = np.zeros((10, 30, 3), np.uint8)
    image[:, :8, 0] = 255
    image[:, 8:22, 1] = 255
    image[:, 22:, 2] = 255
    out = resize_to_square(tf.constant(image), 5).numpy()
    assert out.shape == (5, 5, 3)
    np.testing.assert_array_equal(out, np.broadcast_to([0, 255, 0], (5, 5, 3)))
    same = np.random.default_rng(0).integers(0, 256, (6, 6, 1), dtype=np.uint8)
    np.testing.assert_array_equal(resize_to_square(tf.constant(same), 6).numpy(), same)
    # Upscaling a 2 x 4 image to 4: its centre 2 x 2 (columns 1-2), enlarged bilinearly.
    small = np.arange(8, dtype=np.uint8).reshape(2, 4, 1) * 30
    ref = tf.image.resize(small[:, 1:3].astype(np.float32), [4, 4], method="bilinear")
    np.testing.assert_array_equal(resize_to_square(tf.constant(small), 4), np.round(ref))
    # Shrinking 8 x 12 to 4 by a factor of 2: the mean of each 2 x 2 block of the centre square
    # (columns 2-9), as an area filter must give.
    big = np.random.default_rng(1).integers(0, 256, (8, 12, 3), dtype=np.uint8)
    blocks = big[:, 2:10].astype(np.float64).reshape(4, 2, 4, 2, 3).mean(axis=(1, 3))
    out = resize_to_square(tf.constant(big), 4).numpy().astype(np.float64)
    np.testing.assert_allclose(out, blocks, atol=0.5 + 1e-3)


def test_corrupt_file_is_named(classes):
    bad = os.path.join(classes, "b", "broken.jpg")
    with open(bad, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 definitely not a whole JPEG")
    ds = from_directory(classes, 2, 16, shuffle=False)
    match = "Corrupt or unreadable image file .*broken.jpg.*--config.data.skip_corrupt=True"
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        for _ in ds:
            pass


def test_skip_corrupt_counts_and_logs(classes, caplog):
    good = open(os.path.join(classes, "a", "1.jpg"), "rb").read()
    with open(os.path.join(classes, "a", "truncated.jpg"), "wb") as f:
        f.write(good[: len(good) // 2])
    open(os.path.join(classes, "b", "empty.png"), "wb").close()
    with caplog.at_level(logging.WARNING):
        ds = from_directory(classes, 1, 16, skip_corrupt=True, shuffle=False)
        labels = [int(y[0]) for _, y in ds]
    assert labels == [0, 0, 0, 1, 1]  # the 5 good files, the 2 bad ones skipped
    skipped = [r.getMessage() for r in caplog.records if "Skipped corrupt" in r.getMessage()]
    assert len(skipped) == 2
    assert "truncated.jpg (1 skipped so far" in skipped[0]
    assert "empty.png (2 skipped so far" in skipped[1]


@pytest.mark.parametrize("skip", [True, False])
def test_bad_files_are_each_named(tmp_path, caplog, monkeypatch, skip):
    # Chunks of 2 files: bad are 03 (a chunk's last file), 04 and 05 (a whole chunk) and 09
    # (the very last file).
    from simclr_tf.data import directory

    monkeypatch.setattr(directory, "_CHUNK", 2)
    root = tmp_path / "flat"
    bad = {3, 4, 5, 9}
    for i in range(10):
        if i in bad:
            (root / f"{i:02d}.png").write_bytes(b"\x89PNG broken")
        else:
            _write(root / f"{i:02d}.png", _uniform(6, 6, 10 * i))
    if not skip:
        with pytest.raises(tf.errors.InvalidArgumentError, match="Corrupt or unreadable image file .*03.png"):
            for _ in from_directory(str(root), 1, 6, labeled=False, shuffle=False):
                pass
        return
    with caplog.at_level(logging.WARNING):
        ds = from_directory(str(root), 1, 6, labeled=False, shuffle=False, skip_corrupt=True)
        values = [int(x[0, 0, 0, 0]) for x in ds]
    assert values == [10 * i for i in range(10) if i not in bad]
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Skipped")]
    named = [re.search(r"(\d\d\.png) \((\d) skipped so far", m).groups() for m in skipped]
    assert named == [("03.png", "1"), ("04.png", "2"), ("05.png", "3"), ("09.png", "4")]


def test_error_names_the_first_bad_file_of_a_chunk_and_counts_the_rest(tmp_path):
    root = tmp_path / "flat"
    for i in range(6):
        if i in (1, 2, 4):
            (root / f"{i}.jpg").parent.mkdir(exist_ok=True)
            (root / f"{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
        else:
            _write(root / f"{i}.jpg", _uniform(8, 8, 50))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"image file .*1\.jpg \(and 2 more near it\): not a readable"):
        for _ in from_directory(str(root), 1, 8, labeled=False, shuffle=False):
            pass


def test_order_and_labels_survive_many_chunks(tmp_path, monkeypatch):
    """Chunks decode concurrently, yet the images come out in the records' order (file order
    unshuffled; a seeded shuffle repeats), each with its own label."""
    from simclr_tf.data import directory

    monkeypatch.setattr(directory, "_CHUNK", 3)
    for i in range(17):
        _write(tmp_path / "data" / f"class{i % 2}" / f"{i:02d}.png", _uniform(5 + i % 4, 7, 10 * i))
    files, labels, _ = list_images(str(tmp_path / "data"))
    expected = [int(os.path.basename(f)[:2]) * 10 for f in files]
    ds = from_directory(str(tmp_path / "data"), 1, 5, shuffle=False)
    got = [(int(x[0, 0, 0, 0]), int(y[0])) for x, y in ds]
    assert got == list(zip(expected, labels))
    first = [int(x[0, 0, 0, 0]) for x, _ in from_directory(str(tmp_path / "data"), 1, 5, seed=7)]
    again = [int(x[0, 0, 0, 0]) for x, _ in from_directory(str(tmp_path / "data"), 1, 5, seed=7)]
    assert first == again and sorted(first) == sorted(expected) and first != expected


def test_seeded_shuffle_and_sharding(tmp_path):
    root = tmp_path / "many"
    for i in range(12):
        _write(root / f"{i:02d}.png", _uniform(4 + i, 6, 20 * i))
    values = lambda ds: [int(x[0, 0, 0, 0]) for x in ds]  # noqa: E731
    a = values(from_directory(str(root), 1, 4, labeled=False, seed=3))
    b = values(from_directory(str(root), 1, 4, labeled=False, seed=3))
    assert a == b and sorted(a) == [20 * i for i in range(12)] and a != sorted(a)
    halves = [values(from_directory(str(root), 2, 4, labeled=False, shuffle=False,
                                    input_context=tf.distribute.InputContext(2, i, 2)))
              for i in range(2)]
    assert halves == [[20 * i for i in range(0, 12, 2)], [20 * i for i in range(1, 12, 2)]]


def test_bad_input(tmp_path, classes):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no image files"):
        from_directory(str(tmp_path / "empty"), 2, 8, labeled=False)
    with pytest.raises(ValueError, match="has no image files") as empty:
        from_directory(str(tmp_path / "empty"), 2, 8)  # no images: not a question of labels
    assert not isinstance(empty.value, MissingLabelsError)
    with pytest.raises(ValueError, match="existing folder.*Received: path='.*missing'"):
        from_directory(str(tmp_path / "missing"), 2, 8)
    with pytest.raises(ValueError, match="5 examples.*Received: batch_size=6"):
        from_directory(classes, 6, 8)
    with pytest.raises(ValueError, match="`image_size` is required"):
        from_directory(classes, 2, None)


def test_uneven_shards_are_equalised(tmp_path):
    """7 files over 3 pipelines: 2 each, so every worker yields the same number of batches."""
    for i in range(7):
        _write(tmp_path / f"{i}.png", _uniform(5, 5, 30 * i))
    shards = []
    for i in range(3):
        context = tf.distribute.InputContext(3, i, 3)
        ds = from_directory(str(tmp_path), 3, 5, labeled=False, shuffle=False,
                            input_context=context)
        shards.append([int(x[0, 0, 0, 0]) for x in ds])
    assert shards == [[0, 90], [30, 120], [60, 150]]


@pytest.mark.parametrize("skip", [True, False])
def test_the_training_stream_reports_a_bad_file_in_a_short_epoch(tmp_path, caplog, skip):
    """An epoch of 2 batches of 4 from 6 good files and a bad one (far fewer than a decode
    chunk): the bad file is reported in the first epoch, logged or an error, not dropped
    silently (the decode reports a chunk's bad files at the chunk's end, so the stream decodes
    pass by pass: a pass's last chunk ends with it)."""
    from simclr_tf.data import epochs, get_source

    for i in range(6):
        _write(tmp_path / "flat" / f"{i}.png", _uniform(6 + i, 9, 30 * i))
    (tmp_path / "flat" / "3b.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    source = get_source(f"dir:{tmp_path / 'flat'}", "", 8, labeled=False, skip_corrupt=skip)
    stream = epochs(source, 4, 2, seed=0)
    if not skip:
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"3b\.jpg.*data\.skip_corrupt"):
            for _ in stream.take(2):
                pass
        return
    with caplog.at_level(logging.WARNING):
        shades = sorted({int(x["image"][b, 0, 0, 0]) for x in stream.take(2) for b in range(4)})
    assert shades == [0, 30, 60, 90, 120, 150]
    assert [r.getMessage() for r in caplog.records if "3b.jpg" in r.getMessage()]


def test_sample_images_draws_from_the_whole_folder(tmp_path):
    """A seeded sample of 5 of 40 files (two sorted classes): from both classes, the same for
    the same seed, decoded (canvas) and without labels."""
    from simclr_tf.data import get_source, sample_images

    for i in range(40):
        _write(tmp_path / "data" / f"c{i // 20}" / f"{i:02d}.png", _uniform(4 + i % 3, 5, 5 * i))
    source = get_source(f"dir:{tmp_path / 'data'}", "", 8)
    drawn = [sample_images(source, 5, seed=s) for s in (1, 1, 2)]
    shades = [sorted(int(v) for v in d["image"][:, 0, 0, 0]) for d in drawn]
    assert shades[0] == shades[1] != shades[2] and len(set(shades[0])) == 5
    assert min(shades[0]) < 100 <= max(shades[0])  # both classes (shades 0-95, 100-195)
    np.testing.assert_array_equal(drawn[0]["image_size"][:, 1], 5)
