"""Rotation by multiples of 90 degrees, one of the paper's studied transformations."""

import keras
import tensorflow as tf

from simclr_tf.augment import base

_ANGLES = (0, 90, 180, 270)


def rotate90(images, quarter_turns):
    """Rotates square image b counter-clockwise by `quarter_turns[b]` * 90 degrees (as
    `np.rot90`): the four rotations of the batch, then one per-image gather. XLA-friendly."""
    r90 = tf.reverse(tf.transpose(images, [0, 2, 1, 3]), axis=[1])
    r180 = tf.reverse(images, axis=[1, 2])
    r270 = tf.reverse(tf.transpose(images, [0, 2, 1, 3]), axis=[2])
    candidates = tf.stack([images, r90, r180, r270], axis=1)
    return tf.gather(candidates, quarter_turns, batch_dims=1)


@keras.saving.register_keras_serializable(package="simclr_tf")
class RandomRotation90(base.BaseAugmentation):
    """Rotates each (square) image by an angle drawn uniformly from `angles`.

    The paper's Figure 4 (f) rotates by one of {90, 180, 270} degrees; its Table 3 predicts one
    of {0, 90, 180, 270}. Identity when `training=False`.

    Args:
        angles: a non-empty subset of (0, 90, 180, 270), degrees counter-clockwise.
        seed: int or None.

    Example:

    ```python
    rotated = simclr_tf.augment.RandomRotation90(angles=(90, 180, 270), seed=0)(images)
    ```
    """

    def __init__(self, angles=_ANGLES, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        angles = tuple(int(a) for a in angles) if isinstance(angles, (list, tuple)) else ()
        if not angles or any(a not in _ANGLES for a in angles) or len(set(angles)) < len(angles):
            raise ValueError(
                f"`angles` must be distinct values of {_ANGLES}. Received: angles={angles!r}"
            )
        # === Config ===
        self.angles = angles

    def get_random_transformation(self, images, training=True, seed=None):
        if not training:
            return None
        batch = tf.shape(images)[0]
        index = tf.random.stateless_uniform(
            [batch], seed=self.draw_seed(seed), minval=0, maxval=len(self.angles), dtype=tf.int32
        )
        turns = tf.gather(tf.constant([a // 90 for a in self.angles], tf.int32), index)
        return {"quarter_turns": turns}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        if images.shape[1] is not None and images.shape[1] != images.shape[2]:
            raise ValueError(
                "RandomRotation90 needs square images (crop or resize first). "
                f"Received: images.shape={images.shape}"
            )
        return rotate90(images, transformation["quarter_turns"])

    def get_config(self):
        config = super().get_config()
        config.update({"angles": list(self.angles)})
        return config
