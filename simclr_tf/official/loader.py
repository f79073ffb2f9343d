"""`load_official`: google-research/simclr's published checkpoints as this package's models."""

import dataclasses

import numpy as np
from absl import logging

from simclr_tf.official.architecture import infer_architecture
from simclr_tf.official.layout import NORM_ROLES, parse_layout
from simclr_tf.official.reader import CheckpointTensors


@dataclasses.dataclass
class OfficialModel:
    """What `load_official` returns.

    Attributes:
        encoder: the `simclr_tf.ResNet`, weights loaded.
        projection_head: the `simclr_tf.ProjectionHead`, or None when the checkpoint has none.
        classifier: the supervised head as a `simclr_tf.Classifier` (sharing `encoder` and the
            projection layers it reads), or None when the checkpoint has no supervised head.
        info: what was found: format, architecture, classes, the head's input, the number of
            tensors loaded and ignored.
    """

    encoder: object
    projection_head: object
    classifier: object
    info: dict

    def simclr(self, augment=None):
        """A `simclr_tf.SimCLR` with this encoder and projection head (a `ProjectionHead` of
        mode "none" when the checkpoint has none), ready for `linear_eval`, `finetune` and
        `distill`; `augment` defaults to `SimCLRAugment(info["image_size"])`."""
        from simclr_tf.augment.simclr_augment import SimCLRAugment
        from simclr_tf.models.projection_head import ProjectionHead
        from simclr_tf.models.simclr import SimCLR

        head = self.projection_head or ProjectionHead(mode="none")
        if augment is None:
            augment = SimCLRAugment(self.info["image_size"])
        model = SimCLR(encoder=self.encoder, projection_head=head, augment=augment)
        size = self.info["image_size"]
        model.build((None, size, size, 3))
        return model


def default_projection_layer(path):
    """0 (the encoder output), or 1 for the SimCLRv2 fine-tuned and distilled releases
    (`finetuned_*`, `distill_*` in the path), whose supervised head reads projection layer 1
    (the reference's `ft_proj_selector=1`); the weights alone cannot tell."""
    text = str(path).lower()
    return 1 if ("finetuned" in text or "distill" in text) else 0


