"""The converted ImageNet classifier, ready to serve: the published preprocessing and a SavedModel.

`preprocess` is the evaluation transform behind the authors' accuracies (centre crop of 0.875 of
the shorter side, bicubic resize to 224, values in [0, 1]). `export_classifier` writes a
SavedModel that loads with plain TensorFlow (no simclr_tf) and returns logits and the top-5
classes with their WordNet ids: those ship with tensorflow-datasets
(`datasets/imagenet2012/labels.txt`, no download). Readable names come from Keras' ImageNet class
index when it is in Keras' cache or can be fetched once; otherwise the export says so and
leaves them out.
"""

import json
import os

import numpy as np
import tensorflow as tf
import keras
import tensorflow_datasets as tfds
from absl import logging

from simclr_tf.augment.center_crop import CenterCropResize
from simclr_tf.export import layout, signatures
from simclr_tf.export.saved_model import store_weights_once

PUBLISHED_IMAGE_SIZE = 224
PUBLISHED_CROP_FRACTION = 0.875
TOP_K = 5
CLASS_INDEX_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
)
UINT8_DEFAULT = "serving_default"  # uint8 images: what clients usually hold
BYTES = signatures.BYTES_SIGNATURE
FLOAT = "serving_float"


def preprocess(images, image_size=PUBLISHED_IMAGE_SIZE):
    """The published evaluation transform: centre crop 0.875, bicubic resize, [0, 1].

    Use it before `official.encoder` (features) or `official.classifier.logits` (logits) on
    images of any size; `official.classifier(images)` and the exported SavedModels apply it
    themselves.

    Args:
        images: uint8 (0-255) or float (0-1) images, `[batch, height, width, 3]` or one
            `[height, width, 3]`, any size.
        image_size: output side; the published models were evaluated at 224.

    Returns:
        float32 `[batch, image_size, image_size, 3]` (or one image) in [0, 1].
    """
    images = tf.convert_to_tensor(images)
    if images.shape.rank not in (3, 4) or images.shape[-1] != 3:
        raise ValueError(
            "`images` must be [batch, height, width, 3] or [height, width, 3] RGB. "
            f"Received: shape={tuple(images.shape)}"
        )
    if images.dtype.is_integer:
        images = tf.cast(images, tf.float32) / 255.0
    elif images.dtype.is_floating:
        images = tf.cast(images, tf.float32)
        low, high = tf.reduce_min(images), tf.reduce_max(images)
        message = "float `images` must be in [0, 1] (pass uint8 for 0-255). Received values in"
        if tf.executing_eagerly():
            if float(high) > 1.0 or float(low) < 0.0:
                raise ValueError(f"{message} [{float(low):g}, {float(high):g}]")
        else:  # inside tf.data.map or a tf.function: checked when it runs
            ok = tf.logical_and(low >= 0.0, high <= 1.0)
            with tf.control_dependencies([tf.debugging.Assert(ok, [message, low, high])]):
                images = tf.identity(images)
    else:
        raise ValueError(f"`images` must be uint8 or float. Received: dtype={images.dtype.name}")
    return CenterCropResize(image_size, crop_fraction=PUBLISHED_CROP_FRACTION)(images)


def imagenet_wnids():
    """The 1,000 ImageNet WordNet ids in label order, from tensorflow-datasets' bundled file."""
    path = os.path.join(os.path.dirname(tfds.__file__), "datasets", "imagenet2012", "labels.txt")
    with open(path) as f:
        wnids = [line.strip() for line in f if line.strip()]
    if len(wnids) != 1000:
        raise ValueError(f"{path} has {len(wnids)} WordNet ids, expected 1000.")
    return wnids


