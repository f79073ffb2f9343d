"""What an evaluation starts from: loading a pretraining run, a checkpoint, a `.keras` file or an
exported encoder (`load_pretrained`), and the classifier built on a pretrained SimCLR model
(`build_classifier`)."""

import os
import posixpath
import re

import keras
import ml_collections
import tensorflow as tf
from absl import logging

from simclr_tf import workdir as wd

from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.callbacks.checkpoint import WEIGHTS_FILE, ResumableCheckpoint
from simclr_tf.evaluation.classifier import Classifier
from simclr_tf.evaluation.exported import ExportedEncoder, is_saved_model
from simclr_tf.models.batch_norm import batch_norm, resolve_synchronized

CLASSIFIER_FILE = "classifier.keras"

CONVERTED_FILE = "simclr.keras"  # written by `python -m simclr_tf.convert`

_ACCEPTED = (
    "a pretraining work directory (with checkpoints/ and config.json), a checkpoint folder "
    f"(ckpt-EEEEEE/ with {WEIGHTS_FILE}), a .weights.h5 file, a .keras file, an exported "
    "encoder (a SavedModel folder such as WORKDIR/export/encoder/1), a google-research/simclr "
    "checkpoint (its SavedModel, ckpt-N or model.ckpt-N, or a published name such as "
    "simclrv2/pretrained/r50_1x_sk0) or a folder converted from one"
)


def load_pretrained(path, config=None):
    """The model stored at `path`: a built Keras model, or an `ExportedEncoder`.

    - a finetune / distill work directory: its `classifier.keras`; a pretraining work
      directory: its newest complete checkpoint, built with the run's own `config.json` (so no
      model flag has to be repeated), else its newest export `export/encoder/<version>`;
    - a checkpoint folder `ckpt-EEEEEE/` or a `.weights.h5` file: built from the `config.json`
      two levels up when there is one, else from `config`;
    - a `.keras` file: `keras.saving.load_model`;
    - a SavedModel folder: `ExportedEncoder` (linear evaluation and kNN only);
    - a google-research/simclr checkpoint (a published SavedModel, a TF2 `ckpt-N`, a TF1
      `model.ckpt-N`, or a folder of one) or a published name
      (`simclrv2/pretrained/r50_1x_sk0`, downloaded once into the cache):
      `simclr_tf.load_official(path).simclr()`, a
      `SimCLR` with the checkpoint's encoder and projection head (augmentation at
      `config.image_size`); a folder written by `python -m simclr_tf.convert`: its
      `simclr.keras`.

    Build the model inside the strategy's scope (call this in `strategy.scope()`), so that its
    batch norm is cross-replica where there are several replicas.

    Args:
        path: see above.
        config: the current config, used for the architecture when `path` carries none.

    Example:

    ```python
    model = load_pretrained("runs/demo")                       # a SimCLR, weights restored
    encoder = load_pretrained("runs/demo/export/encoder/1")    # an ExportedEncoder
    ```
    """
    if not path:
        raise ValueError(f"`eval.checkpoint` is required: the path of {_ACCEPTED}. Received: ''")
    path = os.fspath(path)
    from simclr_tf.official import is_official, load_official
    from simclr_tf.official.releases import find

    if is_official(path) or (find(path) is not None and not tf.io.gfile.exists(path)):
        image_size = getattr(config, "image_size", None) or 224
        # Evaluations start from the encoder (and projection head): the supervised head, and
        # the projection layer it reads, are not needed.
        official = load_official(path, image_size=image_size, classifier=False)
        logging.info("eval.checkpoint is an official google-research/simclr checkpoint: %s", path)
        return official.simclr()
    if is_saved_model(path):
        return ExportedEncoder(path)
    if path.endswith(".keras"):
        return keras.saving.load_model(path)
    if tf.io.gfile.isdir(path):
        if _is_file(wd.join(path, CONVERTED_FILE)):
            return keras.saving.load_model(wd.join(path, CONVERTED_FILE))
        if _is_file(wd.join(path, WEIGHTS_FILE)):
            return _from_weights(wd.join(path, WEIGHTS_FILE), config)
        if _is_file(wd.join(path, CLASSIFIER_FILE)):
            return keras.saving.load_model(wd.join(path, CLASSIFIER_FILE))
        latest = ResumableCheckpoint(wd.join(path, "checkpoints")).latest()
        if latest is not None:
            return _from_weights(wd.join(latest[1], WEIGHTS_FILE), config)
        export = _newest_export(wd.join(path, "export", "encoder"))
        if export is not None:
            return ExportedEncoder(export)
    elif path.endswith(".weights.h5") and _is_file(path):
        return _from_weights(path, config)
    raise ValueError(f"`eval.checkpoint` must be {_ACCEPTED}. Received: {path!r}")


