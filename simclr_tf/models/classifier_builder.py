"""A `Classifier` that starts from a pretrained `SimCLR` model: its encoder (a copy, or shared),
the first k projection-head layers with their weights (SimCLRv2's fine-tuning from a projection
layer), and the fine-tuning preprocessing derived from its augmentation."""

import keras

from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.models.batch_norm import batch_norm, resolve_synchronized
from simclr_tf.models.classifier import Classifier


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
