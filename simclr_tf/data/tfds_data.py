"""TensorFlow Datasets (tfds) image datasets by name: cifar10, stl10, imagenet2012, ...

The data must already be prepared in the tfds data directory: nothing is downloaded unless
`download=True` is asked for (this package's machines have no internet, and imagenet2012 needs a
manual download anyway), so a missing dataset is an error that says how to prepare it.

The image feature is read still encoded (`tfds.decode.SkipDecoding`), so the shuffle buffer holds
small encoded records; decoding (and, for images of one fixed size, the resize to `image_size`)
runs after it, on the host; images of several sizes are padded into their canvases when batched.
Sharding across input pipelines splits the tfds split into equal parts
(`tfds.even_splits(..., drop_remainder=True)`) rather than by files
(`tfds.ReadConfig(input_context=...)`): each pipeline reads only its own examples, every pipeline
yields the same number of batches (multi-worker training needs that), and it works when a split
has fewer files than there are pipelines (cifar10's test split is one file).
"""

import difflib

import tensorflow as tf
import tensorflow_datasets as tfds

from simclr_tf.data.decode import (
    check_canvas_size,
    decode_native,
    resize_to_square,
    shrink_to_fit,
    with_size,
)
from simclr_tf.data.embedded import EMBEDDED_NAME
from simclr_tf.data.pipeline import DEFAULT_SHUFFLE_BUFFER, batched
from simclr_tf.data.types import (
    DatasetInfo,
    MissingLabelsError,
    Source,
    check_channels,
    check_positive_int,
)

# tfds names this package is configured and tested for; any tfds image classification dataset
# with an image feature works.
KNOWN_TFDS = (
    "cifar10", "cifar100", "stl10", "imagenet2012", "imagenet2012_subset/1pct",
    "imagenet2012_subset/10pct", "fashion_mnist", "mnist", "oxford_flowers102", "food101",
)


def unknown_name_error(name):
    """A ValueError listing the accepted names and the closest tfds names."""
    # Registered builders only: the community list would need the network.
    names = tfds.list_builders(with_community_datasets=False)
    close = difflib.get_close_matches(name.split("/")[0].split(":")[0], names, n=5)
    hint = f" Closest tfds names: {', '.join(close)}." if close else ""
    return ValueError(
        f"Unknown dataset name {name!r}. Accepted: {EMBEDDED_NAME!r} (shipped with the package, "
        f"offline), 'dir:/path/to/images' (an image folder), or a tfds name such as "
        f"{', '.join(KNOWN_TFDS)} (all tfds names: `tfds.list_builders()`).{hint} "
        f"Received: name={name!r}"
    )


def _builder(name, data_dir):
    """The tfds builder; constructing it reads metadata only, it never downloads."""
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise unknown_name_error(name) from None
    except (ValueError, AssertionError) as e:  # unknown config or version of a known dataset
        message = " ".join(str(e).split())
        raise ValueError(
            f"`name` names no tfds dataset: {message} Received: name={name!r}"
        ) from None


def _how_to_prepare(name, builder, data_dir):
    where = f" --data_dir={data_dir}" if data_dir else ""
    if getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None):
        return (f"{name} needs a manual download: put its files in a folder, then run "
                f"`tfds build {name} --manual_dir=FOLDER{where}` (tfds' instructions: "
                f"{' '.join(builder.MANUAL_DOWNLOAD_INSTRUCTIONS.split())})")
    return (f"Prepare it on a machine with internet access with `tfds build {name}{where}` and "
            "copy the data directory here, or pass download=True.")


def _prepare(name, builder, data_dir):
    """`download=True`: tfds downloads and prepares the data (a no-op when already prepared)."""
    try:
        builder.download_and_prepare()
    except Exception as e:  # network, manual-download and missing-package errors alike
        raise RuntimeError(
            f"tfds could not download and prepare {name} ({type(e).__name__}: {e}). "
            f"{_how_to_prepare(name, builder, data_dir)}"
        ) from e


def _split_size(builder, split):
    """Examples in `split` (slices and `a+b` included); None when tfds has no split metadata
    (data not prepared, or `tfds.testing.mock_data`)."""
    splits = builder.info.splits
    if not splits:
        return None
    try:
        return splits[split].num_examples
    except (KeyError, ValueError) as e:
        raise ValueError(
            f"`split` must be a split of {builder.name}: one of {list(splits)}, or a tfds split "
            f"expression of them ('train[:10%]', 'train+test'). Received: split={split!r} ({e})"
        ) from None