def load_official(
    path,
    image_size=224,
    from_projection_layer=None,
    require=(),
    synchronized_batch_norm=None,
):
    """Loads a google-research/simclr checkpoint into `simclr_tf.ResNet`, `ProjectionHead` and a
    `Classifier` for its supervised head.

    Reads the published TF2 SavedModels (`simclrv2/*/r50_1x_sk0/saved_model/`,
    `simclrv1/pretrain/1x/saved_model/`, ...), the reference's TF2 `run.py` checkpoints
    (`ckpt-N`) and the TF1 checkpoints (`model.ckpt-N`), from a folder or any `tf.io.gfile`
    path (`gs://...`). The architecture (depth, width, selective kernels, CIFAR stem, projection
    head, classes) is inferred from the weights; TF2 tensors are mapped through the checkpoint's
    object graph, TF1 ones by their creation-order names. Every model tensor is used exactly
    once and every Keras weight assigned exactly once, or a ValueError names what is missing or
    left over; optimizer slots and state, counters and the TF1 `ema_model/` copy are ignored
    (counted in `info["ignored"]`).

    Build it inside a strategy's scope to get cross-replica batch norm there.

    Args:
        path: the checkpoint (see above).
        image_size: the input size of the classifier's evaluation transform (centre crop 0.875
            and bicubic resize, the reference's) and of `OfficialModel.simclr()`.
        from_projection_layer: which projection layer the supervised head reads (0: the
            encoder output). None: 1 when the path names a SimCLRv2 fine-tuned or distilled
            release (`finetuned_`, `distill_`) and the checkpoint has a projection head,
            else 0; the weights alone cannot tell.
        require: parts that must be present, of "projection_head", "classifier": a ValueError
            says so when the checkpoint lacks one.
        synchronized_batch_norm: as `simclr_tf.ResNet`.

    Returns:
        An `OfficialModel` (encoder, projection_head, classifier, info).

    Example:

    ```python
    official = simclr_tf.load_official("r50_1x_sk0/saved_model", from_projection_layer=0)
    features = official.encoder(images)            # (batch, 2048), images in [0, 1]
    logits = official.classifier(uint8_images)     # centre crop, resize, 1000 ImageNet logits
    model = official.simclr()                      # a SimCLR for linear_eval / finetune
    ```
    """
    unknown_parts = set(require) - {"projection_head", "classifier"}
    if unknown_parts or isinstance(require, str):
        raise ValueError(
            "`require` must be a list of 'projection_head', 'classifier'. "
            f"Received: require={require!r}"
        )
    tensors = CheckpointTensors(path)
    layout = parse_layout(tensors)
    source = tensors.source
    if layout.unknown:
        raise ValueError(
            f"{source!r} has {len(layout.unknown)} model tensors that fit no layer of the "
            f"reference, e.g. {layout.unknown[:5]}; refusing to load it partially."
        )
    arch = infer_architecture(layout, tensors.keys, source)
    _require(require, layout, source)
    layers = len(layout.projection)
    if from_projection_layer is None:  # (none to read without a projection head)
        from_projection_layer = min(default_projection_layer(source), layers)
    k = from_projection_layer
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= layers:
        raise ValueError(
            f"`from_projection_layer` must be an integer in [0, {layers}] (this checkpoint's "
            f"projection head has {layers} layers). Received: from_projection_layer={k!r}"
        )

    from simclr_tf.models.resnet import ResNet

    assigner = _Assigner(tensors)
    encoder = ResNet(
        depth=arch["depth"],
        width_multiplier=arch["width_multiplier"],
        sk_ratio=arch["sk_ratio"],
        cifar_stem=arch["cifar_stem"],
        synchronized_batch_norm=synchronized_batch_norm,
    )
    convs, norms = _encoder_layers(encoder, arch)
    assigner.pairs(layout.convs, convs, "encoder convolution")
    assigner.pairs(layout.norms, norms, "encoder batch norm")

    head = None
    if layout.projection:
        head = _projection_head(layout, tensors.keys, encoder.output_dim, synchronized_batch_norm)
        head.build((None, encoder.output_dim))
        assigner.pairs([d for d, _ in layout.projection], head.dense_layers, "projection dense")
        assigner.pairs([n for _, n in layout.projection], head.batch_norm_layers, "projection BN")

    info = {
        "source": source,
        "format": layout.format,
        "depth": arch["depth"],
        "width_multiplier": arch["width_multiplier"],
        "sk_ratio": arch["sk_ratio"],
        "cifar_stem": arch["cifar_stem"],
        "encoder_params": int(sum(np.prod(w.shape) for w in encoder.weights)),
        "projection_layers": len(layout.projection),
        "projection_dim": head.output_dim if head is not None else None,
        "num_classes": None,
        "from_projection_layer": None,
        "image_size": int(image_size),
    }
    classifier = None
    if layout.supervised is not None:
        classifier = _classifier(
            layout, tensors.keys, encoder, head, from_projection_layer, image_size, source
        )
        assigner.pairs([layout.supervised], [classifier.head], "supervised head")
        info["num_classes"] = classifier.num_classes
        info["from_projection_layer"] = from_projection_layer
    models = [m for m in (encoder, head) if m is not None]
    if classifier is not None:
        models.append(classifier.head)
    assigner.check_all_used(layout.model_keys, source, models)
    info["loaded_tensors"] = len(assigner.used)
    info["ignored"] = len(layout.ignored)
    logging.info("Loaded %s", describe(info))
    return OfficialModel(encoder, head, classifier, info)


def describe(info):
    """One line for a log or the command's output."""
    arch = (
        f"ResNet-{info['depth']} {info['width_multiplier']}x"
        f"{' SK' if info['sk_ratio'] else ''}{' CIFAR stem' if info['cifar_stem'] else ''}"
    )
    head = (
        f"{info['projection_layers']}-layer projection head (dim {info['projection_dim']})"
        if info["projection_layers"]
        else "NO projection head"
    )
    sup = (
        f"supervised head of {info['num_classes']} classes reading projection layer "
        f"{info['from_projection_layer']}"
        if info["num_classes"]
        else "NO supervised head"
    )
    return (
        f"{info['format']} {info['source']}: {arch} ({info['encoder_params']:,} encoder "
        f"parameters), {head}, {sup}; {info.get('loaded_tensors', '?')} tensors loaded, "
        f"{info.get('ignored', '?')} ignored (optimizer state, counters, EMA copy)"
    )


def _require(require, layout, source):
    if "projection_head" in require and not layout.projection:
        raise ValueError(
            f"{source!r} has no projection head (the published TF2 SavedModels of the "
            "fine-tuned / supervised releases may lack one; the TF1 checkpoints hold it)."
        )
    if "classifier" in require and layout.supervised is None:
        raise ValueError(f"{source!r} has no supervised head (`head_supervised`).")


