"""`export_encoder` and `export_model`: SavedModels for TF-Serving and for any TensorFlow program."""

import numbers

import keras
import tensorflow as tf

from simclr_tf.augment.center_crop import CenterCropResize
from simclr_tf.export import layout
from simclr_tf.export import signatures
from simclr_tf.models.resnet import ENDPOINT_NAMES


def export_encoder(
    model_or_encoder, path, *, preprocess=None, image_size=None, endpoints=False, overwrite=False
):
    """Exports the encoder with its evaluation preprocessing as a SavedModel for serving.

    The reference exports only during evaluation, with tensors found by name; this SavedModel
    has a fixed contract and loads without simclr_tf installed (`tf.saved_model.load`,
    `keras.layers.TFSMLayer`, TF-Serving). Signatures:

    - `serving_default` (also `serve`): `images`, float32 `[batch, height, width, 3]` in [0, 1];
    - `serving_uint8`: `images`, uint8 `[batch, height, width, 3]` in 0-255;
    - `serving_bytes`: `image_bytes`, string `[batch]` of encoded JPEG/PNG/GIF/BMP images (each
      of any size, decoded to RGB in the graph).

    Images may have any height and width: the graph applies the evaluation preprocessing, a
    centre crop of 0.875 of the shorter side (none at an `image_size` of 32 px or less) and a
    bicubic resize to `image_size` (the reference's `preprocess_for_eval`). Outputs, float32:
    `embedding`, the encoder's pooled features `[batch, encoder.output_dim]`, and with
    `endpoints` the ResNet's block outputs (`initial_conv`, `initial_max_pool`, `block_group1`
    .. `block_group4`) for those images. The network runs in inference mode (batch-norm moving
    statistics). A wrong rank, channel count or (float) a value outside [0, 1] fails with a
    message that names the expected input.

    Args:
        model_or_encoder: a `simclr_tf.SimCLR` (its `encoder`, preprocessed by its `augment`
            with `training=False`) or an encoder alone (`simclr_tf.ResNet` or any Keras model
            from images in [0, 1] to features).
        path: the version folder, `<base>/<model_name>/<version>` with an integer version,
            TF-Serving's layout (e.g. "exports/simclr_encoder/1"). Written to a temporary
            sibling and renamed into place, so a watching server never sees half an export.
        preprocess: optional callable from float32 images `[batch, H, W, 3]` in [0, 1] of any
            size to the encoder's input (fixed size, float32); a Keras layer is called with
            `training=False`. Default: the model's `augment` evaluation path, or for a bare
            encoder `simclr_tf.augment.CenterCropResize(image_size)`.
        image_size: side of the encoder's input. Default: the `augment`'s `image_size` or the
            encoder's static input size; required for a bare encoder of variable input size.
        endpoints: False, True (all block outputs) or a list of `ResNet.endpoints_model` names.
        overwrite: replace an existing version; without it that is a `FileExistsError`.

    Returns:
        The path of the written version folder.

    Example:

    ```python
    simclr_tf.export_encoder(model, "exports/simclr_encoder/1")
    loaded = tf.saved_model.load("exports/simclr_encoder/1")   # simclr_tf not needed
    embedding = loaded.signatures["serving_default"](images=images)["embedding"]
    ```
    """
    encoder, augment = _split(model_or_encoder)
    preprocess, image_size = _resolve_preprocess(encoder, augment, preprocess, image_size)
    network = _encoder_network(encoder, endpoints)
    return _export(path, [encoder], network, preprocess, image_size, overwrite)


def export_model(model, path, *, preprocess=None, endpoints=False, overwrite=False):
    """Exports the whole SimCLR network: encoder, every projection-head layer, the probe.

    Same signatures, inputs, preprocessing, layout and checks as `export_encoder`; the outputs
    (float32) are those of `export_encoder` plus the reference's names for the head:

    - `proj_head_input`: the head's input, the encoder features (equal to `embedding`);
    - `proj_head_layer_{k}`, k = 1 .. num_layers - 1: the hidden layers' outputs (after BN and
      ReLU), SimCLRv2's "fine-tune from projection layer k" features;
    - `proj_head_output`: the projection z on which NT-Xent is computed (unnormalised);
    - `probe_logits`: the online linear probe's logits, when the model has one (the
      reference's `logits_sup`).

    Args:
        model: a `simclr_tf.SimCLR` (anything with `encoder`, `projection_head`, `augment`,
            `probe` and `probe_from_projection_layer`).
        path: the version folder, `<base>/<model_name>/<version>`.
        preprocess: as in `export_encoder`; default the model's `augment` evaluation path.
        endpoints: as in `export_encoder`.
        overwrite: replace an existing version.

    Returns:
        The path of the written version folder.

    Example:

    ```python
    simclr_tf.export_model(model, "exports/simclr/1")
    loaded = tf.saved_model.load("exports/simclr/1")  # keep it alive: it owns the variables
    z = loaded.serving_default(images)["proj_head_output"]
    ```
    """
    missing = [a for a in ("encoder", "projection_head", "augment") if not hasattr(model, a)]
    if missing:
        raise ValueError(
            "`model` must be a `simclr_tf.SimCLR` (with `encoder`, `projection_head` and "
            f"`augment`); use `export_encoder` for an encoder alone. Received: model={model!r} "
            f"without {missing}"
        )
    encoder, head = model.encoder, model.projection_head
    probe = getattr(model, "probe", None)
    probe_layer = getattr(model, "probe_from_projection_layer", 0)
    preprocess, image_size = _resolve_preprocess(encoder, model.augment, preprocess, None)
    encoder_network = _encoder_network(encoder, endpoints)

    def network(views):
        outputs = encoder_network(views)
        head_outputs = head.all_outputs(outputs["embedding"], training=False)
        outputs["proj_head_input"] = head_outputs[0]
        for k, hidden in enumerate(head_outputs[1:-1], start=1):
            outputs[f"proj_head_layer_{k}"] = hidden
        outputs["proj_head_output"] = head_outputs[-1]
        if probe is not None:
            # As `SimCLR` does: the probe reads head output `probe_from_projection_layer`.
            outputs["probe_logits"] = probe(head_outputs[probe_layer])
        return outputs

    layers = [layer for layer in (encoder, head, probe) if layer is not None]
    return _export(path, layers, network, preprocess, image_size, overwrite)


