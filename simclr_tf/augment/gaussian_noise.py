"""Additive Gaussian noise, one of the paper's studied transformations (Figure 4h, Table 3)."""

import math

import keras
import tensorflow as tf

from simclr_tf.augment import base


def standard_normal(seed, shape):
    """N(0, 1) by Box-Muller from two integer-based uniforms: the same numbers eagerly, in
    tf.function and under XLA (stateless float draws differ there; see `base`)."""
    u_seed, v_seed = base.split_seed(seed, 2)
    u = base.uniform(u_seed, shape, 2.0**-24, 1.0)  # > 0: log is finite
    v = base.uniform(v_seed, shape)
    return tf.sqrt(-2.0 * tf.math.log(u)) * tf.cos(2.0 * math.pi * v)


@keras.saving.register_keras_serializable(package="simclr_tf")
class RandomGaussianNoise(base.BaseAugmentation):
    """Adds N(0, sigma^2) noise per pixel and channel, sigma drawn per image, then clips to
    [0, 1].

    Per image, with probability `probability`, sigma ~ U(`sigma_range`) (on the [0, 1] scale).
    The paper studies Gaussian noise (Figure 4 h, Table 3) without giving its noise level; the
    default range is ours. Identity when `training=False`.

    Args:
        sigma_range: (min, max) standard deviation, >= 0.
        probability: chance per image of noise.
        seed: int or None.

    Example:

    ```python
    noisy = simclr_tf.augment.RandomGaussianNoise(sigma_range=(0.0, 0.1), seed=0)(images)
    ```
    """

    def __init__(self, sigma_range=(0.0, 0.1), probability=1.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        # === Config ===
        self.sigma_range = base.check_range("sigma_range", sigma_range, 0.0)
        self.probability = base.check_probability("probability", probability)

    def get_random_transformation(self, images, training=True, seed=None):
        if not training:
            return None
        batch = tf.shape(images)[0]
        sigma_seed, noise_seed, apply_seed = base.split_seed(self.draw_seed(seed), 3)
        sigma = base.uniform(sigma_seed, [batch], *self.sigma_range)
        sigma = tf.where(base.bernoulli(apply_seed, batch, self.probability), sigma, 0.0)
        return {"sigma": sigma, "noise": standard_normal(noise_seed, tf.shape(images))}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        noisy = images + base.per_image(transformation["sigma"]) * transformation["noise"]
        return tf.clip_by_value(noisy, 0.0, 1.0)

    def get_config(self):
        config = super().get_config()
        config.update({"sigma_range": self.sigma_range, "probability": self.probability})
        return config
