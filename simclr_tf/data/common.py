"""What every pipeline shares: the dataset description, argument checks, the host-side decode
into a canvas (or the square resize), and the final shuffle / batch stage.

A loader builds a `Source`: cheap records (file paths, encoded bytes, array rows) that are
shuffled BEFORE the expensive decode, plus the function that decodes them into uint8 images.
`Source.batch` batches decoded elements; `batched` turns a source into the training pipeline,
`epochs` into the resumable training stream, `to_arrays` into numpy arrays.

Images of several sizes (image folders, imagenet2012) are kept at their native resolution, as
the reference crops the decoded original: each is decoded (shrunk only when its longer side
exceeds the canvas, `decode_native`) and, batched, padded into a square canvas; the batch's
images are `{"image": canvas, "image_size": (height, width)}` and the model's augmentation crops
each view from the image's own pixels (`simclr_tf.augment.RandomResizedCrop`). Decoded images
stay unpadded until `Source.batch` pads them (`padded_batch`), so each canvas is written once:
a 512 canvas is 786 KB, 1.4x a 500 x 375 image, and every copy of it costs (docs/benchmark.md).
Images of one fixed size (cifar10, stl10, the embedded set) stay plain `(S, S, C)` tensors.
"""

import dataclasses
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

# Shuffle buffer of encoded records (tfds), and when the number of examples is unknown.
DEFAULT_SHUFFLE_BUFFER = 10_000


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the training command needs to know about a dataset split.

    Args:
        num_examples: examples in the whole split (all input pipelines together), or None when
            unknown (tfds under `tfds.testing.mock_data` has no split metadata).
        num_classes: number of classes (0 for an unlabelled image folder).
        class_names: the class names, in label order, when known.
        image_shape: `(S, S, C)` of the images the pipeline yields.
    """

    num_examples: Optional[int]
    num_classes: int
    class_names: tuple = ()
    image_shape: tuple = ()


@dataclasses.dataclass(frozen=True)
class Source:
    """A dataset before shuffling and batching (internal to `simclr_tf.data`).

    `records` yields cheap elements (`(record, label)` when labelled), already sharded for this
    input pipeline; `decode` maps a dataset of records to one of `(image, label)` or `image`:
    uint8 images of `info.image_shape`, or for a canvas source `{"image": (H, W, C),
    "image_size": (2,)}` at native size, which `batch` pads into the canvas. `num_examples`
    counts this pipeline's records (None when unknown); `where` names the data in error
    messages; `shuffle_buffer` is the default buffer (None: all records, right for cheap
    records such as paths).
    """

    records: tf.data.Dataset
    decode: Callable[[tf.data.Dataset], tf.data.Dataset]
    info: DatasetInfo
    num_examples: Optional[int]
    where: str
    shuffle_buffer: Optional[int] = None

    def batch(self, ds, batch_size, drop_remainder=False):
        """Batches decoded elements of this source. Canvas images (`{"image", "image_size"}`)
        arrive unpadded and are padded here, with zeros, into canvases of `info.image_shape`:
        `padded_batch` writes each image once into its slot of the batch, where padding every
        image first and batching the canvases would copy each 786 KB canvas twice."""
        spec = ds.element_spec
        images = spec[0] if isinstance(spec, tuple) else spec
        if not isinstance(images, dict):
            return ds.batch(batch_size, drop_remainder=drop_remainder)
        shapes = {"image": self.info.image_shape, "image_size": [2]}
        shapes = (shapes, spec[1].shape) if isinstance(spec, tuple) else shapes
        return ds.padded_batch(batch_size, padded_shapes=shapes, drop_remainder=drop_remainder)


class MissingLabelsError(ValueError):
    """Labels were requested from data that has none (a flat image folder): callers that can do
    without labels (pretraining, whose probe is optional) catch this one error."""


def check_positive_int(name, value):
    """`value` must be an integer >= 1 (numpy integers accepted, bools not)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}")
    return int(value)


def check_channels(channels):
    if channels not in (None, 1, 3):
        raise ValueError(
            "`channels` must be None (the source's own), 1 (grayscale) or 3 (RGB). "
            f"Received: channels={channels!r}"
        )
    return channels


