"""The checkpoint's heads as Keras objects: the projection head, the supervised head's
`Classifier`, and the checks on them (present when required, trained at all)."""

import dataclasses

import numpy as np

from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.models.classifier_builder import build_classifier
from simclr_tf.models.projection_head import ProjectionHead


def head_trained(tensors, layout):
    """False when every projection batch norm still has its initial moving statistics."""
    for _, norm in layout.projection:
        mean = tensors.get(norm.keys["moving_mean"])
        variance = tensors.get(norm.keys["moving_variance"])
        if np.any(mean != 0) or np.any(variance != 1):
            return True
    return False


def require(require, layout, source):
    if "projection_head" in require and not layout.projection:
        raise ValueError(
            f"{source!r} has no projection head (the published TF2 SavedModels of the "
            "fine-tuned / supervised releases may lack one; the TF1 checkpoints hold it)."
        )
    if "classifier" in require and layout.supervised is None:
        raise ValueError(f"{source!r} has no supervised head (`head_supervised`).")


def projection_head(layout, shapes, input_dim, synchronized_batch_norm):
    dims = [shapes[d.keys["kernel"]][-1] for d, _ in layout.projection]
    hidden = set(dims[:-1])
    return ProjectionHead(
        mode="nonlinear",
        num_layers=len(dims),
        output_dim=int(dims[-1]),
        hidden_dim=None if hidden <= {input_dim} else int(dims[0]),
        synchronized_batch_norm=synchronized_batch_norm,
    )


def classifier(layout, shapes, encoder, head, k, image_size, source):
    kernel = shapes.get(layout.supervised.keys.get("kernel"))
    reads = encoder.output_dim if k == 0 else head.dense_layers[k - 1].units
    if kernel is None or len(kernel) != 2 or kernel[0] != reads:
        raise ValueError(
            f"{source!r}: the supervised head's kernel has shape {kernel}, but projection layer "
            f"{k} gives {reads} features: pass the right `from_projection_layer`."
        )
    augment = SimCLRAugment(int(image_size), color_distort=False, blur=False)
    pretrained = _Pretrained(encoder, head, augment)
    return build_classifier(
        pretrained, int(kernel[1]), from_projection_layer=k, augment=augment, copy_weights=False
    )


@dataclasses.dataclass
class _Pretrained:
    encoder: object
    projection_head: object
    augment: object
