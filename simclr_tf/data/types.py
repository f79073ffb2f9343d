"""What every pipeline shares: the dataset description (`DatasetInfo`), the unbatched `Source` a
loader builds, the argument checks, and the two helpers for an image batch that is either an
array or a canvas dict of arrays (`num_images`, `take`).

A loader builds a `Source`: cheap records (file paths, encoded bytes, array rows) that are
shuffled BEFORE the expensive decode (`simclr_tf.data.decode`), plus the function that decodes
them into uint8 images; `simclr_tf.data.pipeline` turns it into batches.
"""

import dataclasses
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the training command needs to know about a dataset split.

    Args:
        num_examples: examples in the whole split (all input pipelines together), or None when
            unknown (tfds under `tfds.testing.mock_data` has no split metadata).
        num_classes: number of classes (0 for an unlabelled image folder).
        class_names: the class names, in label order, when known.
        image_shape: `(S, S, C)` of the images the pipeline yields.
    """

    num_examples: Optional[int]
    num_classes: int
    class_names: tuple = ()
    image_shape: tuple = ()


@dataclasses.dataclass(frozen=True)
class Source:
    """A dataset before shuffling and batching (internal to `simclr_tf.data`).

    `records` yields cheap elements (`(record, label)` when labelled), already sharded for this
    input pipeline; `decode` maps a dataset of records to one of `(image, label)` or `image`:
    uint8 images of `info.image_shape`, or for a canvas source `{"image": (H, W, C),
    "image_size": (2,)}` at native size, which `batch` pads into the canvas. `num_examples`
    counts this pipeline's records (None when unknown); `where` names the data in error
    messages; `shuffle_buffer` is the default buffer (None: all records, right for cheap
    records such as paths).
    """

    records: tf.data.Dataset
    decode: Callable[[tf.data.Dataset], tf.data.Dataset]
    info: DatasetInfo
    num_examples: Optional[int]
    where: str
    shuffle_buffer: Optional[int] = None

    def batch(self, ds, batch_size, drop_remainder=False):
        """Batches decoded elements of this source. Canvas images (`{"image", "image_size"}`)
        arrive unpadded and are padded here, with zeros, into canvases of `info.image_shape`:
        `padded_batch` writes each image once into its slot of the batch, where padding every
        image first and batching the canvases would copy each 786 KB canvas twice."""
        spec = ds.element_spec
        images = spec[0] if isinstance(spec, tuple) else spec
        if not isinstance(images, dict):
            return ds.batch(batch_size, drop_remainder=drop_remainder)
        shapes = {"image": self.info.image_shape, "image_size": [2]}
        shapes = (shapes, spec[1].shape) if isinstance(spec, tuple) else shapes
        return ds.padded_batch(batch_size, padded_shapes=shapes, drop_remainder=drop_remainder)


class MissingLabelsError(ValueError):
    """Labels were requested from data that has none (a flat image folder, a tfds split of
    unlabelled examples or without a label feature): callers that can do without labels
    (pretraining, whose probe is optional) catch this one error. `reason` is a short phrase
    for their log line."""

    def __init__(self, message, reason="no labels"):
        super().__init__(message)
        self.reason = reason


def check_positive_int(name, value):
    """`value` must be an integer >= 1 (numpy integers accepted, bools not)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}")
    return int(value)


def check_channels(channels):
    if channels not in (None, 1, 3):
        raise ValueError(
            "`channels` must be None (the source's own), 1 (grayscale) or 3 (RGB). "
            f"Received: channels={channels!r}"
        )
    return channels


def check_batch(batch_size, num_examples, where):
    """A batch larger than the data would yield no batch at all with drop_remainder: say so."""
    if num_examples is None:
        return
    if num_examples == 0:
        raise ValueError(f"{where} has no examples.")
    if batch_size > num_examples:
        raise ValueError(
            f"`batch_size` is larger than {where}, which has {num_examples} examples: with "
            f"drop_remainder=True not a single batch could be formed. Use a batch size of at most "
            f"{num_examples}. Received: batch_size={batch_size}"
        )


def num_images(images):
    """How many images an array batch or a canvas dict of arrays `{"image", "image_size"}` holds."""
    return len(images["image"]) if isinstance(images, dict) else len(images)


def take(images, index):
    """`images[index]` for an array batch or a canvas dict of arrays (index: int array, slice)."""
    if isinstance(images, dict):
        return {key: value[index] for key, value in images.items()}
    return images[index]
