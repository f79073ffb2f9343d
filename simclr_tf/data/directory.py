"""Image folders: JPEG, PNG, BMP, GIF (first frame) or WebP files of any size, in class
sub-folders or flat.

    path/                            path/
      cat/ a.jpg b.png ...             a.jpg b.png c.jpeg ...   (flat: unlabelled only)
      dog/ c.jpg nested/d.jpg ...

Classes are the sub-folders (sorted by name; label = index), each searched recursively. Decoding
a corrupt file fails inside tf.data, lazily and without naming it. So the (shuffled) records are
decoded in chunks of `_CHUNK`: a small dataset per chunk decodes its files in order and drops
failures (`ignore_errors`), and the positions missing from what it yields name the files that
failed, every one of them. A chunk yields its images one by one, as decoded (never batched
together: a batch of canvases would be one more copy of each), then one last element that
carries the paths of its failed files; a bad file then is an error that names it, raised after
the chunk's good images, or, with `skip_corrupt`, is skipped and logged. Several chunks decode at
once (a parallel, ordered `interleave` taking each chunk whole, so the order is the records'
order), each on one thread. (A dataset per file would name bad files too, but its set-up costs
about as much as decoding a 500 x 375 JPEG; `python -m simclr_tf.benchmark --mode=input`
measures this pipeline against a bare decode.) Images of several sizes leave the chunk unpadded;
they are padded into their canvases when batched (`Source.batch`).
Paths go through `tf.io.gfile`, so `gs://` folders work as well as local ones.
"""

import os

import tensorflow as tf
from absl import logging

from simclr_tf.data.decode import check_canvas_size, decode_native, resize_to_square, with_size
from simclr_tf.data.pipeline import batched, shard_slice
from simclr_tf.data.types import (
    DatasetInfo,
    MissingLabelsError,
    Source,
    check_channels,
    check_positive_int,
)

# What `tf.io.decode_image` reads (file names compared in lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")

# Files per decode chunk: enough to amortise the chunk's small dataset, few enough to bound
# memory and the wait for the first images (the interleave keeps a few chunks in flight per
# core). Measured on 1,024 JPEGs of 500 x 375 -> 512 canvas, batch 64, 5 rounds each, quiet
# 2-core machine (2026-12-03): images/s 3.07-3.11x the reference-style pipeline's at 32,
# 3.13x at 64, 3.40-3.63x at 128, 2.89x at 256 (only 4 chunks per pass of those files: the
# end of a pass, decoded on fewer cores, grows).
_CHUNK = 128


def _is_image(filename):
    return filename.lower().endswith(IMAGE_EXTENSIONS)


def _images_under(folder):
    found = []
    for root, _, files in tf.io.gfile.walk(folder):
        found += [os.path.join(root, f) for f in files if _is_image(f)]
    return sorted(found)


def list_images(path, labeled=True):
    """The image files under `path` and their labels.

    Returns:
        `(files, labels, class_names)`: sorted paths, int labels (None when unlabelled) and the
        class sub-folder names in label order (empty when unlabelled).

    Raises:
        ValueError: no such folder, or no image file in it. `MissingLabelsError` (a ValueError)
            when `labeled` and the folder has no class sub-folders with images.
    """
    if not tf.io.gfile.isdir(path):
        raise ValueError(f"`path` must be an existing folder of images. Received: path={path!r}")
    try:
        entries = sorted(e.rstrip("/") for e in tf.io.gfile.listdir(path))
    except tf.errors.OpError as e:
        raise ValueError(f"The image folder {path!r} cannot be read: {e.message}") from None
    folders = [e for e in entries if tf.io.gfile.isdir(os.path.join(path, e))]
    loose = [os.path.join(path, e) for e in entries if e not in folders and _is_image(e)]
    classes = [(name, _images_under(os.path.join(path, name))) for name in folders]
    classes = [(name, files) for name, files in classes if files]
    if not classes and not loose:
        raise ValueError(
            f"The image folder {path!r} has no image files (looked for "
            f"{', '.join(IMAGE_EXTENSIONS)}, in sub-folders too)."
        )
    if labeled:
        if not classes:
            raise MissingLabelsError(
                f"Labels are needed (labeled=True) but the image folder {path!r} is flat (no class "
                "sub-folders): put each class's images in a sub-folder named after it. Without "
                "labels a folder serves pretraining only (--config.mode=pretrain, whose probe then "
                "stays off; in Python, labeled=False).",
                reason="no class sub-folders",
            )
        if loose:
            logging.warning("%d image files directly in %s are ignored: with labels, only class "
                            "sub-folders count.", len(loose), path)
        files = [f for _, fs in classes for f in fs]
        labels = [i for i, (_, fs) in enumerate(classes) for _ in fs]
        return files, labels, tuple(name for name, _ in classes)
    return loose + [f for _, fs in classes for f in fs], None, ()


