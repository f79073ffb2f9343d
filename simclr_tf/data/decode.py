"""The host-side decode: an image at native resolution in a canvas, or the square resize.

Images of several sizes (image folders, imagenet2012) are kept at their native resolution, as
the reference crops the decoded original: each is decoded (shrunk only when its longer side
exceeds the canvas, `decode_native`) and, batched, padded into a square canvas; the batch's
images are `{"image": canvas, "image_size": (height, width)}` and the model's augmentation crops
each view from the image's own pixels (`simclr_tf.augment.RandomResizedCrop`). Decoded images
stay unpadded until `Source.batch` pads them (`padded_batch`), so each canvas is written once:
a 512 canvas is 786 KB, 1.4x a 500 x 375 image, and every copy of it costs (docs/benchmark.md).
Images of one fixed size (cifar10, stl10, the embedded set) stay plain `(S, S, C)` tensors,
resized on the host by `resize_to_square` when another size is asked for.
"""

import numpy as np
import tensorflow as tf

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
