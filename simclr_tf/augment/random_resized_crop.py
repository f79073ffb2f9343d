"""Random resized crop, sampled per image like `tf.image.sample_distorted_bounding_box`."""

import keras
import tensorflow as tf

from simclr_tf.augment import base
from simclr_tf.augment import resize_ops


def sample_distorted_boxes(
    seed,
    batch_size,
    height,
    width,
    area_range=(0.08, 1.0),
    aspect_ratio_range=(3.0 / 4.0, 4.0 / 3.0),
    min_object_covered=0.1,
    max_attempts=100,
):
    """Per-image crop boxes with the semantics of `tf.image.sample_distorted_bounding_box`.

    A batched port of the op's sampler (TensorFlow `sample_distorted_bounding_box_op.cc`) with
    the whole image as the only object box, as the reference calls it. Each attempt draws an
    aspect ratio (width / height) uniformly in `aspect_ratio_range`, then an integer crop height
    uniformly between the heights whose area hits the ends of `area_range`, rounds the width,
    and nudges the height by one when rounding left the area outside the range. An attempt is
    kept if it fits in the image and covers at least `min_object_covered` of it, so with the
    defaults the crop area is in [0.1, 1.0] of the image, not [0.08, 1.0]. The first kept of
    `max_attempts` attempts wins; if none is kept the box is the whole image. The offset is
    uniform over the positions `0 .. H - h - 1` (the op never touches the last row or column
    unless the crop spans the image). All attempts of all images run at once, in float32 (the
    op computes one bound in float64: boxes can differ by a pixel in rare rounding ties).

    `height` and `width` are the size of the image, a scalar for the whole batch or a (B,)
    tensor per image: for a canvas (images of several sizes padded to one shape) each box is
    drawn in its own image's geometry, so it never reaches into the padding.

    Returns:
        (batch_size, 4) float32 `[y, x, crop_height, crop_width]` in pixels, integer-valued.
    """
    ratio_seed, height_seed, offset_seed = base.split_seed(seed, 3)
    # (B, 1): one size per image, broadcast over its attempts.
    h_img = tf.broadcast_to(tf.cast(height, tf.float32), [batch_size])[:, None]
    w_img = tf.broadcast_to(tf.cast(width, tf.float32), [batch_size])[:, None]
    min_area = area_range[0] * w_img * h_img
    max_area = area_range[1] * w_img * h_img
    shape = [batch_size, max_attempts]

    ratio = base.uniform(ratio_seed, shape, aspect_ratio_range[0], aspect_ratio_range[1])
    crop_h = tf.math.rint(tf.sqrt(min_area / ratio))
    max_h = tf.math.rint(tf.sqrt(max_area / ratio))
    # The tallest height whose rounded width still fits.
    too_wide = tf.math.rint(max_h * ratio) > w_img
    fitted = tf.floor((w_img + 0.5 - 1e-7) / ratio)
    fitted = tf.where(tf.math.rint(fitted * ratio) > w_img, fitted - 1.0, fitted)
    max_h = tf.minimum(tf.where(too_wide, fitted, max_h), h_img)
    crop_h = tf.minimum(crop_h, max_h)
    # An integer uniform in [0, max_h - crop_h].
    span = max_h - crop_h + 1.0
    crop_h += tf.minimum(tf.floor(base.uniform(height_seed, shape) * span), span - 1.0)
    crop_w = tf.math.rint(crop_h * ratio)
    # Rounding may leave the area just outside the range: one step up, then one step down.
    too_small = crop_w * crop_h < min_area
    crop_h = tf.where(too_small, crop_h + 1.0, crop_h)
    crop_w = tf.where(too_small, tf.math.rint(crop_h * ratio), crop_w)
    too_big = crop_w * crop_h > max_area
    crop_h = tf.where(too_big, crop_h - 1.0, crop_h)
    crop_w = tf.where(too_big, tf.math.rint(crop_h * ratio), crop_w)
    area = crop_w * crop_h
    ok = (
        (area >= min_area)
        & (area <= max_area)
        & (crop_w <= w_img)
        & (crop_h <= h_img)
        & (crop_w > 0)
        & (crop_h > 0)
        & (area / (w_img * h_img) >= min_object_covered)
    )

    first = tf.argmax(tf.cast(ok, tf.int32), axis=1, output_type=tf.int32)
    found = tf.reduce_any(ok, axis=1)
    h_img, w_img = h_img[:, 0], w_img[:, 0]
    crop_h = tf.where(found, tf.gather(crop_h, first, batch_dims=1), h_img)
    crop_w = tf.where(found, tf.gather(crop_w, first, batch_dims=1), w_img)
    # Offsets do not decide whether an attempt is kept, so one draw per image suffices.
    u = base.uniform(offset_seed, [batch_size, 2])
    y = tf.floor(u[:, 0] * (h_img - crop_h))
    x = tf.floor(u[:, 1] * (w_img - crop_w))
    return tf.stack([y, x, crop_h, crop_w], axis=1)


