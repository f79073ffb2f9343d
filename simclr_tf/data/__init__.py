"""Input pipelines: tfds datasets, image folders, and the embedded offline dataset.

Every pipeline yields batched, fixed-size uint8 images (B, S, S, C), as `(images, labels)` when
labelled (int32 labels) or images alone, batched with `drop_remainder=True`. The host only
decodes and resizes; augmentation happens in the model, on the accelerator.
"""

from simclr_tf.data.common import DatasetInfo
from simclr_tf.data.embedded import (
    EMBEDDED_CLASS_NAMES,
    EMBEDDED_NAME,
    embedded_meta,
    load_embedded,
    load_embedded_arrays,
)

# tfds names this package has been tested with (any other tfds image dataset also works).
KNOWN_TFDS = (
    "cifar10", "cifar100", "stl10", "imagenet2012", "imagenet2012_subset/1pct",
    "imagenet2012_subset/10pct", "fashion_mnist", "mnist", "oxford_flowers102", "food101",
)


def get_dataset(name, split, batch_size, image_size=None, **kwargs):
    """One entry point for the training command.

    `name`: `embedded_fashion_mnist` (shipped, offline), a tfds dataset name (e.g. `cifar10`,
    `imagenet2012_subset/1pct`), or `dir:/path/to/images` (an image folder). Keyword arguments
    go to `load_embedded`, `load_tfds` or `from_directory`. `with_info=True` also returns a
    `DatasetInfo` (number of examples and classes).
    """
    if name == EMBEDDED_NAME:
        kwargs.pop("data_dir", None)  # shipped with the package
        return load_embedded(split, batch_size, image_size, **kwargs)
    if name.startswith("dir:"):
        from simclr_tf.data.directory import from_directory

        kwargs.pop("data_dir", None)
        return from_directory(name[len("dir:"):], batch_size, image_size, **kwargs)
    from simclr_tf.data.tfds_data import load_tfds

    return load_tfds(name, split, batch_size, image_size, **kwargs)


def load_arrays(name, split, image_size=None, max_examples=None, **kwargs):
    """Up to `max_examples` labelled `(images, labels)` as numpy, for kNN banks and linear eval."""
    import numpy as np

    if name == EMBEDDED_NAME:
        images, labels = load_embedded_arrays(split)
        if image_size not in (None, images.shape[1]):
            ds, _ = load_embedded(split, 1, image_size, shuffle=False, with_info=True)
            images = np.concatenate([x.numpy() for x, _ in ds])
        return images[:max_examples], labels[:max_examples]
    ds, info = get_dataset(name, split, 1, image_size, labeled=True, shuffle=False, with_info=True, **kwargs)
    if max_examples:
        ds = ds.take(max_examples)
    images, labels = [], []
    for x, y in ds:
        images.append(x.numpy())
        labels.append(y.numpy())
    if not images:
        raise ValueError(f"{name} split {split!r} has no labelled examples.")
    return np.concatenate(images), np.concatenate(labels)


__all__ = [
    "DatasetInfo", "EMBEDDED_CLASS_NAMES", "EMBEDDED_NAME", "KNOWN_TFDS", "embedded_meta",
    "get_dataset", "load_arrays", "load_embedded", "load_embedded_arrays",
]
