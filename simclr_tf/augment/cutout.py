"""Cutout (DeVries & Taylor 2017), one of the paper's studied transformations (Figure 4g)."""

import keras
import tensorflow as tf

from simclr_tf.augment import base


def cutout(images, centers, sizes, fill_value):
    """Fills, in image b, the square of side `sizes[b]` (pixels) centred at `centers[b]` (y, x),
    clipped at the borders, with `fill_value`. A comparison mask, no scatter: XLA-friendly."""
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    rows = tf.cast(tf.range(height), tf.float32)[None, :, None] + 0.5
    cols = tf.cast(tf.range(width), tf.float32)[None, None, :] + 0.5
    half = tf.reshape(sizes, [-1, 1, 1]) / 2.0
    center_y = tf.reshape(centers[:, 0], [-1, 1, 1])
    center_x = tf.reshape(centers[:, 1], [-1, 1, 1])
    inside = (tf.abs(rows - center_y) < half) & (tf.abs(cols - center_x) < half)
    return tf.where(inside[..., None], tf.cast(fill_value, images.dtype), images)


@keras.saving.register_keras_serializable(package="simclr_tf")
class RandomCutout(base.BaseAugmentation):
    """Masks one random square per image (Cutout), as in the paper's Figure 4 (g).

    Per image, with probability `probability`: a side drawn uniformly from `size_range`
    (fractions of the image's shorter side) and a centre uniform over the image (the square is
    clipped at the borders, as DeVries & Taylor's Cutout); the square is filled with
    `fill_value`. The paper does not give its cutout parameters; these defaults are ours.
    Identity when `training=False`.

    Chen et al., arXiv:2002.05709, Section 3; DeVries & Taylor, arXiv:1708.04552.

    Args:
        size_range: (min, max) side as a fraction of the shorter image side, within [0, 1].
        probability: chance per image of a cutout.
        fill_value: float in [0, 1], the value written into the square.
        seed: int or None.

    Example:

    ```python
    cut = simclr_tf.augment.RandomCutout(size_range=(0.25, 0.5), seed=0)
    views = cut(images)
    ```
    """

    def __init__(self, size_range=(0.25, 0.5), probability=1.0, fill_value=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        # === Config ===
        self.size_range = base.check_range("size_range", size_range, 0.0, 1.0)
        self.probability = base.check_probability("probability", probability)
        self.fill_value = base.check_probability("fill_value", fill_value)

    def get_random_transformation(self, images, training=True, seed=None):
        if not training:
            return None
        shape = tf.shape(images)
        batch = shape[0]
        height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
        size_seed, y_seed, x_seed, apply_seed = base.split_seed(self.draw_seed(seed), 4)
        sizes = base.uniform(size_seed, [batch], *self.size_range) * tf.minimum(height, width)
        apply = base.bernoulli(apply_seed, batch, self.probability)
        centers = tf.stack(
            [base.uniform(y_seed, [batch]) * height, base.uniform(x_seed, [batch]) * width], axis=1
        )
        return {"centers": centers, "sizes": tf.where(apply, sizes, 0.0)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        return cutout(images, transformation["centers"], transformation["sizes"], self.fill_value)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"size_range": self.size_range, "probability": self.probability, "fill_value": self.fill_value}
        )
        return config
