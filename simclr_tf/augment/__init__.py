"""Batched, per-image-random, XLA-compilable SimCLR augmentation layers.

`SimCLRAugment` is the whole pipeline (one call, one view); the stages are usable alone.
"""

from simclr_tf.augment.center_crop import CenterCropResize
from simclr_tf.augment.color_distortion import RandomColorDistortion
from simclr_tf.augment.composed_augment import ComposedAugment
from simclr_tf.augment.cutout import RandomCutout
from simclr_tf.augment.gaussian_blur import RandomGaussianBlur
from simclr_tf.augment.gaussian_noise import RandomGaussianNoise
from simclr_tf.augment.random_flip import RandomFlipLeftRight
from simclr_tf.augment.random_resized_crop import RandomResizedCrop
from simclr_tf.augment.rotation import RandomRotation90
from simclr_tf.augment.sobel import RandomSobel
from simclr_tf.augment.simclr_augment import SimCLRAugment

__all__ = [
    "CenterCropResize",
    "ComposedAugment",
    "RandomColorDistortion",
    "RandomCutout",
    "RandomFlipLeftRight",
    "RandomGaussianBlur",
    "RandomGaussianNoise",
    "RandomResizedCrop",
    "RandomRotation90",
    "RandomSobel",
    "SimCLRAugment",
]