def _encoder_layers(encoder, arch):
    """The encoder's Conv2D and BatchNormalization layers in the reference's creation order."""
    get = encoder.get_layer
    convs, norms = [], []
    for i in range(1, arch["stem_convs"] + 1):
        convs.append(get(f"stem_{i}_conv"))
        norms.append(get(f"stem_{i}_bn"))
    for g, num_blocks in enumerate(arch["blocks_per_group"], start=1):
        for b in range(1, num_blocks + 1):
            p = f"block_group{g}_block{b}"
            if b == 1:
                convs.append(get(f"{p}_shortcut_conv"))
                norms.append(get(f"{p}_shortcut_bn"))
            convs.append(get(f"{p}_1_conv"))
            norms.append(get(f"{p}_1_bn"))
            if arch["block"] == "selective_kernel":
                sk = get(f"{p}_2_sk")
                convs += [sk.stream_conv[-1], sk.mix_reduce, sk.mix_expand]
                norms += [sk.stream_bn, sk.mix_bn]
            else:
                convs.append(get(f"{p}_2_conv"))
                norms.append(get(f"{p}_2_bn"))
            if arch["block"] != "basic":
                convs.append(get(f"{p}_3_conv"))
                norms.append(get(f"{p}_3_bn"))
    return convs, norms


def _projection_head(layout, shapes, input_dim, synchronized_batch_norm):
    from simclr_tf.models.projection_head import ProjectionHead

    dims = [shapes[d.keys["kernel"]][-1] for d, _ in layout.projection]
    hidden = set(dims[:-1])
    return ProjectionHead(
        mode="nonlinear",
        num_layers=len(dims),
        output_dim=int(dims[-1]),
        hidden_dim=None if hidden <= {input_dim} else int(dims[0]),
        synchronized_batch_norm=synchronized_batch_norm,
    )


def _classifier(layout, shapes, encoder, head, k, image_size, source):
    from simclr_tf.augment.simclr_augment import SimCLRAugment
    from simclr_tf.evaluation.pretrained import build_classifier

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


class _Assigner:
    """Copies checkpoint tensors into Keras layers, each tensor at most once, shapes checked."""

    def __init__(self, tensors):
        self.tensors = tensors
        self.used = set()
        self.assigned = set()

    def pairs(self, units, layers, what):
        if len(units) != len(layers):
            raise ValueError(
                f"{self.tensors.source!r}: {len(units)} {what} layers in the checkpoint, "
                f"{len(layers)} in the Keras model."
            )
        for unit, layer in zip(units, layers):
            self.assign(unit, layer)

    def assign(self, unit, layer):
        if unit.kind == "norm":
            targets = {r: getattr(layer, r, None) for r in NORM_ROLES}
        else:
            targets = {"kernel": layer.kernel, "bias": getattr(layer, "bias", None)}
        targets = {r: v for r, v in targets.items() if v is not None}
        if set(targets) != set(unit.keys):
            raise ValueError(
                f"{self.tensors.source!r}: {unit.where} has {sorted(unit.keys)}, but the Keras "
                f"layer {layer.name!r} has {sorted(targets)}."
            )
        for role, variable in targets.items():
            key = unit.keys[role]
            if key in self.used:
                raise ValueError(f"{self.tensors.source!r}: {key} would be used twice.")
            value = self.tensors.get(key)
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"{self.tensors.source!r}: {key} has shape {tuple(value.shape)}, the Keras "
                    f"weight {layer.name}/{role} {tuple(variable.shape)}."
                )
            if id(variable) in self.assigned:
                raise ValueError(f"The Keras weight {variable.path} would be assigned twice.")
            variable.assign(value.astype(variable.dtype))
            self.used.add(key)
            self.assigned.add(id(variable))

    def check_all_used(self, model_keys, source, models):
        missed = [w.path for m in models for w in m.weights if id(w) not in self.assigned]
        if missed:
            raise ValueError(
                f"{source!r}: {len(missed)} Keras weights got no checkpoint tensor, e.g. "
                f"{missed[:5]}."
            )
        left = sorted(set(model_keys) - self.used)
        if left:
            raise ValueError(
                f"{source!r}: {len(left)} model tensors were not loaded, e.g. {left[:5]}."
            )
