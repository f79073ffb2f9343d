"""From a config to the objects of a run: the pretraining data, the encoder, the pretrainer and
its optimiser.

The training command, the notebooks and the evaluation modes all build through these functions,
so a config means the same model everywhere.
"""

from absl import logging

from simclr_tf.augment.composed_augment import ComposedAugment
from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.models.projection_head import ProjectionHead
from simclr_tf.models.resnet import ResNet
from simclr_tf.models.simclr import SimCLR
from simclr_tf import data, optimizers
from simclr_tf.config import apply_deprecated_keys, data_options
from simclr_tf.optimizers.schedules import WarmupCosine


def cifar_stem(config):
    """`model.cifar_stem`, or when it is None the reference's rule: `image_size <= 32`."""
    stem = config.model.cifar_stem
    return bool(config.image_size <= 32) if stem is None else bool(stem)


def build_training_source(config):
    """The pretraining data, labelled when the probe is on and the data has labels of at least
    two classes; and a line saying whether the probe is on, and why not (also logged).

    An image folder has labels when it has class sub-folders; a flat folder has none, and
    pretraining reads it without (`model.probe` only says to use labels when there are some).
    """
    def read(labeled):
        return data.get_source(config.dataset, config.train_split, config.image_size,
                               labeled=labeled, shuffle=True, seed=config.seed,
                               **data_options(config))

    def labelled():
        if not config.model.probe:
            return read(False), "off (model.probe=False)"
        try:
            source = read(True)
        except data.MissingLabelsError as e:
            return read(False), f"off (the data has no labels: {e.reason})"
        names = source.info.class_names
        if source.info.num_classes < 2:
            return read(False), f"off (one class only: {', '.join(names)})"
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return source, f"on ({source.info.num_classes} classes: {shown})"

    source, probe = labelled()
    logging.info("Online linear probe: %s.", probe)
    return source, probe


def build_encoder(config):
    m = config.model
    return ResNet(
        depth=m.depth,
        width_multiplier=m.width_multiplier,
        sk_ratio=m.sk_ratio,
        se_ratio=m.se_ratio,
        cifar_stem=cifar_stem(config),
        # None = synchronized when there are several replicas; False opts out.
        synchronized_batch_norm=None if m.synchronized_batch_norm else False,
    )


def build_augment(config):
    a = config.augment
    if a.get("transforms"):
        if a.brightness_mode != "simclrv2":  # ComposedAugment's colour stage has no such option
            raise ValueError(
                "`augment.brightness_mode` applies to the SimCLR pipeline only; the colour stage "
                "of `augment.transforms` has the simclrv2 (multiplicative) brightness. Received: "
                f"augment.brightness_mode={a.brightness_mode!r}, augment.transforms={a.transforms!r}"
            )
        return ComposedAugment(
            image_size=config.image_size,
            transforms=[t.strip() for t in a.transforms.split(",") if t.strip()],
            asymmetric=a.asymmetric,
            color_jitter_strength=a.color_jitter_strength,
            blur_min_radius=a.blur_min_radius,
            seed=config.seed,
        )
    if a.get("asymmetric"):
        raise ValueError(
            "`augment.asymmetric` needs `augment.transforms` (the stages of the targeted view). "
            f"Received: augment.transforms={a.transforms!r}"
        )
    return SimCLRAugment(
        image_size=config.image_size,
        color_jitter_strength=a.color_jitter_strength,
        blur=a.blur,
        brightness_mode=a.brightness_mode,
        blur_min_radius=a.blur_min_radius,
        seed=config.seed,
    )


def build_pretrainer(config, num_classes=None):
    """The `SimCLR` model of a config; `num_classes` enables the online probe (None or 0, as
    the info of unlabelled data says: no probe). A deprecated key the config still sets (the
    top-level `temperature`) is moved to its new place first (`config.apply_deprecated_keys`)."""
    apply_deprecated_keys(config)
    m = config.model
    return SimCLR(
        encoder=build_encoder(config),
        projection_head=ProjectionHead(
            mode=m.head_mode,
            num_layers=m.head_num_layers,
            output_dim=m.head_output_dim,
            synchronized_batch_norm=None if m.synchronized_batch_norm else False,
        ),
        augment=build_augment(config),
        temperature=config.loss.temperature,
        hidden_norm=config.hidden_norm,
        num_classes=num_classes if m.probe and num_classes else None,
        probe_weight_decay=config.optimizer.weight_decay,
        probe_from_projection_layer=m.probe_from_projection_layer,
        loss=loss_spec(config),
        micro_batch_size=m.micro_batch_size,
    )


def loss_spec(config):
    """`SimCLR(loss=...)` from the config's `loss` block: only the options the loss takes."""
    spec = config.get("loss")
    if spec is None or spec.name == "nt_xent":
        if spec is not None and spec.semi_hard:
            raise ValueError(
                "`loss.semi_hard` applies to nt_logistic and margin_triplet only (NT-Xent weighs "
                f"negatives by hardness itself). Received: loss.name={spec.name!r}, "
                "loss.semi_hard=True"
            )
        return "nt_xent"
    options = {"name": spec.name, "semi_hard": bool(spec.semi_hard)}
    if spec.name == "margin_triplet":
        options["margin"] = float(spec.margin)
    return options


def build_optimizer(config, resolved):
    """The optimiser with the warmup + cosine schedule at the scaled learning rate: LARS, or the
    reference's Nesterov momentum / Adam with an L2 term (`simclr_tf.optimizers.build_optimizer`);
    `SimCLR` keeps batch norm and the probe's kernel out of their decay."""
    o = config.optimizer
    schedule = WarmupCosine(
        peak_learning_rate=resolved["learning_rate"],
        total_steps=resolved["total_steps"],
        warmup_steps=resolved["warmup_steps"],
    )
    return optimizers.build_optimizer(o.name, schedule, o.momentum, o.weight_decay)
