"""Batched colour operations with one factor per image, matching `tf.image`'s semantics.

`tf.image.adjust_contrast/saturation/hue` take one factor for the whole call; these take a (B,)
vector and need no per-example loop. They are closed forms on RGB, checked against `tf.image` in
the tests (to ~1e-6):

- contrast: `(x - mean) * f + mean`, the mean per image and channel (as `adjust_contrast`);
- saturation: HSV saturation times f, clipped to [0, 1] (as `adjust_saturation`). With value
  V = max(r, g, b) and chroma C = V - min(r, g, b), scaling saturation with hue and value fixed
  moves every channel along its line to V: `c' = V - g (V - c)`, with `g = min(f, V / C)` (the
  clip at saturation 1);
- hue: rotation of the HSV hue by `delta` turns (as `adjust_hue`), keeping V and C.

Channel max/min are taken from slices rather than `reduce_max(axis=-1)`: XLA on CPU otherwise
re-computes chained stages inside each reduction (measured: 5x slower jitter).
"""

import tensorflow as tf

from simclr_tf.augment.base import per_image

BRIGHTNESS, CONTRAST, SATURATION, HUE = 0, 1, 2, 3
_NONE = -1
# ITU-R 601 luma, the weights of tf.image.rgb_to_grayscale.
_GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)


def _value_and_chroma(images):
    r, g, b = images[..., 0:1], images[..., 1:2], images[..., 2:3]
    value = tf.maximum(tf.maximum(r, g), b)
    return value, value - tf.minimum(tf.minimum(r, g), b)


def adjust_contrast(images, factor):
    mean = tf.reduce_mean(images, axis=(1, 2), keepdims=True)
    return (images - mean) * per_image(factor) + mean


def adjust_saturation(images, factor):
    """`tf.image.adjust_saturation` per image, for images in [0, 1] and factors >= 0."""
    value, chroma = _value_and_chroma(images)
    # divide_no_nan: grey pixels (chroma 0) get g = 0, i.e. c' = V = c.
    g = tf.minimum(per_image(factor), tf.math.divide_no_nan(value, chroma))
    return value - g * (value - images)


def adjust_hue(images, delta):
    """`tf.image.adjust_hue` per image: hue + delta turns, value and chroma kept."""
    r, g, b = images[..., 0], images[..., 1], images[..., 2]
    value = tf.maximum(tf.maximum(r, g), b)
    chroma = value - tf.minimum(tf.minimum(r, g), b)
    # Hue in sixths of a turn, [0, 6) after the shift; delta first wrapped into [-0.5, 0.5].
    delta = delta - tf.round(delta)
    diff = tf.where(value == r, g - b, tf.where(value == g, b - r, r - g))
    sector = tf.where(value == r, 0.0, tf.where(value == g, 2.0, 4.0))
    hue = diff * tf.math.divide_no_nan(1.0, chroma) + sector + 6.0 * delta[:, None, None]
    channels = []
    # Each output channel from the standard HSV formula, k = (n + hue) mod 6 with n = 5, 3, 1.
    for n in (5.0, 3.0, 1.0):
        k = hue + n
        k = tf.where(k < 0.0, k + 6.0, k)
        k = tf.where(k >= 12.0, k - 12.0, tf.where(k >= 6.0, k - 6.0, k))
        channels.append(value - chroma * tf.clip_by_value(tf.minimum(k, 4.0 - k), 0.0, 1.0))
    return tf.stack(channels, axis=-1)


def to_grayscale(images):
    """Luma as in `tf.image.rgb_to_grayscale`, (B, H, W, 1): broadcasts against RGB."""
    r, g, b = images[..., 0:1], images[..., 1:2], images[..., 2:3]
    return _GRAY_WEIGHTS[0] * r + _GRAY_WEIGHTS[1] * g + _GRAY_WEIGHTS[2] * b


def _brightness_contrast_saturation(images, op, brightness, contrast, saturation, additive):
    """Applies, per image, the op `op` names (or none): one of the three cheap jitter ops.

    Brightness and contrast share the form `a x + b` (contrast: b = (1 - a) mean), so one affine
    map with per-image `a, b` serves both, and identity is a = 1, b = 0 exactly.
    """
    is_brightness = op == BRIGHTNESS
    is_contrast = op == CONTRAST
    if additive:
        scale = tf.where(is_contrast, contrast, 1.0)
        shift = tf.where(is_brightness, brightness, 0.0)
    else:
        scale = tf.where(is_brightness, brightness, tf.where(is_contrast, contrast, 1.0))
        shift = tf.zeros_like(scale)
    mean_weight = tf.where(is_contrast, 1.0 - contrast, 0.0)
    mean = tf.reduce_mean(images, axis=(1, 2), keepdims=True)
    images = per_image(scale) * images + (per_image(mean_weight) * mean + per_image(shift))
    images = tf.clip_by_value(images, 0.0, 1.0)
    return adjust_saturation(images, tf.where(op == SATURATION, saturation, 1.0))


def color_jitter(images, brightness, contrast, saturation, hue, order, additive_brightness=False):
    """The reference's `color_jitter_rand` on a batch, each image with its own factors and order.

    The reference applies brightness, contrast, saturation and hue in a shuffled order and clips
    to [0, 1] after each. Computing every op at every step and selecting one costs four hue
    rotations per image; hue is the expensive op, so each image's order is laid out around its
    hue step instead: up to three cheap ops before it (right-aligned in three slots), the hue
    rotation once, up to three after it. A slot an image does not use applies no op. Saturation
    and hue keep values in [0, 1], so only brightness and contrast need their clip.

    Args:
        images: (B, H, W, 3) float32 in [0, 1].
        brightness: (B,) multiplicative factors, or additive deltas if `additive_brightness`.
        contrast, saturation: (B,) factors >= 0. hue: (B,) shift in turns.
        order: (B, 4) int32, a permutation of (BRIGHTNESS, CONTRAST, SATURATION, HUE) per image,
            `order[b, i]` being the op applied at step i.
        additive_brightness: SimCLR v1's additive brightness instead of v2's multiplicative one.
    """
    images = tf.clip_by_value(images, 0.0, 1.0)
    hue_step = tf.argmax(tf.cast(order == HUE, tf.int32), axis=1, output_type=tf.int32)
    factors = (brightness, contrast, saturation, additive_brightness)

    def op_at(step):
        valid = (step >= 0) & (step <= 3)
        op = tf.gather(order, tf.clip_by_value(step, 0, 3), batch_dims=1)
        return tf.where(valid, op, _NONE)

    for slot in range(3):
        images = _brightness_contrast_saturation(images, op_at(hue_step - 3 + slot), *factors)
    images = adjust_hue(images, hue)
    for slot in range(3):
        images = _brightness_contrast_saturation(images, op_at(hue_step + 1 + slot), *factors)
    # Guards the last rounding of saturation/hue; values are in [0, 1] up to an ulp.
    return tf.clip_by_value(images, 0.0, 1.0)
