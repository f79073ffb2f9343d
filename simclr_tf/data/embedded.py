"""The embedded offline dataset: a stratified subset of Fashion-MNIST shipped with the package.

Fashion-MNIST: Xiao, Rasul, Vollgraf (2017), arXiv:1708.07747, Zalando Research, MIT licence.
`scripts/build_embedded_dataset.py` builds `fashion_mnist_subset.npz` from the Debian package
`dataset-fashion-mnist`: 1,000 images per class from the official training split and 200 per
class from the official test split (10,000 + 2,000 images, 28x28x1 uint8), picked with a fixed
seed; `embedded_meta()` returns the exact procedure.
"""

import functools
import json
import os

import numpy as np

from simclr_tf.data.arrays import array_source
from simclr_tf.data.pipeline import batched

EMBEDDED_NAME = "embedded_fashion_mnist"
EMBEDDED_SPLITS = ("train", "test")
EMBEDDED_CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_PATH = os.path.join(os.path.dirname(__file__), "fashion_mnist_subset.npz")


@functools.lru_cache(maxsize=1)
def _load():
    with np.load(_PATH) as f:
        return {k: f[k] for k in f.files}


def embedded_meta():
    """Source, licence, citation, class names and the selection procedure of the embedded subset."""
    return json.loads(str(_load()["meta"]))


def load_embedded_arrays(split="train"):
    """The embedded subset's `split` ("train" or "test") as numpy.

    Returns:
        `(images, labels)`: uint8 `(N, 28, 28, 1)` and int32 `(N,)` (fresh copies), sorted by
        their index in the original Fashion-MNIST split.
    """
    if split not in EMBEDDED_SPLITS:
        raise ValueError(
            f"`split` must be one of {list(EMBEDDED_SPLITS)} for {EMBEDDED_NAME}. "
            f"Received: split={split!r}"
        )
    data = _load()
    return data[f"{split}_images"].copy(), data[f"{split}_labels"].astype(np.int32)


def embedded_source(split, image_size=None, *, labeled=True, channels=None, input_context=None):
    """The `Source` behind `load_embedded` (see `simclr_tf.data.arrays.array_source`)."""
    images, labels = load_embedded_arrays(split)
    return array_source(images, labels, name=EMBEDDED_NAME, split=split,
                        class_names=EMBEDDED_CLASS_NAMES, image_size=image_size, labeled=labeled,
                        channels=channels, input_context=input_context)


def load_embedded(split, batch_size, image_size=None, *, labeled=True, shuffle=True, seed=None,
                  cache=False, input_context=None, channels=None, shuffle_buffer=None,
                  with_info=False):
    """A batched `tf.data.Dataset` of the embedded Fashion-MNIST subset; works offline.

    Args:
        split: "train" (10,000 images) or "test" (2,000 images).
        batch_size: the global batch size (see `simclr_tf.data.get_dataset`).
        image_size: side S of the yielded images; None or 28 keeps the native 28x28, any other
            size resizes on the host.
        labeled: yield `(images, labels)` (int32) rather than images alone.
        channels: None or 1 keeps the single grayscale channel (the model's augmentation tiles
            it to RGB); 3 tiles it here.
        shuffle, seed, cache, input_context, shuffle_buffer, with_info: as in `get_dataset`.

    Returns:
        The dataset of uint8 `(B, S, S, C)` batches, and a `DatasetInfo` when `with_info`.

    Example:
        >>> ds = load_embedded("train", batch_size=256)  # (images, labels) batches, 28x28x1
    """
    source = embedded_source(split, image_size, labeled=labeled, channels=channels,
                             input_context=input_context)
    ds = batched(source, batch_size, shuffle=shuffle, seed=seed, cache=cache,
                 input_context=input_context, shuffle_buffer=shuffle_buffer)
    return (ds, source.info) if with_info else ds