def check_batch(batch_size, num_examples, where):
    """A batch larger than the data would yield no batch at all with drop_remainder: say so."""
    if num_examples is None:
        return
    if num_examples == 0:
        raise ValueError(f"{where} has no examples.")
    if batch_size > num_examples:
        raise ValueError(
            f"`batch_size` is larger than {where}, which has {num_examples} examples: with "
            f"drop_remainder=True not a single batch could be formed. Use a batch size of at most "
            f"{num_examples}. Received: batch_size={batch_size}"
        )


def shard_slice(num_examples, input_context):
    """(start, stop, step) of this input pipeline's share of `num_examples` indexed records.

    Every pipeline gets the same number of records (up to `num_input_pipelines - 1` are left
    out), so all workers run out of data after the same number of batches.
    """
    if input_context is None:
        return 0, num_examples, 1
    n = input_context.num_input_pipelines
    return input_context.input_pipeline_id, num_examples // n * n, n


def default_canvas_size(image_size):
    """The canvas side for views of `image_size`: 512 for 224 (16/7 of it, rounded up).

    512 holds ImageNet's usual 500 x 375 and 375 x 500 photos (most of the dataset: its images
    were stored with a longer side of at most 500) at native resolution, so the views see the
    reference's pixels; larger photos are shrunk to a longer side of 512: a 2000 x 1500 photo
    becomes 512 x 384, where a crop of the smallest area, 0.1 of the image
    (`min_object_covered=0.1`, as in the reference; docs/differences.md), spans 121 to 140 px
    on its shorter side instead of 474 to 548 px in the original (the view is 224 px either
    way). It scales with the view size, so 32 px views of small images get small canvases. A
    512 canvas is 786 KB per image (uint8 RGB) on the device: 5.2x a 224 x 224 image.
    """
    return max(1, -(-image_size * 16 // 7))


def check_canvas_size(canvas_size, image_size):
    """`canvas_size`: None (the default for `image_size`), 0 (square resize) or a side >= 1."""
    if canvas_size is None:
        return default_canvas_size(image_size)
    if isinstance(canvas_size, bool) or not isinstance(canvas_size, (int, np.integer)) or (
        canvas_size < 0
    ):
        raise ValueError(
            "`canvas_size` must be None (the default for image_size), 0 (host-side square "
            f"resize) or a positive int. Received: canvas_size={canvas_size!r}"
        )
    return int(canvas_size)


def _largest_jpeg_ratio(longer, max_side):
    """Branch index of the largest JPEG scale 1/1, 1/2, 1/4, 1/8 whose longer side stays >= max_side."""
    index = tf.constant(0)
    for k, ratio in enumerate((2, 4, 8), start=1):
        index = tf.where(longer >= ratio * max_side, k, index)
    return index


def shrink_to_fit(image, max_side):
    """Resizes (H, W, C) uint8 so that its longer side is at most `max_side`, aspect kept (area
    filter); an image that fits passes through untouched."""
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    longer = tf.maximum(h, w)

    def shrink():
        scale = max_side / tf.cast(longer, tf.float64)
        size = tf.maximum(1, tf.cast(tf.round(tf.cast(tf.stack([h, w]), tf.float64) * scale), tf.int32))
        resized = tf.image.resize(image, size, method="area")
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)

    return tf.cond(longer > max_side, shrink, lambda: tf.cast(image, tf.uint8))


def decode_native(encoded, channels, max_side, decode):
    """Decodes an encoded image at native resolution, shrunk only when its longer side exceeds
    `max_side`: a JPEG through libjpeg's cheap scaled decode (1/2, 1/4 or 1/8, the largest that
    keeps the longer side >= max_side) then an area resize, other formats by `decode` then the
    area resize. Returns (H, W, channels) uint8 with max(H, W) <= max_side.
    """

    def jpeg():
        shape = tf.image.extract_jpeg_shape(encoded)
        branch = _largest_jpeg_ratio(tf.maximum(shape[0], shape[1]), max_side)
        branches = [
            lambda r=r: tf.io.decode_jpeg(encoded, channels=channels, ratio=r) for r in (1, 2, 4, 8)
        ]
        return tf.switch_case(branch, branches)

    if channels in (1, 3):
        image = tf.cond(tf.io.is_jpeg(encoded), jpeg, lambda: decode(encoded))
    else:
        image = decode(encoded)
    return shrink_to_fit(image, max_side)


def with_size(image):
    """(H, W, C) uint8 -> `{"image": the same image, "image_size": (2,) int32 (H, W)}`: a canvas
    source's decoded element, padded into the canvas later, when batched (`Source.batch`)."""
    return {"image": image, "image_size": tf.shape(image, out_type=tf.int32)[:2]}


def resize_to_square(image, image_size):
    """Host-side resize of one decoded (H, W, C) image to (S, S, C) uint8.

    The rule: crop the centred square of side min(H, W), then resize it to S x S: with an area
    (box) filter when shrinking, so every source pixel counts (antialiased, no moire), and
    bilinearly when enlarging. An image that already is S x S passes through untouched. Unlike a
    plain resize this keeps the aspect ratio, at the price of the edges of non-square images
    (the model's random crop then works on the centre square; the reference implementation
    crops from the whole image).

    Why crop first and why the area filter: this runs per image on the host, where it is the
    only work besides decoding. Resizing just the square and using the area filter costs about
    0.6 ms per 375 x 375 -> 224 image on one core, against 1.4 ms for an antialiased bilinear
    resize of the whole image (`python -m simclr_tf.benchmark --mode=input`).
    """
    channels = image.shape[-1]
    if image.shape[0] == image_size and image.shape[1] == image_size:
        return tf.cast(image, tf.uint8)
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    side = tf.minimum(h, w)

    def resize():
        square = image[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
        size = [image_size, image_size]
        resized = tf.cond(
            side > image_size,
            lambda: tf.image.resize(square, size, method="area"),
            lambda: tf.image.resize(square, size, method="bilinear"),
        )
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)

    same = tf.logical_and(tf.equal(h, image_size), tf.equal(w, image_size))
    out = tf.cond(same, lambda: tf.cast(image, tf.uint8), resize)
    return tf.ensure_shape(out, [image_size, image_size, channels])


def map_images(ds, fn, labeled):
    """Applies `fn` to the image of `(image, label)` or `image` elements, in parallel."""
    if labeled:
        return ds.map(lambda x, y: (fn(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)


def batched(source, batch_size, *, shuffle=True, seed=None, cache=False, input_context=None,
            shuffle_buffer=None):
    """shuffle records -> decode -> batch(drop_remainder) -> prefetch; with `cache`:
    decode -> cache -> shuffle -> batch -> prefetch.

    `batch_size` is the GLOBAL batch: with an `input_context` (from
    `strategy.distribute_datasets_from_function`) each pipeline yields
    `input_context.get_per_replica_batch_size(batch_size)` examples per batch (the source is
    already sharded). `drop_remainder=True` because the contrastive loss needs a static batch.
    `cache` is True (memory) or a file prefix (disk); it stores decoded images (canvas images
    unpadded), so it suits datasets that fit, and then the shuffle buffer holds decoded images.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    check_batch(batch_size, source.num_examples, source.where)
    if shuffle_buffer is None:
        shuffle_buffer = source.shuffle_buffer or source.num_examples or DEFAULT_SHUFFLE_BUFFER
    shuffle_buffer = min(check_positive_int("shuffle_buffer", shuffle_buffer),
                         source.num_examples or shuffle_buffer)
    ds = source.records
    if cache:
        ds = source.decode(ds).cache("" if cache is True else cache)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if not cache:
        ds = source.decode(ds)
    ds = source.batch(ds, batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def epochs(source, batch_size, steps_per_epoch, *, first_epoch=0, seed=None, cache=False,
           shuffle_buffer=None):
    """The training stream: epoch after epoch of `steps_per_epoch` batches, from `first_epoch` on.

    Epoch e is `steps_per_epoch` batches of a shuffle seeded with (seed, e) alone (the records
    are reshuffled, with that seed, when an epoch needs more than one pass), so a run resumed
    at epoch e sees exactly the batches that an uninterrupted run sees there. With
    `seed=None` every epoch is a fresh random shuffle. `batch_size`, `cache` and
    `shuffle_buffer` are as in `batched` (no `input_context`: `fit` shards this stream).
    """
    batch_size = check_positive_int("batch_size", batch_size)
    steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch)
    check_batch(batch_size, source.num_examples, source.where)
    if shuffle_buffer is None:
        shuffle_buffer = source.shuffle_buffer or source.num_examples or DEFAULT_SHUFFLE_BUFFER
    shuffle_buffer = min(check_positive_int("shuffle_buffer", shuffle_buffer),
                         source.num_examples or shuffle_buffer)
    records = source.records
    if cache:
        records = source.decode(records).cache("" if cache is True else cache)

    def one_epoch(epoch):
        if seed is None:
            ds = records.shuffle(shuffle_buffer, reshuffle_each_iteration=True)
        else:
            # The op seed is a tensor of (seed, epoch); TensorFlow's seed logic compares the
            # graph-level seed with Python `==`, which fails on a tensor op seed when the global
            # seed is 0, so this trace runs without one (the order depends on (seed, e) only).
            graph = tf.compat.v1.get_default_graph()
            global_seed, graph.seed = graph.seed, None
            try:
                epoch_seed = tf.constant(int(seed), tf.int64) * 1_000_003 + epoch
                ds = records.shuffle(shuffle_buffer, seed=epoch_seed, reshuffle_each_iteration=True)
            finally:
                graph.seed = global_seed
        # Decoded pass by pass, then repeated: a folder's decode reports its bad files at the
        # end of each chunk of files, and a pass's last chunk then ends with the pass, which
        # every epoch reads to its end (steps x batch >= the records); decoding the repeated
        # records instead let an epoch stop inside a chunk, its bad files never reported.
        if not cache:
            ds = source.decode(ds)
        ds = ds.repeat()
        return source.batch(ds, batch_size, drop_remainder=True).take(steps_per_epoch)

    ds = tf.data.Dataset.range(int(first_epoch), 2**62).flat_map(one_epoch)
    return ds.prefetch(tf.data.AUTOTUNE)


def num_images(images):
    """How many images an array batch or a canvas dict of arrays `{"image", "image_size"}` holds."""
    return len(images["image"]) if isinstance(images, dict) else len(images)


def take(images, index):
    """`images[index]` for an array batch or a canvas dict of arrays (index: int array, slice)."""
    if isinstance(images, dict):
        return {key: value[index] for key, value in images.items()}
    return images[index]


def sample_images(source, max_examples, seed=0, chunk=256):
    """Up to `max_examples` decoded images of a source, drawn at random (seeded) from all of it,
    as numpy (a dict of arrays `{"image", "image_size"}` for a canvas source); labels dropped.
    Draws from the records before decoding, so only the drawn images are decoded."""
    max_examples = check_positive_int("max_examples", max_examples)
    # The training stream's buffer (all records unless the source says otherwise): a smaller
    # one would draw from the first records only, the first classes of a sorted folder.
    buffer = source.shuffle_buffer or source.num_examples or DEFAULT_SHUFFLE_BUFFER
    records = source.records.shuffle(buffer, seed=seed).take(max_examples)
    images = []
    for batch in source.batch(source.decode(records), chunk).prefetch(2):
        batch = batch[0] if isinstance(batch, tuple) else batch
        images.append(tf.nest.map_structure(lambda t: t.numpy(), batch))
    if not images:
        raise ValueError(f"{source.where} has no examples.")
    if isinstance(images[0], dict):
        return {k: np.concatenate([x[k] for x in images]) for k in images[0]}
    return np.concatenate(images)


def to_arrays(source, max_examples=None, chunk=256):
    """The first `max_examples` decoded `(images, labels)` of a labelled source as numpy;
    `images` is a dict of arrays `{"image", "image_size"}` for a canvas source."""
    ds = source.records if max_examples is None else source.records.take(max_examples)
    images, labels = [], []
    for x, y in source.batch(source.decode(ds), chunk).prefetch(2):
        images.append(tf.nest.map_structure(lambda t: t.numpy(), x))
        labels.append(y.numpy())
    if not images:
        raise ValueError(f"{source.where} has no examples.")
    if isinstance(images[0], dict):
        return {k: np.concatenate([x[k] for x in images]) for k in images[0]}, np.concatenate(labels)
    return np.concatenate(images), np.concatenate(labels)