def _label_key(name, builder, split, labeled):
    """The image and label feature names; an error when labels are needed but absent."""
    features = builder.info.features
    keys = builder.info.supervised_keys
    image_key, label_key = keys if keys and all(isinstance(k, str) for k in keys) else (
        "image", "label")
    if image_key not in features:
        raise ValueError(f"{name} has no image feature {image_key!r}; features: {list(features)}")
    if labeled and label_key not in features:
        raise MissingLabelsError(
            f"Labels are needed (labeled=True) but {name} has no label feature {label_key!r} "
            f"(features: {list(features)}). Pass labeled=False (the training command's "
            "pretraining turns its probe off by itself).",
            reason=f"no label feature {label_key!r}",
        )
    # Fail before reading: stl10's `unlabelled` examples carry label -1. Other unlabelled
    # examples are caught when read (`_label_check`).
    if labeled and "unlabel" in str(split):
        raise MissingLabelsError(
            f"Labels are needed (labeled=True) but {name} split {split!r} has unlabelled "
            "examples (label -1). Pass labeled=False, or a labelled split (the training "
            "command's pretraining turns its probe off by itself).",
            reason=f"split {split!r} is unlabelled",
        )
    return image_key, label_key


def tfds_source(name, split, image_size=None, *, labeled=True, shuffle_files=True, seed=None,
                channels=None, input_context=None, data_dir=None, download=False,
                canvas_size=None):
    """The `Source` behind `load_tfds` (see `simclr_tf.data.types.Source`)."""
    builder = _builder(name, data_dir)
    if download:
        _prepare(name, builder, data_dir)
    image_key, label_key = _label_key(name, builder, split, labeled)
    features = builder.info.features
    label_feature = features[label_key] if label_key in features else None
    total = _split_size(builder, split)
    where = f"{name} split {split!r}"
    if input_context is not None and input_context.num_input_pipelines > 1:
        n, i = input_context.num_input_pipelines, input_context.input_pipeline_id
        split = tfds.even_splits(split, n, drop_remainder=True)[i]
        where += f" (input pipeline {i} of {n})"

    feature = features[image_key]
    native = tuple(feature.shape)
    image_size = _image_size(name, native, image_size)
    channels = check_channels(channels) or native[-1] or 3
    encoded = isinstance(feature, tfds.features.Image)
    # Images of several sizes go to the device at native resolution, in a canvas; images of one
    # fixed size stay plain (resized on the host only when image_size asks for another size).
    fixed = native[0] is not None and native[1] is not None
    canvas_size = 0 if fixed else check_canvas_size(canvas_size, image_size)
    try:
        ds = builder.as_dataset(
            split=split,
            shuffle_files=shuffle_files,
            decoders={image_key: tfds.decode.SkipDecoding()} if encoded else None,
            read_config=tfds.ReadConfig(shuffle_seed=seed),
        )
    except AssertionError as e:  # tfds' "could not find data in ..."
        if builder.is_prepared():
            raise
        raise ValueError(
            f"{name} is not prepared: no data in {builder.data_dir!r}, and nothing is "
            f"downloaded (download=False). {_how_to_prepare(name, builder, data_dir)}"
        ) from None
    if labeled:
        records = ds.map(lambda ex: (ex[image_key], tf.cast(ex[label_key], tf.int32)))
    else:
        records = ds.map(lambda ex: ex[image_key])

    def prepare(image):
        if encoded and canvas_size:
            decode = lambda e: tf.io.decode_image(e, channels=channels, expand_animations=False)
            return with_size(decode_native(image, channels, canvas_size, decode))
        if encoded:
            image = tf.io.decode_image(image, channels=channels, expand_animations=False)
        elif image.shape[-1] != channels:
            convert = tf.image.grayscale_to_rgb if channels == 3 else tf.image.rgb_to_grayscale
            image = convert(image)
        if fixed:
            image = tf.ensure_shape(image, native[:2] + (channels,))
        if canvas_size:
            return with_size(shrink_to_fit(image, canvas_size))
        return resize_to_square(image, image_size)

    def decode(ds):
        if labeled:
            check = _label_check(where)
            return ds.map(lambda x, y: (prepare(x), check(y)), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)

    info = DatasetInfo(
        num_examples=total,
        num_classes=getattr(label_feature, "num_classes", None) or 0,
        class_names=tuple(getattr(label_feature, "names", None) or ()),
        image_shape=(canvas_size or image_size, canvas_size or image_size, channels),
    )
    return Source(records, decode, info, _split_size(builder, split), where,
                  DEFAULT_SHUFFLE_BUFFER)