def run_config(weights_path, fallback):
    """The config of the pretraining run that wrote `weights_path` (WORKDIR/checkpoints/ckpt-*/
    model.weights.h5 -> WORKDIR/config.json), merged over the defaults; else `fallback`."""
    from simclr_tf.config import default_config

    ckpt_dir = _dirname(weights_path)
    config_path = wd.join(_dirname(_dirname(ckpt_dir)), "config.json")
    if not (
        re.fullmatch(r"ckpt-\d{6}", posixpath.basename(ckpt_dir)) and _is_file(config_path)
    ):
        if fallback is None:
            raise ValueError(
                f"No config.json found for {weights_path} (looked for {config_path}): pass the "
                "config whose `model.*` settings built that checkpoint."
            )
        return fallback
    saved = wd.read_json(config_path)["config"]
    if saved.get("mode", "pretrain") != "pretrain":
        raise ValueError(
            f"{weights_path} is a checkpoint of a {saved['mode']!r} run, not of pretraining; "
            f"point eval.checkpoint at the pretraining work directory (or at the run's "
            f"{CLASSIFIER_FILE} once it has finished)."
        )
    merged = default_config()
    _merge(merged, saved)
    return merged


def _is_file(path):
    return tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path)


def _dirname(path):
    """The parent folder of a local path or URL (`gs://b/run/x` -> `gs://b/run`)."""
    path = str(path).rstrip("/")
    if "://" in path:
        return posixpath.dirname(path)
    return os.path.dirname(os.path.abspath(path))


def _merge(config, values):
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(config.get(key), ml_collections.ConfigDict):
            _merge(config[key], value)
        else:
            config[key] = value


def _from_weights(weights_path, config):
    from simclr_tf import builders

    run = run_config(weights_path, config)
    # The online probe's classes are not needed to evaluate, and its weights are skipped.
    model = builders.build_pretrainer(run, num_classes=None)
    model.build((None, run.image_size, run.image_size, 3))
    try:
        model.load_weights(weights_path)
    except ValueError as e:
        raise ValueError(
            f"{weights_path} does not fit the model of its config (model.depth="
            f"{run.model.depth}, width_multiplier={run.model.width_multiplier}, sk_ratio="
            f"{run.model.sk_ratio}, head_num_layers={run.model.head_num_layers}): {e}"
        ) from e
    logging.info("Loaded pretrained weights from %s", weights_path)
    return model


def _newest_export(folder):
    if not tf.io.gfile.isdir(folder):
        return None
    versions = [
        int(v.rstrip("/"))
        for v in tf.io.gfile.listdir(folder)
        if v.rstrip("/").isdigit() and is_saved_model(wd.join(folder, v.rstrip("/")))
    ]
    return wd.join(folder, str(max(versions))) if versions else None


