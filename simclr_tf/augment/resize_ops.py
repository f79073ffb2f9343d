"""Crop-and-resize as two batched matrix products: XLA-compilable, one box per image.

`tf.image.crop_and_resize` has no XLA kernel, and `tf.image.resize` takes one output size for the
whole batch, so a per-image crop cannot use it without a per-example loop. Resampling is
separable: the output of image b is `R_y[b] @ image[b] @ R_x[b]^T`, where row i of `R_y[b]`
holds the interpolation weights of output row i over the input rows. Weights outside the box are
zero, so the same product crops. Each matrix is (B, out, in): small next to the images, and the
products are plain batched matmuls that every accelerator (and XLA) runs well.

The weights follow `tf.image.resize(crop, size, antialias=False)` (half-pixel centres; taps that
fall outside the crop are dropped and the remaining weights renormalised): bilinear matches it to
float rounding; bicubic uses the exact Keys kernel (a = -0.5), where TensorFlow's `ResizeBicubic`
reads the kernel from a 1024-entry table, so the two differ by up to ~1e-3.
"""

import tensorflow as tf

INTERPOLATIONS = ("bilinear", "bicubic")


def _keys_cubic(d):
    """Keys' cubic convolution kernel with a = -0.5 (the one tf.image.resize uses)."""
    a = -0.5
    d = tf.abs(d)
    near = ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0
    far = ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a
    return tf.where(d <= 1.0, near, tf.where(d < 2.0, far, 0.0))


def _triangle(d):
    return tf.maximum(1.0 - tf.abs(d), 0.0)


def interpolation_matrix(start, length, input_size, output_size, interpolation="bicubic"):
    """Weights that resample the span [start, start + length) of an axis to `output_size` pixels.

    Args:
        start: (B,) float32, first pixel of each crop (an integer value).
        length: (B,) float32, number of pixels in each crop (an integer value, >= 1).
        input_size: int or scalar tensor, the axis length of the input.
        output_size: int, the axis length of the output.
        interpolation: "bilinear" or "bicubic".

    Returns:
        (B, output_size, input_size) float32; each row sums to 1.
    """
    kernel = _keys_cubic if interpolation == "bicubic" else _triangle
    out = tf.range(output_size, dtype=tf.float32)
    src = tf.cast(tf.range(input_size), tf.float32)
    start, length = start[:, None, None], length[:, None, None]
    # Centre of output pixel i, in input pixel units (pixel j spans [j, j + 1)).
    centre = start + (out[None, :, None] + 0.5) * (length / output_size)
    weights = kernel(src[None, None, :] + 0.5 - centre)
    inside = (src[None, None, :] >= start) & (src[None, None, :] < start + length)
    weights = tf.where(inside, weights, 0.0)
    return weights / tf.reduce_sum(weights, axis=-1, keepdims=True)


def crop_and_resize(images, boxes, output_size, interpolation="bicubic", flip=None):
    """Crops box b out of image b and resizes it to output_size x output_size.

    Args:
        images: (B, H, W, C) float32.
        boxes: (B, 4) float32 `[y, x, height, width]` in pixels (integer values, inside the image).
        output_size: int.
        interpolation: "bilinear" or "bicubic".
        flip: optional (B,) bool; mirrors output b left-right when flip[b]. Reversing the rows
            of the column matrix flips for free, where flipping the output costs a pass over it.

    Returns:
        (B, output_size, output_size, C) float32 (bicubic can overshoot [0, 1]; callers clip).
    """
    shape = tf.shape(images)
    rows = interpolation_matrix(boxes[:, 0], boxes[:, 2], shape[1], output_size, interpolation)
    cols = interpolation_matrix(boxes[:, 1], boxes[:, 3], shape[2], output_size, interpolation)
    if flip is not None:
        cols = tf.where(flip[:, None, None], cols[:, ::-1], cols)
    images = tf.einsum("bih,bhwc->biwc", rows, images)
    return tf.einsum("bjw,biwc->bijc", cols, images)


def center_crop_boxes(heights, widths, crop_fraction):
    """The reference's evaluation crop (`center_crop` in tf2/data_util.py), for a square output.

    The crop keeps `crop_fraction` of the shorter side of each image and is square, centred with
    the reference's rounding (`rint` for the size, `(H - h + 1) // 2` for the offset).

    Args:
        heights, widths: (B,) float32, each image's size (its valid part, for a canvas).
        crop_fraction: float in (0, 1].

    Returns:
        (B, 4) float32 `[y, x, height, width]`.
    """
    side = tf.math.rint(crop_fraction * tf.minimum(heights, widths))
    y = tf.math.floordiv(heights - side + 1.0, 2.0)
    x = tf.math.floordiv(widths - side + 1.0, 2.0)
    return tf.stack([y, x, side, side], axis=1)


def image_sizes(images, sizes=None):
    """(B, 2) float32 `[height, width]` of each image: `sizes` for a canvas, else the batch's."""
    if sizes is not None:
        return sizes
    shape = tf.cast(tf.shape(images), tf.float32)
    return tf.tile(shape[None, 1:3], [tf.shape(images)[0], 1])


def center_crop_and_resize(images, output_size, crop_fraction, interpolation="bicubic",
                           sizes=None):
    """`center_crop_boxes` then `crop_and_resize`, clipped to [0, 1].

    `sizes`: optional (B, 2) float32 valid `[height, width]` of each image of a canvas batch
    (the image in the top-left corner, padding after it); the crop is then the centre of each
    image's own size, and the padding is never read.
    """
    sizes = image_sizes(images, sizes)
    boxes = center_crop_boxes(sizes[:, 0], sizes[:, 1], crop_fraction)
    images = crop_and_resize(images, boxes, output_size, interpolation)
    return tf.clip_by_value(images, 0.0, 1.0)


def check_interpolation(interpolation):
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"`interpolation` must be one of {list(INTERPOLATIONS)}. "
            f"Received: interpolation={interpolation!r}"
        )
    return interpolation


def check_crop_fraction(name, fraction):
    if fraction is None:
        return None
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not 0 < fraction <= 1
    ):
        raise ValueError(
            f"`{name}` must be None or a number in (0, 1]. Received: {name}={fraction!r}"
        )
    return float(fraction)


def effective_crop_fraction(fraction, image_size):
    """None means the reference's rule: crop 0.875 for evaluation, nothing at 32 px or less."""
    if fraction is not None:
        return fraction
    return 0.875 if image_size > 32 else 1.0
