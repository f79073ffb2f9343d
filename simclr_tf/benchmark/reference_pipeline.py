"""The host pipelines `--mode=input` compares with this package's: the reference's per-example
pipeline, this package's decode without its bookkeeping, and a decode-only floor."""

import os

import tensorflow as tf

from simclr_tf.data import decode_native, default_canvas_size
from simclr_tf.data.decode import with_size
from simclr_tf.data.directory import decode_image


def reference_style_view(image, size, strength=1.0):
    """One view as the reference's host-side per-example pipeline makes it (google-research/simclr
    tf2 `data_util.preprocess_image` with `preprocess_for_train`, mapped over single decoded
    uint8 images): the whole image converted to float, Inception-style random crop, bicubic
    resize, flip, colour jitter in random order with its multiplicative ("simclrv2") brightness
    (p = 0.8), grayscale (p = 0.2). Float32 in [0, 1]."""
    image = tf.image.convert_image_dtype(image, tf.float32)
    box = tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4])
    begin, crop, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=box, min_object_covered=0.1,
        aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=100,
        use_image_if_no_bounding_boxes=True)
    image = tf.slice(image, begin, crop)
    image = tf.image.resize(image, [size, size], method="bicubic")
    image = tf.image.random_flip_left_right(image)

    def brightness(x):
        delta = 0.8 * strength
        return x * tf.random.uniform([], max(1.0 - delta, 0.0), 1.0 + delta)

    def jitter(x):
        ops = [
            brightness,
            lambda x: tf.image.random_contrast(x, 1 - 0.8 * strength, 1 + 0.8 * strength),
            lambda x: tf.image.random_saturation(x, 1 - 0.8 * strength, 1 + 0.8 * strength),
            lambda x: tf.image.random_hue(x, 0.2 * strength),
        ]
        order = tf.random.shuffle(tf.range(4))
        for i in range(4):
            x = tf.switch_case(order[i], [lambda op=op, x=x: op(x) for op in ops])
            x = tf.clip_by_value(x, 0.0, 1.0)
        return x

    def gray(x):
        return tf.tile(tf.image.rgb_to_grayscale(x), [1, 1, 3])

    image = tf.cond(tf.random.uniform([]) < 0.8, lambda: jitter(image), lambda: image)
    image = tf.cond(tf.random.uniform([]) < 0.2, lambda: gray(image), lambda: image)
    return tf.ensure_shape(tf.clip_by_value(image, 0.0, 1.0), [size, size, 3])


def reference_style_dataset(folder, size, batch):
    def load(path):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        # Two views stacked on channels, as the reference's map_fn.
        return tf.concat([reference_style_view(image, size), reference_style_view(image, size)], -1)

    # The reference's training options: non-deterministic order and slack.
    options = tf.data.Options()
    options.deterministic = False
    options.experimental_slack = True
    return map_jpeg_files(folder, load, batch, options)


def map_jpeg_files(folder, load, batch, options=None, padded_shapes=None):
    """The folder's JPEG paths, `load` mapped over them in parallel, batched (padded to
    `padded_shapes` when given), prefetched."""
    files = tf.data.Dataset.list_files(os.path.join(folder, "*.jpg"), shuffle=False)
    if options is not None:
        files = files.with_options(options)
    ds = files.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if padded_shapes is None:
        ds = ds.batch(batch)
    else:
        ds = ds.padded_batch(batch, padded_shapes=padded_shapes)
    return ds.prefetch(tf.data.AUTOTUNE)


def decode_only_dataset(folder, size, batch):
    """The floor of any host pipeline that decodes every JPEG: decode, centre crop (or pad) to
    size x size, batch; no resize."""
    def load(path):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        return tf.image.resize_with_crop_or_pad(image, size, size)

    return map_jpeg_files(folder, load, batch)


def bare_dataset(folder, size, batch):
    """This package's per-image work without its bad-file bookkeeping: decode at native
    resolution (`decode_native`), one parallel map, then padded into the canvas as it is
    batched (`padded_batch`), as `from_directory` does."""
    canvas = default_canvas_size(size)

    def load(path):
        encoded = tf.io.read_file(path)
        return with_size(decode_native(encoded, 3, canvas, lambda e: decode_image(e, 3)))

    shapes = {"image": [canvas, canvas, 3], "image_size": [2]}
    return map_jpeg_files(folder, load, batch, padded_shapes=shapes)