def build_classifier(
    pretrained,
    num_classes,
    from_projection_layer=0,
    fine_tune_after_block=-1,
    augment=None,
    copy_weights=True,
    zero_init_head=True,
    head_weight_decay=0.0,
):
    """A `Classifier` that starts from a pretrained `SimCLR` model (SimCLRv2 fine-tuning).

    Args:
        pretrained: a `simclr_tf.SimCLR` (or anything with `encoder`, `projection_head` and
            `augment`), or an encoder alone (then `from_projection_layer` must be 0 and
            `augment` given).
        num_classes: number of classes.
        from_projection_layer: k, how many projection-head layers to keep (their pretrained
            weights included) between the encoder and the linear head; 0 is the encoder output
            (SimCLR v1, linear evaluation), 1 is SimCLRv2's choice with its 3-layer head (the
            reference's `ft_proj_selector`). Layers after k are left out.
        fine_tune_after_block: -1 .. 4, the encoder block groups 0..b are frozen.
        augment: the preprocessing layer; default: the pretrained `SimCLRAugment` without colour
            distortion and blur (random crop and flip while training, centre crop otherwise),
            as the reference's fine-tuning input pipeline.
        copy_weights: give the classifier its own copy of the encoder, so that neither training
            nor freezing touches `pretrained`; False shares the encoder (less memory).
        zero_init_head, head_weight_decay: see `Classifier`.

    Example:

    ```python
    classifier = build_classifier(model, num_classes=10, from_projection_layer=1)
    ```
    """
    encoder = getattr(pretrained, "encoder", pretrained)
    head = getattr(pretrained, "projection_head", None)
    kept = list(getattr(head, "dense_layers", []))
    if (
        isinstance(from_projection_layer, bool)
        or not isinstance(from_projection_layer, int)
        or not 0 <= from_projection_layer <= len(kept)
    ):
        raise ValueError(
            f"`from_projection_layer` must be an integer in [0, {len(kept)}] (0: the encoder "
            f"output; this model's projection head has {len(kept)} layers). "
            f"Received: from_projection_layer={from_projection_layer!r}"
        )
    if augment is None:
        augment = fine_tune_augment(getattr(pretrained, "augment", None))
    if copy_weights:
        encoder = copy_layer(encoder)
    projection = None
    if from_projection_layer:
        projection = projection_layers(head, from_projection_layer, encoder.output_shape[-1])
    return Classifier(
        encoder,
        int(num_classes),
        augment,
        projection=projection,
        fine_tune_after_block=fine_tune_after_block,
        zero_init_head=zero_init_head,
        head_weight_decay=head_weight_decay,
    )


def fine_tune_augment(augment):
    """The fine-tuning preprocessing derived from a pretraining `SimCLRAugment`: the same crop,
    flip and evaluation transform, no colour distortion, no blur (the reference's
    `preprocess_for_train` with `color_jitter_strength=0` and no `batch_random_blur`)."""
    if not isinstance(augment, SimCLRAugment):
        raise ValueError(
            "Cannot derive the fine-tuning preprocessing: pass `augment=` (e.g. "
            "simclr_tf.SimCLRAugment(image_size, color_distort=False, blur=False)). "
            f"Received: augment={augment!r}"
        )
    config = augment.get_config()
    config.update(color_distort=False, blur=False, name="fine_tune_augment")
    return SimCLRAugment.from_config(config)


def copy_layer(layer):
    """A new layer with the same config and weights, created in the current strategy scope."""
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    if not clone.built:
        clone.build(layer.input_shape)
    clone.set_weights(layer.get_weights())
    return clone


def projection_layers(head, k, input_dim):
    """The first k layers of a `ProjectionHead` as a new Keras model with copies of their
    weights: Dense (no bias) -> BN [-> ReLU for hidden layers], as the head computes them."""
    if not head.built:
        head.build((None, input_dim))
    synchronized = resolve_synchronized(head.synchronized_batch_norm)
    layers, pairs = [], []
    for i in range(k):
        source_dense, source_norm = head.dense_layers[i], head.batch_norm_layers[i]
        dense = keras.layers.Dense(source_dense.units, use_bias=False, name=f"proj_dense_{i + 1}")
        norm = batch_norm(
            head.batch_norm_decay,
            head.batch_norm_epsilon,
            synchronized,
            name=f"proj_batch_norm_{i + 1}",
            center=source_norm.center,
        )
        layers += [dense, norm]
        if source_norm.center:  # hidden layers end in ReLU, as `ProjectionHead.call`
            layers.append(keras.layers.ReLU(name=f"proj_relu_{i + 1}"))
        pairs += [(dense, source_dense), (norm, source_norm)]
    projection = keras.Sequential([keras.Input((input_dim,)), *layers], name="projection")
    for target, source in pairs:
        target.set_weights(source.get_weights())
    return projection
