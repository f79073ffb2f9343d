"""SimCLR's augmentation pipeline as one Keras layer: one call, one view."""

import keras
import tensorflow as tf

from simclr_tf.augment import base
from simclr_tf.augment import resize_ops
from simclr_tf.augment.color_distortion import RandomColorDistortion
from simclr_tf.augment.gaussian_blur import RandomGaussianBlur
from simclr_tf.augment.random_flip import RandomFlipLeftRight
from simclr_tf.augment.random_resized_crop import RandomResizedCrop


@keras.saving.register_keras_serializable(package="simclr_tf")
class SimCLRAugment(base.BaseAugmentation):
    """One random view of each image: crop, flip, colour distortion, blur (SimCLR, Appendix A).

    The paper's first finding is that the composition of augmentations defines the contrastive
    task. This layer runs the reference pipeline (google-research/simclr `tf2/data_util.py`
    `preprocess_for_train`, then `batch_random_blur`) on a whole batch on the accelerator, every
    random parameter drawn per image, from XLA-compilable ops. Call it twice for two views:

    1. `RandomResizedCrop`: area (0.08, 1.0), aspect (3/4, 4/3), bicubic resize to `image_size`;
    2. `RandomFlipLeftRight`: p = 0.5;
    3. `RandomColorDistortion`: jitter of strength s in random order (p = 0.8), grayscale
       (p = 0.2);
    4. `RandomGaussianBlur`: p = 0.5, sigma U(0.1, 2.0), kernel 10% of the side.

    Input: uint8 0-255 or float 0-1, (B, H, W, C) or one image (H, W, C), C in {1, 3} (1 is tiled
    to 3); or a canvas of images of several sizes at their native resolution,
    `{"image": canvas, "image_size": sizes}` (image b in the top-left `sizes[b] = (height,
    width)` of `canvas[b]`, as `simclr_tf.data` yields them): the crop is then drawn in each
    image's own geometry (the whole image, edges included) and resampled from its native
    pixels, as the reference crops the decoded original. Output: float32 in [0, 1],
    (B, image_size, image_size, 3). With `training=False` the layer is the evaluation
    transform: centre crop of `center_crop_fraction` of each image's shorter side, resized.

    Presets match the papers: `SimCLRAugment.imagenet()` (224 px, s = 1.0, blur) and
    `SimCLRAugment.cifar()` (32 px, s = 0.5, no blur); keyword arguments override either.

    Randomness: the layer's `keras.random.SeedGenerator` advances once per call (two calls in
    one `train_step` give two views), sub-seeds are split from that draw, and the replica id is
    folded in under `tf.distribute` so replicas draw independently (create the layer in the
    strategy's scope). It also runs inside `tf.data.Dataset.map`; with `num_parallel_calls`
    the calls race on the generator's state, so give each call its own seed there:
    `ds.enumerate().map(lambda i, x: augment(x, seed=tf.stack([0, i])), num_parallel_calls=...)`.

    Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations",
    arXiv:2002.05709; Chen et al., "Big Self-Supervised Models are Strong Semi-Supervised
    Learners", arXiv:2006.10029.

    Args:
        image_size: int, side of the square output.
        color_jitter_strength: float >= 0, the colour strength s.
        blur: bool, whether to apply the random Gaussian blur.
        crop: bool; False resizes the whole image (no crop) instead of a random crop.
        flip: bool, whether to flip left-right at random.
        color_distort: bool, whether to apply the colour jitter and grayscale.
        brightness_mode: "simclrv2" (multiplicative, default) or "simclrv1" (additive).
        interpolation: "bicubic" (the reference) or "bilinear", for crop and evaluation resize.
        area_range: (min, max) crop area fraction.
        aspect_ratio_range: (min, max) crop width / height.
        jitter_probability: float, chance of the colour jitter per image.
        grayscale_probability: float, chance of grayscale per image.
        blur_probability: float, chance of blur per image.
        sigma_range: (min, max) blur sigma in pixels.
        blur_min_radius: int >= 0, the blur kernel's smallest radius (0: the reference's rule
            alone, which does not blur below 20 px; see `RandomGaussianBlur`).
        center_crop_fraction: evaluation crop; None: 0.875 above 32 px, none at 32 px or less.
        seed: int or None.
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    augment = simclr_tf.SimCLRAugment(image_size=224, color_jitter_strength=1.0, blur=True)
    view1, view2 = augment(images), augment(images)  # two different views of each image
    cifar = simclr_tf.SimCLRAugment.cifar()          # 32 px, s = 0.5, no blur
    evaluation = augment(images, training=False)     # centre crop 0.875, resize
    view = augment({"image": canvas, "image_size": sizes})  # images of several sizes
    ```
    """

    def __init__(
        self,
        image_size,
        color_jitter_strength=1.0,
        blur=True,
        crop=True,
        flip=True,
        color_distort=True,
        brightness_mode="simclrv2",
        interpolation="bicubic",
        area_range=(0.08, 1.0),
        aspect_ratio_range=(3.0 / 4.0, 4.0 / 3.0),
        jitter_probability=0.8,
        grayscale_probability=0.2,
        blur_probability=0.5,
        sigma_range=(0.1, 2.0),
        blur_min_radius=0,
        center_crop_fraction=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        # === Layers === (they check their own arguments; their seed generators stay unused:
        # this layer hands them sub-seeds of its own draw)
        self.random_crop = RandomResizedCrop(
            image_size,
            area_range=area_range,
            aspect_ratio_range=aspect_ratio_range,
            interpolation=interpolation,
            center_crop_fraction=center_crop_fraction,
            name="random_crop",
        )
        self.random_flip = RandomFlipLeftRight(name="random_flip")
        self.color_distortion = RandomColorDistortion(
            strength=color_jitter_strength,
            jitter_probability=jitter_probability,
            grayscale_probability=grayscale_probability,
            brightness_mode=brightness_mode,
            name="color_distortion",
        )
        self.gaussian_blur = RandomGaussianBlur(
            probability=blur_probability, sigma_range=sigma_range,
            min_kernel_radius=blur_min_radius, name="gaussian_blur",
        )
        # === Config ===
        self.image_size = self.random_crop.image_size
        self.color_jitter_strength = self.color_distortion.strength
        self.blur = bool(blur)
        self.crop = bool(crop)
        self.flip = bool(flip)
        self.color_distort = bool(color_distort)
        self.brightness_mode = brightness_mode
        self.interpolation = interpolation
        self.area_range = self.random_crop.area_range
        self.aspect_ratio_range = self.random_crop.aspect_ratio_range
        self.jitter_probability = self.color_distortion.jitter_probability
        self.grayscale_probability = self.color_distortion.grayscale_probability
        self.blur_probability = self.gaussian_blur.probability
        self.sigma_range = self.gaussian_blur.sigma_range
        self.blur_min_radius = self.gaussian_blur.min_kernel_radius
        self.center_crop_fraction = self.random_crop.center_crop_fraction

    @classmethod
    def imagenet(cls, image_size=224, **kwargs):
        """The ImageNet setting: colour strength 1.0, with blur."""
        kwargs = {"color_jitter_strength": 1.0, "blur": True, **kwargs}
        return cls(image_size, **kwargs)

    @classmethod
    def cifar(cls, image_size=32, **kwargs):
        """The CIFAR-10 setting: colour strength 0.5, no blur."""
        kwargs = {"color_jitter_strength": 0.5, "blur": False, **kwargs}
        return cls(image_size, **kwargs)

    def _stages(self):
        """(key, layer) of the random stages after crop and flip, in the reference's order."""
        stages = [
            ("color", self.color_distortion, self.color_distort),
            ("blur", self.gaussian_blur, self.blur),
        ]
        return [(key, layer) for key, layer, enabled in stages if enabled]

    accepts_canvas = True

    def get_random_transformation(self, images, training=True, seed=None, sizes=None):
        if not training:
            return None
        crop_seed, flip_seed, color_seed, blur_seed = base.split_seed(self.draw_seed(seed), 4)
        if self.crop:
            crop = self.random_crop.get_random_transformation(images, seed=crop_seed, sizes=sizes)
        else:
            sizes = resize_ops.image_sizes(images, sizes)
            crop = {"boxes": tf.concat([tf.zeros_like(sizes), sizes], axis=1)}
        transformation = {"crop": crop}
        if self.flip:
            transformation["flip"] = self.random_flip.get_random_transformation(
                images, seed=flip_seed
            )
        seeds = {"color": color_seed, "blur": blur_seed}
        for key, layer in self._stages():
            transformation[key] = layer.get_random_transformation(images, seed=seeds[key])
        return transformation

    def transform_images(self, images, transformation, training=True, sizes=None):
        if not training or transformation is None:
            return self.random_crop.transform_images(images, None, training=False, sizes=sizes)
        # The flip rides on the crop's resampling matrices (the same result, no extra pass).
        flip = transformation["flip"]["flip"] if self.flip else None
        images = resize_ops.crop_and_resize(
            images, transformation["crop"]["boxes"], self.image_size, self.interpolation, flip
        )
        images = tf.clip_by_value(images, 0.0, 1.0)
        for key, layer in self._stages():
            images = layer.transform_images(images, transformation[key])
        return images

    def compute_output_shape(self, input_shape):
        return base.output_image_shape(input_shape, self.image_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "color_jitter_strength": self.color_jitter_strength,
                "blur": self.blur,
                "crop": self.crop,
                "flip": self.flip,
                "color_distort": self.color_distort,
                "brightness_mode": self.brightness_mode,
                "interpolation": self.interpolation,
                "area_range": self.area_range,
                "aspect_ratio_range": self.aspect_ratio_range,
                "jitter_probability": self.jitter_probability,
                "grayscale_probability": self.grayscale_probability,
                "blur_probability": self.blur_probability,
                "sigma_range": self.sigma_range,
                "blur_min_radius": self.blur_min_radius,
                "center_crop_fraction": self.center_crop_fraction,
            }
        )
        return config