def _split(model_or_encoder):
    """(encoder, augment or None) of a SimCLR model or an encoder."""
    if hasattr(model_or_encoder, "encoder"):
        return model_or_encoder.encoder, getattr(model_or_encoder, "augment", None)
    if isinstance(model_or_encoder, keras.layers.Layer):
        return model_or_encoder, None
    raise ValueError(
        "`model_or_encoder` must be a `simclr_tf.SimCLR` or a Keras encoder model. "
        f"Received: model_or_encoder={model_or_encoder!r}"
    )


def _static_size(encoder):
    """The encoder's square input side when its input shape fixes one, else None."""
    try:
        height, width = tuple(encoder.input_shape)[1:3]
    except (AttributeError, ValueError, TypeError):
        return None
    return height if height is not None and height == width else None


def _resolve_preprocess(encoder, augment, preprocess, image_size):
    """(float images -> encoder input, image_size or None) from the arguments and the model."""
    if image_size is not None and (
        not isinstance(image_size, numbers.Integral) or isinstance(image_size, bool) or image_size < 1
    ):
        raise ValueError(f"`image_size` must be a positive int. Received: image_size={image_size!r}")
    static = _static_size(encoder)
    candidates = {
        "image_size": image_size,
        "the augment's image_size": getattr(augment, "image_size", None) if preprocess is None else None,
        "the preprocess's image_size": getattr(preprocess, "image_size", None),
        "the encoder's input size": static,
    }
    known = {k: int(v) for k, v in candidates.items() if v is not None}
    if len(set(known.values())) > 1:
        raise ValueError(
            f"The image sizes disagree: {known}. The encoder's input must be the preprocessed "
            f"size. Received: image_size={image_size!r}"
        )
    size = next(iter(known.values()), None)
    if preprocess is None and augment is not None:
        return (lambda images: augment(images, training=False)), size
    if preprocess is None:
        if size is None:
            raise ValueError(
                "`image_size` is required to export an encoder with a variable input size: the "
                "serving graph centre-crops and resizes every image to it. "
                f"Received: image_size={image_size!r}"
            )
        preprocess = CenterCropResize(size, name="serving_preprocess")
    if not callable(preprocess):
        raise ValueError(f"`preprocess` must be callable. Received: preprocess={preprocess!r}")
    if isinstance(preprocess, keras.layers.Layer):
        layer = preprocess
        return (lambda images: layer(images, training=False)), size
    return preprocess, size


def _encoder_network(encoder, endpoints):
    """views -> {"embedding": features[, block endpoints]}."""
    if endpoints is False or endpoints is None:
        return lambda views: {"embedding": encoder(views, training=False)}
    if not hasattr(encoder, "endpoints_model"):
        raise ValueError(
            "`endpoints` needs an encoder with `endpoints_model()` (`simclr_tf.ResNet`). "
            f"Received: endpoints={endpoints!r} for encoder {type(encoder).__name__}"
        )
    if endpoints is True:
        names = [n for n in ENDPOINT_NAMES if n != "final_avg_pool"]
    else:
        names = [n for n in list(endpoints) if n != "final_avg_pool"]
    endpoints_model = encoder.endpoints_model(names + ["final_avg_pool"])

    def network(views):
        maps = dict(endpoints_model(views, training=False))
        return {"embedding": maps.pop("final_avg_pool"), **maps}

    return network


def _export(path, layers, network, preprocess, image_size, overwrite):
    layout.check_version_path(path, overwrite)  # Bad or taken paths fail before any work.
    if image_size:
        # One eager call builds lazily built layers (the head, the probe) outside the traced
        # functions and fails early, with a plain traceback, if the pieces do not fit.
        network(preprocess(tf.zeros([1, image_size, image_size, 3])))

    def write(folder):
        archive = keras.export.ExportArchive()
        for layer in layers:
            archive.track(layer)
        signatures.add_serving_endpoints(archive, network, preprocess, image_size)
        store_weights_once(archive)
        archive.write_out(folder, verbose=False)

    return layout.write_version(path, write, overwrite=overwrite)


def store_weights_once(archive):
    """Lists the TensorFlow variables themselves where Keras lists its wrappers of them.

    Keras 3.15's `ExportArchive` tracks each layer's Keras variables and, separately, the
    TensorFlow variables its functions capture; the checkpoint then holds every weight twice
    (`variables/` and `_all_variables/`), twice the disk (7 GB for a 3.5 GB model). The same
    objects in both lists are written once. Skipped where the archive's internals differ."""
    tracked = getattr(archive, "_tf_trackable", None)
    if tracked is None:
        return
    for attr in ("variables", "trainable_variables", "non_trainable_variables"):
        values = getattr(tracked, attr, None)
        if values is not None:
            raw = [v.value if isinstance(v, keras.Variable) else v for v in values]
            setattr(tracked, attr, raw)