def directory_source(path, image_size, *, labeled=True, channels=None, skip_corrupt=False,
                     input_context=None, canvas_size=None):
    """The `Source` behind `from_directory` (see `simclr_tf.data.types.Source`)."""
    if image_size is None:
        raise ValueError(
            "`image_size` is required for an image folder: it sets the canvas (or the square "
            "resize) its images are decoded to. Received: image_size=None"
        )
    image_size = check_positive_int("image_size", image_size)
    canvas_size = check_canvas_size(canvas_size, image_size)
    channels = check_channels(channels) or 3
    files, labels, class_names = list_images(path, labeled)
    logging.info("Image folder %s: %d files, %d classes.", path, len(files), len(class_names))
    total = len(files)
    start, stop, step = shard_slice(total, input_context)
    files = files[start:stop:step]
    records = {"path": files} if not labeled else {"path": files, "label": labels[start:stop:step]}
    records = tf.data.Dataset.from_tensor_slices(records)
    shard = f" (input pipeline {start} of {step})" if step > 1 else ""
    where = f"the image folder {path!r}{shard}"

    side = canvas_size or image_size

    def load(file):
        encoded = tf.io.read_file(file)
        if not canvas_size:
            return resize_to_square(decode_image(encoded, channels), image_size)
        # Unpadded: `Source.batch` pads it into its slot of the batch, the canvas' one copy.
        decode = lambda e: decode_image(e, channels)  # noqa: E731
        return with_size(decode_native(encoded, channels, canvas_size, decode))

    def output(record, image):
        return (image, tf.cast(record["label"], tf.int32)) if labeled else image

    def attempt(position, record):
        return {"position": position, "out": output(record, load(record["path"]))}

    # What the last element of a chunk carries instead of an image (never yielded).
    if canvas_size:
        no_image = with_size(tf.zeros([0, 0, channels], tf.uint8))
    else:
        no_image = tf.zeros([side, side, channels], tf.uint8)

    def decode_chunk(chunk):
        """Decodes a chunk of records in order and yields its images one by one (`out`), then
        one last element (`end`) whose `bad` holds the paths of the chunk's files that did not
        decode: the positions missing from what the decode yielded."""
        paths = chunk["path"]
        n = tf.shape(paths, out_type=tf.int64)[0]
        good = tf.data.Dataset.from_tensor_slices(chunk).enumerate().map(attempt).ignore_errors()
        last = {"position": n, "out": output({k: v[0] for k, v in chunk.items()}, no_image)}
        good = good.concatenate(tf.data.Dataset.from_tensors(last))

        def track(present, el):
            position = el["position"]
            present = tf.tensor_scatter_nd_update(present, position[None, None], [True])
            end = tf.equal(position, n)
            bad = tf.cond(end, lambda: tf.boolean_mask(paths, tf.logical_not(present[:n])),
                          lambda: tf.zeros([0], tf.string))
            if not skip_corrupt:  # stop at the chunk's end; skipped files are counted later
                with tf.control_dependencies([_check_none_bad(bad)]):
                    end = tf.identity(end)
            return present, {"out": el["out"], "end": end, "bad": bad}

        ds = good.scan(tf.zeros([n + 1], tf.bool), track)
        return ds if skip_corrupt else _images(ds)

    def decode(ds):
        # Chunk after chunk, in order (a chunk yields at most _CHUNK + 1 elements, so each
        # block is one whole chunk), several decoding at once.
        ds = ds.batch(_CHUNK).interleave(decode_chunk, block_length=_CHUNK + 1,
                                         num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if skip_corrupt:
            ds = _images(ds.scan(tf.constant(0, tf.int64), _count_skipped(where)))
        return ds

    info = DatasetInfo(
        num_examples=total,
        num_classes=len(class_names),
        class_names=class_names,
        image_shape=(side, side, channels),
    )
    return Source(records, decode, info, len(files), where)


def decode_image(encoded, channels):
    """Any format `IMAGE_EXTENSIONS` names to uint8 `(H, W, channels)`: grayscale tiled to RGB,
    alpha dropped, an animation's first frame. (`tf.io.decode_image` itself decodes BMP, GIF and
    WebP to 3 or 4 channels only.)"""
    if channels == 3:
        return tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.io.decode_image(encoded, channels=0, expand_animations=False)
    image = tf.cond(
        tf.shape(image)[-1] < 3,
        lambda: image[..., :1],
        lambda: tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image[..., :3], tf.float32))),
                        tf.uint8),
    )
    return tf.ensure_shape(image, [None, None, 1])


