"""One entry point over the three kinds of data: the embedded subset, image folders, tfds."""

import tensorflow as tf
from absl import logging

from simclr_tf.data.common import batched, to_arrays
from simclr_tf.data.directory import directory_source
from simclr_tf.data.embedded import EMBEDDED_NAME, embedded_source, load_embedded_arrays
from simclr_tf.data.tfds_data import tfds_source, unknown_name_error

DIR_PREFIX = "dir:"


def _folder(name, split):
    """`dir:PATH` reads PATH/<split> when that folder exists (a folder has no splits), else PATH."""
    path = name[len(DIR_PREFIX):]
    if not path:
        raise unknown_name_error(name)
    if split and tf.io.gfile.isdir(f"{path.rstrip('/')}/{split}"):
        return f"{path.rstrip('/')}/{split}"
    logging.info("Image folder %s has no %r sub-folder: reading the folder itself.", path, split)
    return path


def get_source(name, split, image_size=None, *, labeled=True, shuffle=True, seed=None,
               channels=None, input_context=None, data_dir=None, skip_corrupt=False, download=False,
               canvas_size=None):
    """The unbatched `Source` of `get_dataset` (see `simclr_tf.data.common`)."""
    if not isinstance(name, str) or not name:
        raise unknown_name_error(str(name))
    common = dict(labeled=labeled, channels=channels, input_context=input_context)
    if name == EMBEDDED_NAME:
        return embedded_source(split, image_size, **common)
    if name.startswith(DIR_PREFIX):
        path = _folder(name, split)
        return directory_source(path, image_size, skip_corrupt=skip_corrupt,
                                canvas_size=canvas_size, **common)
    return tfds_source(name, split, image_size, shuffle_files=shuffle, seed=seed, data_dir=data_dir,
                       download=download, canvas_size=canvas_size, **common)


def get_dataset(name, split, batch_size, image_size=None, *, labeled=True, shuffle=True, seed=None,
                cache=False, input_context=None, channels=None, shuffle_buffer=None, data_dir=None,
                skip_corrupt=False, download=False, canvas_size=None, with_info=False):
    """A batched uint8 image dataset by name: what the training command reads.

    Every dataset yields `(images, labels)` (int32 `(B,)` labels) when `labeled`, else images
    alone, batched with `drop_remainder=True` (the contrastive loss needs a static batch) and
    prefetched. `images` is uint8 `(B, S, S, C)` for datasets of one image size (cifar10,
    stl10, the embedded set), and for images of several sizes (image folders, imagenet2012) a
    canvas at native resolution: `{"image": (B, C, C, ch) uint8, "image_size": (B, 2) int32}`,
    image b in the top-left `(height, width) = image_size[b]` of its canvas (shrunk on the host
    only when its longer side exceeds the canvas, `canvas_size`). The host only decodes;
    cropping and all augmentation run in the model (`simclr_tf.SimCLRAugment` takes either).

    Args:
        name: `embedded_fashion_mnist` (shipped with the package, offline), `dir:/path` (an image
            folder; `/path/<split>` when that sub-folder exists, else `/path` itself), or a tfds
            name (`cifar10`, `stl10`, `imagenet2012`, `imagenet2012_subset/1pct`, ...).
        split: the split (`train`, `test`, tfds expressions such as `train+unlabelled`).
        batch_size: the GLOBAL batch size. With `input_context` (inside
            `strategy.distribute_datasets_from_function`), the data is sharded by input pipeline
            and each pipeline yields `input_context.get_per_replica_batch_size(batch_size)`.
        image_size: side S of the model's views. Datasets of one image size are resized on the
            host only when S differs (centred square); None keeps the native size (28 for the
            embedded set). For images of several sizes S sets the default canvas.
        canvas_size: images of several sizes only: the canvas side (None: 16/7 of S, 512 for
            224; 0: the host resizes each image's centred square to S x S instead, as before:
            less device memory, but the edges of non-square images are never seen).
        labeled: yield labels; an error where the data has none.
        shuffle: shuffle every epoch (and tfds files); `seed` makes the order reproducible.
        cache: True caches decoded images in memory, a string in files with that prefix.
        channels: None keeps the source's channels (1 for Fashion-MNIST, 3 for RGB sources and
            folders); 3 forces RGB, 1 grayscale.
        shuffle_buffer: None: all examples for the embedded set and folders (cheap records),
            10,000 encoded records for tfds.
        data_dir, download: tfds only (prepared data only unless download=True). skip_corrupt: image folders only (see `from_directory`).
        with_info: also return a `DatasetInfo` (examples in the whole split, classes, shape).

    Returns:
        The `tf.data.Dataset`, or `(dataset, info)` when `with_info`.

    Example:
        >>> ds, info = get_dataset("embedded_fashion_mnist", "train", 256, with_info=True)
        >>> images, labels = next(iter(ds))   # (256, 28, 28, 1) uint8, (256,) int32
    """
    source = get_source(name, split, image_size, labeled=labeled, shuffle=shuffle, seed=seed,
                        channels=channels, input_context=input_context, data_dir=data_dir,
                        skip_corrupt=skip_corrupt, download=download, canvas_size=canvas_size)
    ds = batched(source, batch_size, shuffle=shuffle, seed=seed, cache=cache,
                 input_context=input_context, shuffle_buffer=shuffle_buffer)
    return (ds, source.info) if with_info else ds


def load_arrays(name, split, image_size=None, max_examples=None, **kwargs):
    """The first `max_examples` labelled `(images, labels)` of a split as numpy arrays, in the
    split's own order (for kNN banks and linear evaluation). `kwargs` go to `get_source`.

    Images of several sizes come as a canvas, a dict of arrays `{"image": (N, C, C, ch),
    "image_size": (N, 2)}` (index it with `simclr_tf.data.take`); `canvas_size=0` gives the
    host-side square resize instead (one size: pixel baselines, memory).
    """
    if name == EMBEDDED_NAME and image_size in (None, 28) and not kwargs:
        images, labels = load_embedded_arrays(split)
        return images[:max_examples], labels[:max_examples]
    source = get_source(name, split, image_size, labeled=True, shuffle=False, **kwargs)
    return to_arrays(source, max_examples)
