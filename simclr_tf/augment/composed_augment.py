"""Any composition of the paper's seven transformations, symmetric or asymmetric (Figure 5)."""

import keras
import tensorflow as tf

from simclr_tf.augment import base
from simclr_tf.augment import resize_ops
from simclr_tf.augment.color_distortion import RandomColorDistortion
from simclr_tf.augment.cutout import RandomCutout
from simclr_tf.augment.gaussian_blur import RandomGaussianBlur
from simclr_tf.augment.gaussian_noise import RandomGaussianNoise
from simclr_tf.augment.random_flip import RandomFlipLeftRight
from simclr_tf.augment.random_resized_crop import RandomResizedCrop
from simclr_tf.augment.rotation import RandomRotation90
from simclr_tf.augment.sobel import RandomSobel

TRANSFORMS = ("crop", "cutout", "color", "sobel", "noise", "blur", "rotate")


@keras.saving.register_keras_serializable(package="simclr_tf")
class ComposedAugment(base.BaseAugmentation):
    """One view: a common crop (or resize), then `transforms` applied in the given order.

    The paper's Section 3.1 studies the seven transformations of its Figure 4 alone and in
    pairs (Figure 5). Because ImageNet images differ in size, "we always first randomly crop
    images and resize them to the same resolution, and we then apply the targeted
    transformation(s) only to one branch ..., while leaving the other branch as the identity".
    This layer does both settings:

    - `asymmetric=False`: every call applies the common step and then all `transforms`, each
      call with its own randomness (the usual SimCLR setting, any order of any stages).
    - `asymmetric=True`: the calls come in pairs, as `SimCLR.train_step` makes them (view 1,
      view 2). Both views of a pair share the SAME common crop; the first view then gets the
      targeted `transforms`, the second stays the common crop (the identity branch). The pair
      and the branch are read from the call count of the layer's seed generator (call 2k is
      branch 0, call 2k + 1 branch 1, crop seeded by k), so no change to the model is needed.
      With an explicit `seed=` (stateless use, e.g. in `tf.data`), that seed is the pair's and
      `branch=` (0 or 1) names the view.

    Stages (names in `TRANSFORMS`): "crop" = `RandomResizedCrop` (area 0.08-1, bicubic) + flip;
    "cutout" = `RandomCutout`; "color" = `RandomColorDistortion` (jitter p 0.8 of strength
    `color_jitter_strength`, grayscale p 0.2); "sobel" = `RandomSobel`; "noise" =
    `RandomGaussianNoise`; "blur" = `RandomGaussianBlur` (p 0.5); "rotate" = `RandomRotation90`
    over `rotation_angles` (Figure 4 f: 90, 180, 270).

    Args:
        image_size: side of the square views.
        transforms: ordered names from `TRANSFORMS` (may be empty: the common step only).
        asymmetric: the paper's Figure 5 protocol (above).
        common_crop: True: a random resized crop shared by both views first (the paper's
            Figure 5 set-up); False: resize the whole image instead.
        color_jitter_strength: s of the "color" stage.
        rotation_angles: angles of the "rotate" stage.
        blur_min_radius: the "blur" stage's smallest kernel radius (0: the reference's rule
            alone, which does not blur below 20 px; see `RandomGaussianBlur`).
        seed: int or None.

    Example:

    ```python
    # Figure 5's (crop, color) cell: view 1 cropped then colour-distorted, view 2 the common crop
    augment = simclr_tf.augment.ComposedAugment(32, ("crop", "color"), asymmetric=True)
    model = simclr_tf.SimCLR(encoder, head, augment=augment)
    ```
    """

    def __init__(
        self,
        image_size,
        transforms=("crop", "color", "blur"),
        asymmetric=False,
        common_crop=True,
        color_jitter_strength=1.0,
        rotation_angles=(90, 180, 270),
        blur_min_radius=0,
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        transforms = tuple(transforms)
        unknown = [t for t in transforms if t not in TRANSFORMS]
        if unknown or len(set(transforms)) < len(transforms):
            raise ValueError(
                f"`transforms` must be distinct names of {TRANSFORMS}. Received: "
                f"transforms={transforms!r}"
            )
        # === Layers === (their seed generators stay unused: this layer hands out sub-seeds)
        self.common = RandomResizedCrop(image_size, name="common_crop")
        self.stages = {}
        for name in transforms:
            if name == "crop":
                layer = (RandomResizedCrop(image_size, name="crop"), RandomFlipLeftRight(name="flip"))
            elif name == "cutout":
                layer = RandomCutout(name="cutout")
            elif name == "color":
                layer = RandomColorDistortion(strength=color_jitter_strength, name="color")
            elif name == "sobel":
                layer = RandomSobel(name="sobel")
            elif name == "noise":
                layer = RandomGaussianNoise(name="noise")
            elif name == "blur":
                layer = RandomGaussianBlur(min_kernel_radius=blur_min_radius, name="blur")
            else:
                layer = RandomRotation90(angles=rotation_angles, name="rotate")
            self.stages[name] = layer
        # === Config ===
        self.image_size = self.common.image_size
        self.transforms = transforms
        self.asymmetric = bool(asymmetric)
        self.common_crop = bool(common_crop)
        self.color_jitter_strength = float(color_jitter_strength)
        self.rotation_angles = tuple(int(a) for a in rotation_angles)
        self.blur_min_radius = int(blur_min_radius)

    def call(self, images, training=True, seed=None, branch=None):
        images, unbatched = base.prepare_images(images)
        transformation = self.get_random_transformation(
            images, training=training, seed=seed, branch=branch
        )
        images = self.transform_images(images, transformation, training=training)
        return images[0] if unbatched else images

    def _pair_seeds(self, seed, branch):
        """(pair seed, this call's seed, branch as a scalar int32 tensor)."""
        if seed is not None:
            pair = self.draw_seed(seed)
            branch = tf.constant(0 if branch is None else int(branch), tf.int32)
        else:
            raw = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1), tf.int32)
            if branch is None:
                branch = tf.math.floormod(raw[1], 2)
            else:
                branch = tf.constant(int(branch), tf.int32)
            context = tf.distribute.get_replica_context()
            replica_id = 0 if context is None else context.replica_id_in_sync_group
            pair = tf.stack([raw[0], tf.math.floordiv(raw[1], 2)])
            pair = base._non_negative(tf.random.experimental.stateless_fold_in(pair, replica_id))
        call = base._non_negative(tf.random.experimental.stateless_fold_in(pair, branch + 1))
        return pair, call, branch

    def get_random_transformation(self, images, training=True, seed=None, branch=None):
        if not training:
            return None
        pair, call, branch = self._pair_seeds(seed, branch)
        batch = tf.shape(images)[0]
        transformation = {"targeted": tf.equal(branch, 0) if self.asymmetric else tf.constant(True)}
        if self.common_crop:
            # Symmetric views crop independently (the pair's seed only ties asymmetric views).
            crop_seed = pair if self.asymmetric else call
            transformation["common"] = self.common.get_random_transformation(images, seed=crop_seed)
        # The stages act on the common step's output: draw their parameters for that shape.
        reference = tf.zeros([batch, self.image_size, self.image_size, 3])
        seeds = base.split_seed(call, len(TRANSFORMS) + 1)
        for name, layer in self.stages.items():
            stage_seed = seeds[TRANSFORMS.index(name)]
            if name == "crop":
                crop_seed, flip_seed = base.split_seed(stage_seed, 2)
                transformation[name] = (
                    layer[0].get_random_transformation(reference, seed=crop_seed),
                    layer[1].get_random_transformation(reference, seed=flip_seed),
                )
            else:
                transformation[name] = layer.get_random_transformation(reference, seed=stage_seed)
        return transformation

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return self.common.transform_images(images, None, training=False)
        if self.common_crop:
            images = self.common.transform_images(images, transformation["common"])
        else:
            images = resize_ops.center_crop_and_resize(images, self.image_size, 1.0)
        views = images
        for name in self.transforms:
            layer = self.stages[name]
            if name == "crop":
                views = layer[0].transform_images(views, transformation[name][0])
                views = layer[1].transform_images(views, transformation[name][1])
            else:
                views = layer.transform_images(views, transformation[name])
        # The identity branch keeps the common crop (a scalar select, XLA-friendly).
        return tf.where(transformation["targeted"], views, images)

    def compute_output_shape(self, input_shape):
        return base.output_image_shape(input_shape, self.image_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "transforms": list(self.transforms),
                "asymmetric": self.asymmetric,
                "common_crop": self.common_crop,
                "color_jitter_strength": self.color_jitter_strength,
                "rotation_angles": list(self.rotation_angles),
                "blur_min_radius": self.blur_min_radius,
            }
        )
        return config