@keras.saving.register_keras_serializable(package="simclr_tf")
class RandomResizedCrop(base.BaseAugmentation):
    """Random crop of each image, resized to `image_size` x `image_size` (SimCLR's main one).

    Boxes are drawn per image like the reference's `crop_and_resize` (google-research/simclr
    `tf2/data_util.py`), which calls `tf.image.sample_distorted_bounding_box` with
    `area_range=(0.08, 1.0)`, `aspect_ratio_range=(3/4, 4/3)` times the output aspect (1 here),
    `min_object_covered=0.1` and 100 attempts, then resizes bicubically. See
    `sample_distorted_boxes` for the sampler, and `resize_ops` for the XLA-safe resize. Output is
    clipped to [0, 1] (bicubic overshoots; the reference clips at the end of its pipeline).

    With `training=False` the layer takes the reference's evaluation crop instead: a centred
    square of `center_crop_fraction` of the shorter side, resized the same way.

    Input: a batch of equal-size images, or a canvas: `{"image": canvas, "image_size": sizes}`
    with `canvas` (B, H, W, C) holding image b in its top-left `sizes[b] = (height, width)`
    corner (padding after it; `simclr_tf.data` yields such dicts for images of several sizes).
    Boxes are then drawn and the evaluation crop centred in each image's own geometry, and
    resampled from its native pixels; the padding is never read.

    Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations",
    arXiv:2002.05709, Appendix A.

    Args:
        image_size: int, side of the square output.
        area_range: (min, max) fraction of the image area, within (0, 1].
        aspect_ratio_range: (min, max) width / height of the crop.
        min_object_covered: minimum fraction of the image the crop must cover (the reference's
            0.1 raises the effective minimum area from 0.08 to 0.1).
        max_attempts: attempts before falling back to the whole image.
        interpolation: "bicubic" (the reference) or "bilinear".
        center_crop_fraction: float in (0, 1] or None, the evaluation crop. None: 0.875 when
            `image_size > 32`, else 1.0 (no crop), as the reference.
        seed: int or None.
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    crop = simclr_tf.augment.RandomResizedCrop(224, seed=0)
    views = crop(images)                    # (B, 224, 224, 3), a different box per image
    evaluation = crop(images, training=False)  # centre crop
    views = crop({"image": canvas, "image_size": sizes})  # images of several sizes
    ```
    """

    def __init__(
        self,
        image_size,
        area_range=(0.08, 1.0),
        aspect_ratio_range=(3.0 / 4.0, 4.0 / 3.0),
        min_object_covered=0.1,
        max_attempts=100,
        interpolation="bicubic",
        center_crop_fraction=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        # === Config ===
        self.image_size = base.check_image_size(image_size)
        self.area_range = base.check_range("area_range", area_range, 0.0, 1.0)
        if self.area_range[1] <= 0.0:
            raise ValueError(f"`area_range` must end above 0. Received: area_range={area_range!r}")
        self.aspect_ratio_range = base.check_range("aspect_ratio_range", aspect_ratio_range, 0.0)
        if self.aspect_ratio_range[0] <= 0.0:
            raise ValueError(
                "`aspect_ratio_range` must be positive. "
                f"Received: aspect_ratio_range={aspect_ratio_range!r}"
            )
        self.min_object_covered = base.check_probability("min_object_covered", min_object_covered)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(
                f"`max_attempts` must be a positive int. Received: max_attempts={max_attempts!r}"
            )
        self.max_attempts = max_attempts
        self.interpolation = resize_ops.check_interpolation(interpolation)
        self.center_crop_fraction = resize_ops.check_crop_fraction(
            "center_crop_fraction", center_crop_fraction
        )

    accepts_canvas = True

    def get_random_transformation(self, images, training=True, seed=None, sizes=None):
        if not training:
            return None
        sizes = resize_ops.image_sizes(images, sizes)
        boxes = sample_distorted_boxes(
            self.draw_seed(seed),
            tf.shape(images)[0],
            sizes[:, 0],
            sizes[:, 1],
            self.area_range,
            self.aspect_ratio_range,
            self.min_object_covered,
            self.max_attempts,
        )
        return {"boxes": boxes}

    def transform_images(self, images, transformation, training=True, sizes=None):
        if not training or transformation is None:
            fraction = resize_ops.effective_crop_fraction(
                self.center_crop_fraction, self.image_size
            )
            return resize_ops.center_crop_and_resize(
                images, self.image_size, fraction, self.interpolation, sizes
            )
        images = resize_ops.crop_and_resize(
            images, transformation["boxes"], self.image_size, self.interpolation
        )
        return tf.clip_by_value(images, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return base.output_image_shape(input_shape, self.image_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "area_range": self.area_range,
                "aspect_ratio_range": self.aspect_ratio_range,
                "min_object_covered": self.min_object_covered,
                "max_attempts": self.max_attempts,
                "interpolation": self.interpolation,
                "center_crop_fraction": self.center_crop_fraction,
            }
        )
        return config
