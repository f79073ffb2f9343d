"""The embedded offline dataset: a stratified subset of Fashion-MNIST shipped with the package.

Fashion-MNIST: Xiao, Rasul, Vollgraf (2017), arXiv:1708.07747, Zalando Research, MIT licence;
built from the Debian package `dataset-fashion-mnist` by `scripts/build_embedded_dataset.py`
(1,000 images per class from the training split, 200 per class from the test split, 28x28x1 uint8).
"""

import functools
import json
import os

import numpy as np
import tensorflow as tf

from simclr_tf.data.common import DatasetInfo, check_batch, finish

EMBEDDED_NAME = "embedded_fashion_mnist"
_PATH = os.path.join(os.path.dirname(__file__), "fashion_mnist_subset.npz")


@functools.lru_cache(maxsize=1)
def _load():
    with np.load(_PATH) as f:
        return {k: f[k] for k in f.files}


def embedded_meta():
    """Source, licence, class names and the selection procedure of the embedded subset."""
    return json.loads(str(_load()["meta"]))


EMBEDDED_CLASS_NAMES = tuple(
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
)


def load_embedded_arrays(split="train"):
    """(images uint8 (N, 28, 28, 1), labels int32 (N,)) of the embedded subset's `split`."""
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test' for {EMBEDDED_NAME}. Received: {split!r}")
    data = _load()
    return data[f"{split}_images"], data[f"{split}_labels"].astype(np.int32)


def load_embedded(split, batch_size, image_size=None, *, labeled=True, shuffle=True, seed=None,
                  cache=False, input_context=None, with_info=False):
    """A batched `tf.data.Dataset` of the embedded subset (see `simclr_tf.data.get_dataset`).

    `image_size` None or 28 keeps the native size; another size resizes on the host.
    """
    images, labels = load_embedded_arrays(split)
    check_batch(batch_size, len(images), f"the embedded {split} split")
    ds = tf.data.Dataset.from_tensor_slices((images, labels) if labeled else images)
    if image_size not in (None, images.shape[1]):
        from simclr_tf.data.common import resize_uint8

        resize = lambda x: resize_uint8(x, image_size)  # noqa: E731
        ds = ds.map((lambda x, y: (resize(x), y)) if labeled else resize, num_parallel_calls=tf.data.AUTOTUNE)
    ds = finish(ds, batch_size, shuffle=shuffle, seed=seed, cache=cache,
                input_context=input_context, num_examples=len(images))
    info = DatasetInfo(len(images), len(EMBEDDED_CLASS_NAMES), EMBEDDED_CLASS_NAMES,
                       (image_size or images.shape[1],) * 2 + (1,))
    return (ds, info) if with_info else ds
