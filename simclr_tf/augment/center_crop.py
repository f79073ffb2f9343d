"""The evaluation transform: a deterministic centre crop, resized."""

import keras

from simclr_tf.augment import base
from simclr_tf.augment import resize_ops


@keras.saving.register_keras_serializable(package="simclr_tf")
class CenterCropResize(keras.layers.Layer):
    """Centre crop then resize to `image_size` x `image_size`: the reference's evaluation path.

    As `preprocess_for_eval` (google-research/simclr `tf2/data_util.py`): a centred square of
    `crop_fraction` of the shorter side (0.875, the ImageNet standard), resized bicubically; at
    32 px or less the reference does not crop. Here a non-square image at fraction 1.0 keeps its
    centred square (the reference requires square images there). Output float32 in [0, 1]; the
    same in training and inference (it has no randomness). Input as `SimCLRAugment`: uint8 0-255
    or float 0-1, (B, H, W, C) or (H, W, C), C in {1, 3}, or a canvas of images of several sizes,
    `{"image": canvas, "image_size": sizes}` (see `RandomResizedCrop`): each image's own centre
    is cropped from its native pixels.

    Args:
        image_size: int, side of the square output.
        crop_fraction: float in (0, 1] or None. None: 0.875 when `image_size > 32`, else 1.0.
        interpolation: "bicubic" (the reference) or "bilinear".
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    evaluate = simclr_tf.augment.CenterCropResize(224)
    batch = evaluate(uint8_images)  # (B, 224, 224, 3) float32
    ```
    """

    def __init__(self, image_size, crop_fraction=None, interpolation="bicubic", **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        # === Config ===
        self.image_size = base.check_image_size(image_size)
        self.crop_fraction = resize_ops.check_crop_fraction("crop_fraction", crop_fraction)
        self.interpolation = resize_ops.check_interpolation(interpolation)

    def call(self, images):
        images, sizes, unbatched = base.prepare_inputs(images, accepts_canvas=True)
        fraction = resize_ops.effective_crop_fraction(self.crop_fraction, self.image_size)
        images = resize_ops.center_crop_and_resize(
            images, self.image_size, fraction, self.interpolation, sizes
        )
        return images[0] if unbatched else images

    def compute_output_shape(self, input_shape):
        return base.output_image_shape(input_shape, self.image_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "crop_fraction": self.crop_fraction,
                "interpolation": self.interpolation,
            }
        )
        return config
