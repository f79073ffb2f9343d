"""The `Source` of a labelled dataset held in numpy arrays: the embedded Fashion-MNIST subset and
the package's generated colour sets all stream through `array_source`."""

import tensorflow as tf

from simclr_tf.data.decode import resize_to_square
from simclr_tf.data.pipeline import map_images, shard_slice
from simclr_tf.data.types import DatasetInfo, Source, check_channels, check_positive_int


def array_source(images, labels, *, name, split, class_names, image_size=None, labeled=True,
                 channels=None, input_context=None):
    """A `Source` over uint8 `(N, S, S, C)` images (C = 1 or 3) and int labels.

    Sharded by `input_context`, resized on the host to `image_size` (None: native), and converted
    to `channels` (None: the arrays' own; 3 tiles a grayscale channel, 1 converts RGB to
    grayscale)."""
    image_size = check_positive_int("image_size", image_size or images.shape[1])
    native = images.shape[-1]
    channels = check_channels(channels) or native
    total = len(images)
    start, stop, step = shard_slice(total, input_context)
    images, labels = images[start:stop:step], labels[start:stop:step]
    records = tf.data.Dataset.from_tensor_slices((images, labels) if labeled else images)

    def prepare(image):
        image = resize_to_square(image, image_size)
        if channels == native:
            return image
        return tf.image.grayscale_to_rgb(image) if channels == 3 else tf.image.rgb_to_grayscale(image)

    shard = f" (input pipeline {start} of {step})" if step > 1 else ""
    return Source(
        records=records,
        decode=lambda ds: map_images(ds, prepare, labeled),
        info=DatasetInfo(
            num_examples=total, num_classes=len(class_names), class_names=tuple(class_names),
            image_shape=(image_size, image_size, channels),
        ),
        num_examples=len(images),
        where=f"the {name} {split!r} split{shard}",
    )
