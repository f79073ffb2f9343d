"""SimCLR's colour distortion: random-order colour jitter (p = 0.8), then grayscale (p = 0.2)."""

import numbers

import keras
import tensorflow as tf

from simclr_tf.augment import base
from simclr_tf.augment import color_ops

BRIGHTNESS_MODES = ("simclrv2", "simclrv1")


@keras.saving.register_keras_serializable(package="simclr_tf")
class RandomColorDistortion(base.BaseAugmentation):
    """Colour jitter in a random order per image, then random grayscale (the reference's
    `random_color_jitter`, google-research/simclr `tf2/data_util.py`).

    With strength s, an image is jittered with probability `jitter_probability` (0.8): brightness,
    contrast, saturation and hue, in an order drawn per image, each with its own factor and the
    image clipped to [0, 1] after each op:

    - brightness, "simclrv2": multiply by U[max(0, 1 - 0.8 s), 1 + 0.8 s];
      "simclrv1": add U[-0.8 s, 0.8 s] (`tf.image.random_brightness`);
    - contrast and saturation: factor U[1 - 0.8 s, 1 + 0.8 s] (`tf.image.adjust_contrast`,
      `adjust_saturation` semantics; the lower end is clamped at 0, where the reference would
      raise for s > 1.25);
    - hue: shift U[-0.2 s, 0.2 s] turns (`tf.image.adjust_hue`).

    Independently, an image is turned to grayscale (tiled to 3 channels) with probability
    `grayscale_probability` (0.2), after the jitter. Unlike Keras' `RandomColorJitter` (fixed
    order, no probability) and `RandomBrightness` (additive), this follows the paper. Images not
    jittered get neutral factors, so they leave unchanged up to float rounding (~1e-6). Identity
    when `training=False`.

    Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations",
    arXiv:2002.05709, Appendix A; SimCLRv2 (arXiv:2006.10029) for the multiplicative brightness.

    Args:
        strength: float >= 0, the colour jitter strength s (1.0 ImageNet, 0.5 CIFAR-10).
        jitter_probability: float in [0, 1], chance of jittering an image.
        grayscale_probability: float in [0, 1], chance of turning an image to grayscale.
        brightness_mode: "simclrv2" (multiplicative, the reference's default) or "simclrv1"
            (additive).
        random_order: bool; False applies brightness, contrast, saturation, hue in that order
            (the reference's `color_jitter_nonrand`).
        seed: int or None.
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    distort = simclr_tf.augment.RandomColorDistortion(strength=0.5, seed=0)
    distorted = distort(images)  # float32 in [0, 1]
    ```
    """

    def __init__(
        self,
        strength=1.0,
        jitter_probability=0.8,
        grayscale_probability=0.2,
        brightness_mode="simclrv2",
        random_order=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        if not isinstance(strength, numbers.Real) or isinstance(strength, bool) or strength < 0:
            raise ValueError(f"`strength` must be a number >= 0. Received: strength={strength!r}")
        if brightness_mode not in BRIGHTNESS_MODES:
            raise ValueError(
                f"`brightness_mode` must be one of {list(BRIGHTNESS_MODES)}. "
                f"Received: brightness_mode={brightness_mode!r}"
            )
        # === Config ===
        self.strength = float(strength)
        self.jitter_probability = base.check_probability("jitter_probability", jitter_probability)
        self.grayscale_probability = base.check_probability(
            "grayscale_probability", grayscale_probability
        )
        self.brightness_mode = brightness_mode
        self.random_order = bool(random_order)

    def factor_ranges(self):
        """The (low, high) of each drawn factor, as the reference derives them from s."""
        delta = 0.8 * self.strength
        if self.brightness_mode == "simclrv2":
            brightness = (max(0.0, 1.0 - delta), 1.0 + delta)
        else:
            brightness = (-delta, delta)
        factor = (max(0.0, 1.0 - delta), 1.0 + delta)
        return {
            "brightness": brightness,
            "contrast": factor,
            "saturation": factor,
            "hue": (-0.2 * self.strength, 0.2 * self.strength),
        }

    def get_random_transformation(self, images, training=True, seed=None):
        if not training:
            return None
        batch_size = tf.shape(images)[0]
        seeds = base.split_seed(self.draw_seed(seed), 7)
        ranges = self.factor_ranges()
        transformation = {
            "jitter": base.bernoulli(seeds[0], batch_size, self.jitter_probability),
            "grayscale": base.bernoulli(seeds[1], batch_size, self.grayscale_probability),
        }
        for name, op_seed in zip(("brightness", "contrast", "saturation", "hue"), seeds[2:6]):
            transformation[name] = base.uniform(op_seed, [batch_size], *ranges[name])
        if self.random_order:
            # argsort of i.i.d. uniforms: each of the 24 orders equally likely.
            keys = base.uniform(seeds[6], [batch_size, 4])
            order = tf.argsort(keys, axis=1, stable=True)
        else:
            order = tf.tile(tf.range(4)[None], [batch_size, 1])
        transformation["order"] = tf.cast(order, tf.int32)
        return transformation

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        jitter = transformation["jitter"]
        additive = self.brightness_mode == "simclrv1"
        neutral_brightness = 0.0 if additive else 1.0
        images = color_ops.color_jitter(
            images,
            tf.where(jitter, transformation["brightness"], neutral_brightness),
            tf.where(jitter, transformation["contrast"], 1.0),
            tf.where(jitter, transformation["saturation"], 1.0),
            tf.where(jitter, transformation["hue"], 0.0),
            transformation["order"],
            additive_brightness=additive,
        )
        # A 0/1 blend rather than a select: exact for 0, and one pass fewer over the batch.
        gray = base.per_image(tf.cast(transformation["grayscale"], tf.float32))
        return images + gray * (color_ops.to_grayscale(images) - images)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "strength": self.strength,
                "jitter_probability": self.jitter_probability,
                "grayscale_probability": self.grayscale_probability,
                "brightness_mode": self.brightness_mode,
                "random_order": self.random_order,
            }
        )
        return config