def _image_size(name, native, image_size):
    """`image_size`, or the native side of a dataset of fixed-size square images."""
    if image_size is None:
        if native[0] is None or native[0] != native[1]:
            raise ValueError(
                f"`image_size` is required for {name}, whose images are {native}: they are "
                "resized to image_size x image_size. Received: image_size=None"
            )
        image_size = native[0]
    return check_positive_int("image_size", image_size)


def _label_check(where):
    """An identity on labels that fails on a negative label: an unlabelled example must not
    reach the probe's loss unnoticed."""

    def check(label):
        message = tf.strings.join([
            f"{where} has an unlabelled example (label ", tf.strings.as_string(label),
            "), but labels are needed: pass labeled=False.",
        ])
        with tf.control_dependencies([tf.debugging.Assert(label >= 0, [message])]):
            return tf.identity(label)

    return check


def load_tfds(name, split, batch_size, image_size=None, *, labeled=True, shuffle=True, seed=None,
              cache=False, input_context=None, channels=None, shuffle_buffer=None,
              data_dir=None, download=False, canvas_size=None, with_info=False):
    """A batched `tf.data.Dataset` of a prepared tfds image dataset.

    Args:
        name: a tfds name, with a config where the dataset has several
            (`imagenet2012_subset/1pct`).
        split: a split or tfds split expression (`train`, `train+unlabelled`, `train[:10%]`).
        batch_size: the global batch size (see `simclr_tf.data.get_dataset`).
        image_size: side S of the views. Images of one fixed size (cifar10, stl10) are yielded
            as `(B, S, S, C)`, resized on the host only if S is not their size (centred square,
            `simclr_tf.data.decode.resize_to_square`); None keeps that native size. Images of
            several sizes (imagenet2012) are yielded at native resolution in canvases (see
            `canvas_size`); there S is required (it sets the default canvas).
        canvas_size: images of several sizes only: the canvas side (None: 512 for S = 224,
            `default_canvas_size`; 0: the host-side square resize instead). The element's images
            are then `{"image": (B, C, C, ch) uint8, "image_size": (B, 2) int32}`, each image
            in its canvas' top-left corner, shrunk first only if its longer side exceeds C.
        labeled: yield `(images, labels)` (int32) rather than images alone. An error, before
            anything is read, for a dataset without labels and a split named `unlabelled`
            (stl10); any other example with label -1 stops iteration with an error.
        shuffle: shuffle the files and the examples, in a buffer of `shuffle_buffer` encoded
            records (None: 10,000).
        channels: None keeps the dataset's channels (1 for fashion_mnist, 3 otherwise), 1 or 3
            converts.
        data_dir: the tfds data directory (None: tfds' default, `~/tensorflow_datasets`).
        download: False (default) reads prepared data only, and a dataset that is not prepared
            is an error that says how to prepare it (`tfds build NAME`); True lets tfds download
            and prepare it first (needs internet; imagenet2012 needs its manual download).
        seed, cache, input_context, with_info: as in `get_dataset`.

    Returns:
        The dataset of uint8 `(B, S, S, C)` batches, and a `DatasetInfo` when `with_info`.

    Example:
        >>> ds = load_tfds("cifar10", "train", batch_size=512, image_size=32)
    """
    source = tfds_source(name, split, image_size, labeled=labeled, shuffle_files=shuffle, seed=seed,
                         channels=channels, input_context=input_context, data_dir=data_dir,
                         download=download, canvas_size=canvas_size)
    ds = batched(source, batch_size, shuffle=shuffle, seed=seed, cache=cache,
                 input_context=input_context, shuffle_buffer=shuffle_buffer)
    return (ds, source.info) if with_info else ds