def _images(ds):
    """The images of a stream of decoded chunks (each chunk's `end` element dropped)."""
    def image(el):
        return tf.logical_not(el["end"])

    def out(el):
        return el["out"]

    return ds.filter(image).map(out)


def _check_none_bad(bad):
    """True when `bad` (a chunk's failed paths) is empty; else an error that names the chunk's
    first bad file and counts the others."""

    def fail():
        more = tf.size(bad) - 1
        message = tf.strings.join([
            "Corrupt or unreadable image file ", bad[0],
            tf.cond(more > 0, lambda: tf.strings.format(" (and {} more near it)", more),
                    lambda: tf.constant("")),
            ": not a readable image (or truncated). "
            "Fix or delete it, or skip such files: --config.data.skip_corrupt=True (the "
            "training command), skip_corrupt=True (Python).",
        ])
        with tf.control_dependencies([tf.debugging.Assert(tf.equal(tf.size(bad), 0), [message])]):
            return tf.constant(True)

    return tf.cond(tf.size(bad) > 0, fail, lambda: tf.constant(True))


def _count_skipped(where):
    """A `scan` step over the elements of decoded chunks: counts the bad files seen so far in
    this pass (each chunk's `end` element names its own) and logs each one."""

    def log(files, count):
        files = [f.decode() for f in files.numpy()]
        count = int(count.numpy())
        for k, file in enumerate(files):
            logging.warning("Skipped corrupt or unreadable image file %s (%d skipped so far in %s).",
                            file, count - len(files) + k + 1, where)
        return True

    def step(skipped, el):
        skipped += tf.size(el["bad"], out_type=tf.int64)
        logged = tf.cond(tf.equal(tf.size(el["bad"]), 0), lambda: tf.constant(True),
                         lambda: tf.py_function(log, [el["bad"], skipped], tf.bool))
        with tf.control_dependencies([logged]):
            return skipped, dict(el, end=tf.identity(el["end"]))

    return step


def from_directory(path, batch_size, image_size, *, labeled=True, skip_corrupt=False, shuffle=True,
                   seed=None, cache=False, input_context=None, channels=None, shuffle_buffer=None,
                   canvas_size=None, with_info=False):
    """A batched `tf.data.Dataset` of the images in a folder (JPEG, PNG, BMP, GIF, WebP).

    Args:
        path: the folder: class sub-folders (labelled or not) or a flat folder (unlabelled).
        batch_size: the global batch size (see `simclr_tf.data.get_dataset`).
        image_size: side S of the model's views (required): it sets the default canvas.
        labeled: yield `(images, labels)` (int32, index of the class sub-folder).
        canvas_size: side of the canvas each image is decoded into at native resolution
            (`images` is then `{"image": (B, C, C, ch) uint8, "image_size": (B, 2) int32}`);
            images with a longer side above it are shrunk to fit (`decode_native`). None:
            `default_canvas_size(image_size)` (512 for 224). 0: the host resizes each image's
            centred square to S x S instead (`resize_to_square`: less memory, but the edges of
            non-square images are never seen).
        skip_corrupt: False: a corrupt or unreadable file stops iteration with an error naming
            it; True: such files are skipped and each one is logged (absl, WARNING) with the
            running count of this pass over the data (the log call is a `tf.py_function`, so
            such a pipeline must run in the process that built it). Skipped files shorten the
            epoch, so input pipelines whose shards hold different numbers of bad files yield
            different numbers of batches: for multi-worker training delete bad files instead.
            Either way the check is cheap: files are decoded in chunks, and a chunk's failed
            files are the positions missing from its output (see the module docstring).
        shuffle: shuffle the file list before decoding (the whole list by default).
        channels: None or 3 decodes every file as RGB (grayscale tiled, alpha dropped, a GIF's
            first frame); 1 as grayscale.
        seed, cache, input_context, shuffle_buffer, with_info: as in `get_dataset`.

    Returns:
        The dataset of canvas batches (or uint8 `(B, S, S, C)` with canvas_size=0), and a
        `DatasetInfo` when `with_info`.

    Example:
        >>> ds = from_directory("photos/", batch_size=64, image_size=96, labeled=False)
        >>> batch = next(iter(ds))   # {"image": (64, 220, 220, 3) uint8, "image_size": (64, 2)}
    """
    source = directory_source(path, image_size, labeled=labeled, channels=channels,
                              skip_corrupt=skip_corrupt, input_context=input_context,
                              canvas_size=canvas_size)
    ds = batched(source, batch_size, shuffle=shuffle, seed=seed, cache=cache,
                 input_context=input_context, shuffle_buffer=shuffle_buffer)
    return (ds, source.info) if with_info else ds