def imagenet_names(fetch=True):
    """(names, why): the 1,000 readable class names of Keras' ImageNet class index, read from
    Keras' cache (`$KERAS_HOME/models/imagenet_class_index.json`, fetched there once when
    `fetch`), or (None, the reason) when it is neither cached nor reachable."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    path = os.path.join(home, "models", "imagenet_class_index.json")
    try:
        if not os.path.exists(path):
            if not fetch:
                return None, f"{path} is not cached (fetching was turned off)"
            path = keras.utils.get_file(
                "imagenet_class_index.json", CLASS_INDEX_URL, cache_subdir="models"
            )
        with open(path) as f:
            index = json.load(f)
        return [index[str(i)][1] for i in range(1000)], None
    except Exception as e:  # noqa: BLE001 - no network, a broken cache: names are optional
        return None, f"could not read or fetch {CLASS_INDEX_URL}: {type(e).__name__}: {e}"


def export_classifier(classifier, path, class_ids=None, class_names=None, overwrite=False):
    """Writes `classifier` (a `simclr_tf.Classifier`) as a serving SavedModel.

    Signatures, each on images of any size (the classifier's evaluation transform in the graph):
    `serving_default` takes `images` uint8 `[batch, height, width, 3]`; `serving_bytes` takes
    `image_bytes`, string `[batch]` of encoded JPEG/PNG/GIF/BMP; `serving_float` takes float32
    `images` in [0, 1]. Outputs: `logits` float32 `[batch, classes]`, `probabilities` (softmax),
    `top5_ids` int32 `[batch, 5]`, `top5_probabilities`, `top5_wnids` string (from
    `class_ids`) and, when `class_names` is given, `top5_names` string.

    Args:
        classifier: a built `simclr_tf.Classifier`.
        path: the version folder `<base>/<name>/<version>` (TF-Serving's layout).
        class_ids: one string per class; default `imagenet_wnids()` for 1,000 classes, else
            the class numbers as strings.
        class_names: None, or one readable name per class.
        overwrite: replace an existing version.

    Returns:
        The version folder.
    """
    num_classes = classifier.num_classes
    if class_ids is None:
        class_ids = (
            imagenet_wnids() if num_classes == 1000 else [str(i) for i in range(num_classes)]
        )
    for what, labels in (("class_ids", class_ids), ("class_names", class_names)):
        if labels is not None and len(labels) != num_classes:
            raise ValueError(
                f"`{what}` must have one entry per class ({num_classes}). "
                f"Received: {len(labels)} entries"
            )
    k = min(TOP_K, num_classes)
    ids_table = tf.constant(np.asarray(class_ids, dtype=object).astype(str))
    names_table = None if class_names is None else tf.constant(np.asarray(class_names).astype(str))
    augment, size = classifier.augment, classifier.augment.image_size

    def network(views):
        views = tf.ensure_shape(views, [None, size, size, 3])
        logits = tf.cast(classifier.logits(views), tf.float32)
        probabilities = tf.nn.softmax(logits)
        top = tf.math.top_k(probabilities, k=k)
        ids = tf.cast(top.indices, tf.int32)
        out = {
            "logits": logits, "probabilities": probabilities, "top5_ids": ids,
            "top5_probabilities": top.values, "top5_wnids": tf.gather(ids_table, ids),
        }
        if names_table is not None:
            out["top5_names"] = tf.gather(names_table, ids)
        return out

    def evaluate(images):
        return augment(images, training=False)

    def from_uint8(images):
        return network(evaluate(tf.cast(signatures.check_images(images), tf.float32) / 255.0))

    def from_bytes(image_bytes):
        image_bytes = signatures.check_image_bytes(image_bytes)
        return network(signatures.decode_and_preprocess(image_bytes, evaluate, size))

    def from_float(images):
        return network(evaluate(signatures.check_unit_range(signatures.check_images(images))))

    network(evaluate(tf.zeros([1, size, size, 3])))  # builds lazily built layers, fails early

    def write(folder):
        archive = keras.export.ExportArchive()
        archive.track(classifier)
        for name, function, dtype, key in (
            (UINT8_DEFAULT, from_uint8, tf.uint8, "images"),
            (BYTES, from_bytes, tf.string, "image_bytes"),
            (FLOAT, from_float, tf.float32, "images"),
        ):
            archive.add_endpoint(name, function, [tf.TensorSpec(None, dtype, name=key)])
        store_weights_once(archive)
        archive.write_out(folder, verbose=False)

    written = layout.write_version(path, write, overwrite=overwrite)
    logging.info("Exported the classifier (%d classes) to %s", num_classes, written)
    return written
