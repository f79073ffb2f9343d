"""Which projection layer a checkpoint's supervised head reads, decided from the files.

The reference's `ft_proj_selector` is a flag, not a weight: a SimCLRv2 fine-tuned head reads
projection layer 1, a linear head the encoder output, and for ResNet-50 1x both are 2048 wide,
so a wrong choice passes every shape check and gives a wrong classifier. In order:

1. the caller's value (checked against the head's input width);
2. the only layer whose width fits the head's kernel;
3. a SavedModel's own traced function: the layer whose logits reproduce its `logits_sup` on a
   probe batch;
4. the published value of a release loaded by name;
5. otherwise a ValueError that asks for `from_projection_layer` and lists the published values.
"""

import os

from simclr_tf.official import releases, selfcheck


def resolve(tensors, layout, encoder, head, requested=None, release=None):
    """(layer, how): the projection layer the supervised head reads and why.

    Args:
        tensors: the `CheckpointTensors`.
        layout: its `Layout` (with a supervised head).
        encoder, head: the loaded `ResNet` and `ProjectionHead` (or None).
        requested: the caller's `from_projection_layer`, or None.
        release: the `releases.Release` the files were downloaded for, or None.
    """
    source = tensors.source
    num_layers = len(head.dense_layers) if head is not None else 0
    widths = [encoder.output_dim] + [d.units for d in (head.dense_layers if head else [])]
    kernel = tensors.get(layout.supervised.keys["kernel"])
    candidates = [k for k, width in enumerate(widths) if width == kernel.shape[0]]
    if requested is not None:
        k = requested
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= num_layers:
            raise ValueError(
                f"`from_projection_layer` must be an integer in [0, {num_layers}] (this "
                f"checkpoint's projection head has {num_layers} layers). "
                f"Received: from_projection_layer={k!r}"
            )
        if k not in candidates:
            raise ValueError(
                f"{source!r}: the supervised head's kernel has shape {tuple(kernel.shape)}, but "
                f"projection layer {k} gives {widths[k]} features: pass the right "
                f"`from_projection_layer` (layers of that width: {candidates})."
            )
        return k, "given"
    if not candidates:
        raise ValueError(
            f"{source!r}: the supervised head's kernel has shape {tuple(kernel.shape)}, but no "
            f"projection layer gives {kernel.shape[0]} features (widths: {widths})."
        )
    if len(candidates) == 1:
        return candidates[0], f"the only layer {kernel.shape[0]} wide"
    why = "no SavedModel function"
    if tensors.kind == "saved_model":
        folder = os.path.dirname(os.path.dirname(tensors.prefix))
        function = selfcheck.SavedModelFunction(folder)
        if function.available:
            k, errors = _from_function(function, layout, tensors, encoder, head, candidates)
            text = selfcheck.format_errors({f"layer {j}": e for j, e in errors.items()})
            if k is not None:
                return k, f"the SavedModel's own function (logits_sup relative error: {text})"
            if errors:
                raise ValueError(
                    f"{source!r}: no projection layer reproduces the SavedModel's own "
                    f"logits_sup (relative errors: {text}); the files may not be a "
                    "google-research/simclr SavedModel."
                )
            why = "its SavedModel function returns no logits_sup"
        else:
            why = f"its SavedModel function cannot be called ({function.why})"
    if release is not None and release.projection_layer is not None:
        return release.projection_layer, f"the published value for {release.name}"
    raise ValueError(
        f"{source!r}: the files cannot tell which projection layer the supervised head reads: "
        f"layers {candidates} all give {kernel.shape[0]} features, and {why}. Pass "
        f"`from_projection_layer` (--from_projection_layer). Published: "
        f"{releases.projection_layer_table()}."
    )


def _from_function(function, layout, tensors, encoder, head, candidates):
    images = selfcheck.probe_images()
    reference = function(images)
    if "logits_sup" not in reference:
        return None, {}
    features = encoder(images, training=False)
    bias_key = layout.supervised.keys.get("bias")
    bias = tensors.get(bias_key) if bias_key else 0.0
    return selfcheck.choose_projection_layer(
        candidates,
        selfcheck.head_inputs(head, features),
        tensors.get(layout.supervised.keys["kernel"]),
        bias,
        reference["logits_sup"],
    )
