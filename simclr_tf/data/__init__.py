"""Input pipelines: tfds datasets, image folders, and the embedded offline dataset.

Every pipeline yields batched uint8 images, as `(images, labels)` when labelled (int32 labels) or
images alone, batched with `drop_remainder=True`; `B` is the global batch unless an
`input_context` shards the data. Images of one size are `(B, S, S, C)`; images of several sizes
(folders, imagenet2012) stay at native resolution in a canvas, `{"image": (B, C, C, ch),
"image_size": (B, 2)}`. The host only decodes; cropping and augmentation happen in the model,
on the accelerator.
"""

from simclr_tf.data.decode import decode_native, default_canvas_size, resize_to_square
from simclr_tf.data.pipeline import epochs, sample_images
from simclr_tf.data.types import DatasetInfo, MissingLabelsError, num_images, take
from simclr_tf.data.directory import IMAGE_EXTENSIONS, from_directory, list_images
from simclr_tf.data.embedded import (
    EMBEDDED_CLASS_NAMES,
    EMBEDDED_NAME,
    embedded_meta,
    load_embedded,
    load_embedded_arrays,
)
from simclr_tf.data.sources import get_dataset, get_source, load_arrays
from simclr_tf.data.tfds_data import KNOWN_TFDS, load_tfds

__all__ = [
    "DatasetInfo", "EMBEDDED_CLASS_NAMES", "EMBEDDED_NAME", "IMAGE_EXTENSIONS", "KNOWN_TFDS",
    "MissingLabelsError",
    "embedded_meta", "epochs", "from_directory", "get_dataset", "get_source", "list_images", "load_arrays",
    "load_embedded", "load_embedded_arrays", "load_tfds", "resize_to_square", "decode_native",
    "default_canvas_size", "num_images", "sample_images", "take",
]
