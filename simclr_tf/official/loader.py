"""`load_official`: google-research/simclr's published checkpoints as this package's models."""

import dataclasses
import os

import numpy as np
import tensorflow as tf
from absl import logging

from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.models.projection_head import ProjectionHead
from simclr_tf.models.resnet import ResNet
from simclr_tf.models.simclr import SimCLR
from simclr_tf.official import heads, releases, selector
from simclr_tf.official.architecture import infer_architecture
from simclr_tf.official.assign import Assigner, encoder_layers
from simclr_tf.official.download import cache_root, download, extract_zip
from simclr_tf.official.layout import parse_layout
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
        head = self.projection_head or ProjectionHead(mode="none")
        if augment is None:
            augment = SimCLRAugment(self.info["image_size"])
        model = SimCLR(encoder=self.encoder, projection_head=head, augment=augment)
        size = self.info["image_size"]
        model.build((None, size, size, 3))
        return model


def load_official(
    path,
    image_size=224,
    from_projection_layer=None,
    require=(),
    synchronized_batch_norm=None,
    weights="model",
    classifier=True,
    cache_dir=None,
):
    """Loads a google-research/simclr checkpoint into `simclr_tf.ResNet`, `ProjectionHead` and a
    `Classifier` for its supervised head.

    Reads a published checkpoint by name (`"simclrv2/finetuned_100pct/r50_1x_sk0"`, downloaded
    once into a local cache, see `simclr_tf.official.download`), the published TF2 SavedModels
    (`simclrv2/*/r50_1x_sk0/saved_model/`, `simclrv1/pretrain/1x/saved_model/`, ...), the
    reference's TF2 `run.py` checkpoints (`ckpt-N`) and the TF1 checkpoints (`model.ckpt-N`,
    also given as its `.index` or `.data-*` file, or a `hub/` module folder), the SimCLRv1 zips
    (`ResNet50_1x.zip`, extracted into the cache), from a folder or any `tf.io.gfile` path
    (`gs://...`). The architecture (depth, width, selective kernels, CIFAR stem, projection
    head, classes) is inferred from the weights; TF2 tensors are mapped through the checkpoint's
    object graph, TF1 ones by their creation-order names. Every model tensor is used exactly
    once and every Keras weight assigned exactly once, or a ValueError names what is missing or
    left over; optimizer slots and state, counters and the unused copy (`weights`) are ignored
    (counted in `info["ignored"]`). A projection head whose batch-norm statistics never left
    their initial values (the TF2 SimCLRv1 SavedModels: v1 was published without its head) is
    loaded with a warning and `info["projection_head_trained"] = False`.

    Build it inside a strategy's scope to get cross-replica batch norm there.

    Args:
        path: a release name or a checkpoint path (see above).
        image_size: the input size of the classifier's evaluation transform (centre crop 0.875
            and bicubic resize, the reference's) and of `OfficialModel.simclr()`.
        from_projection_layer: which projection layer the supervised head reads (0: the
            encoder output; the reference's `ft_proj_selector`). None: decided from the files
            (`simclr_tf.official.selector`): the only layer of the head's input width, else a
            SavedModel's own function on a probe batch, else the published value of a release
            loaded by name; otherwise a ValueError asks for it. `info["projection_layer_from"]`
            says how it was decided.
        require: parts that must be present, of "projection_head", "classifier": a ValueError
            says so when the checkpoint lacks one.
        synchronized_batch_norm: as `simclr_tf.ResNet`.
        weights: "model" (default: the trained weights, those the authors evaluate) or "ema":
            the `ema_model/` copy in the SimCLRv2 TF1 checkpoints (the momentum encoder of
            SimCLRv2's MoCo-style memory), tensor by tensor where a copy exists (a tensor
            without one keeps its trained value).
        classifier: False leaves the supervised head out (its tensors count as ignored), so no
            projection layer needs deciding: for features and fine-tuning only.
        cache_dir: where names are downloaded to; see `simclr_tf.official.download`.

    Returns:
        An `OfficialModel` (encoder, projection_head, classifier, info).

    Example:

    ```python
    official = simclr_tf.load_official("simclrv2/finetuned_100pct/r50_1x_sk0")
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
    release = None
    if releases.looks_like_name(path) and not _exists(path):
        release = releases.get(path)
        path = download(release, cache_dir=cache_dir)
    elif str(path).endswith(".zip") and os.path.isfile(path):
        name = os.path.basename(str(path))[: -len(".zip")]
        path = extract_zip(path, os.path.join(cache_root(cache_dir), "extracted", name))
    tensors = CheckpointTensors(path)
    layout = parse_layout(tensors, weights)
    if not classifier and layout.supervised is not None:
        keys = set(layout.supervised.keys.values())
        layout.model_keys -= keys
        layout.ignored += sorted(keys)
        layout.supervised = None
    source = tensors.source
    if layout.unknown:
        raise ValueError(
            f"{source!r} has {len(layout.unknown)} model tensors that fit no layer of the "
            f"reference, e.g. {layout.unknown[:5]}; refusing to load it partially."
        )
    arch = infer_architecture(layout, tensors.keys, source)
    heads.require(require, layout, source)
    assigner = Assigner(tensors)
    encoder = ResNet(
        depth=arch["depth"],
        width_multiplier=arch["width_multiplier"],
        sk_ratio=arch["sk_ratio"],
        cifar_stem=arch["cifar_stem"],
        synchronized_batch_norm=synchronized_batch_norm,
    )
    convs, norms = encoder_layers(encoder, arch)
    assigner.pairs(layout.convs, convs, "encoder convolution")
    assigner.pairs(layout.norms, norms, "encoder batch norm")

    head = None
    if layout.projection:
        head = heads.projection_head(
            layout, tensors.keys, encoder.output_dim, synchronized_batch_norm
        )
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
        "projection_head_trained": (
            heads.head_trained(tensors, layout) if head is not None else None
        ),
        "num_classes": None,
        "from_projection_layer": None,
        "projection_layer_from": None,
        "weights": weights,
        "release": release.name if release is not None else None,
        # The TF2 SavedModel folder whose own function `convert` checks the conversion
        # against (a TF1 hub/ module keeps TF1 signatures instead: none).
        "saved_model": (
            os.path.dirname(os.path.dirname(tensors.prefix))
            if tensors.kind == "saved_model" and tensors.object_graph is not None else None
        ),
        "image_size": int(image_size),
    }
    if info["projection_head_trained"] is False:
        logging.warning(
            "%s: the projection head was never trained (its batch-norm moving statistics are "
            "still 0 and 1): SimCLRv1 was published without it. Its outputs mean nothing; "
            "read the encoder features.", source,
        )
    classifier = None
    if layout.supervised is not None:
        k, how = selector.resolve(tensors, layout, encoder, head, from_projection_layer, release)
        classifier = heads.classifier(layout, tensors.keys, encoder, head, k, image_size, source)
        assigner.pairs([layout.supervised], [classifier.head], "supervised head")
        info["num_classes"] = classifier.num_classes
        info["from_projection_layer"] = k
        info["projection_layer_from"] = how
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
        f"{info['from_projection_layer']} (from {info.get('projection_layer_from')})"
        if info["num_classes"]
        else "NO supervised head"
    )
    return (
        f"{info['format']} {info['source']}: {arch} ({info['encoder_params']:,} encoder "
        f"parameters), {head}, {sup}; {info.get('loaded_tensors', '?')} tensors loaded, "
        f"{info.get('ignored', '?')} ignored (optimizer state, counters, "
        f"{'trained' if info.get('weights') == 'ema' else 'EMA'} copy)"
    )


def _exists(path):
    try:
        return tf.io.gfile.exists(path)
    except tf.errors.OpError:
        return False
