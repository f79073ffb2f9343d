"""What an evaluation starts from: loading a pretraining run, a checkpoint, a `.keras` file or an
exported encoder (`load_pretrained`). The classifier built on a pretrained SimCLR model is
`simclr_tf.models.build_classifier`."""

import os
import posixpath
import re

import keras
import ml_collections
import tensorflow as tf
from absl import logging

from simclr_tf import builders
from simclr_tf import workdir as wd
from simclr_tf.callbacks.checkpoint import WEIGHTS_FILE, ResumableCheckpoint
from simclr_tf.config import default_config
from simclr_tf.official import is_official, load_official, releases
from simclr_tf.protocols.exported import ExportedEncoder, is_saved_model

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

    if is_official(path) or (releases.find(path) is not None and not tf.io.gfile.exists(path)):
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
