"""From a config to Keras objects: the encoder, the pretrainer and its optimiser.

The training command, the notebooks and the evaluation modes all build through these functions,
so a config means the same model everywhere.
"""

import keras

from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.models.projection_head import ProjectionHead
from simclr_tf.models.resnet import ResNet
from simclr_tf.models.simclr import SimCLR
from simclr_tf.optimizers.lars import LARS
from simclr_tf.optimizers.schedules import WarmupCosine


def build_encoder(config):
    m = config.model
    return ResNet(
        depth=m.depth,
        width_multiplier=m.width_multiplier,
        sk_ratio=m.sk_ratio,
        se_ratio=m.se_ratio,
        cifar_stem=m.cifar_stem,
        # None = synchronized when there are several replicas; False opts out.
        synchronized_batch_norm=None if m.synchronized_batch_norm else False,
    )


def build_augment(config):
    a = config.augment
    return SimCLRAugment(
        image_size=config.image_size,
        color_jitter_strength=a.color_jitter_strength,
        blur=a.blur,
        brightness_mode=a.brightness_mode,
        seed=config.seed,
    )


def build_pretrainer(config, num_classes=None):
    """The `SimCLR` model of a config; `num_classes` enables the online probe."""
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
        temperature=config.temperature,
        hidden_norm=config.hidden_norm,
        num_classes=num_classes if m.probe else None,
        probe_weight_decay=config.optimizer.weight_decay,
        probe_from_projection_layer=m.probe_from_projection_layer,
        micro_batch_size=m.micro_batch_size,
    )


def build_optimizer(config, resolved):
    """The optimiser with the warmup + cosine schedule at the scaled learning rate."""
    o = config.optimizer
    schedule = WarmupCosine(
        peak_learning_rate=resolved["learning_rate"],
        total_steps=resolved["total_steps"],
        warmup_steps=resolved["warmup_steps"],
    )
    if o.name == "lars":
        return LARS(learning_rate=schedule, momentum=o.momentum, weight_decay=o.weight_decay)
    if o.name == "momentum":
        return keras.optimizers.SGD(schedule, momentum=o.momentum, weight_decay=o.weight_decay or None)
    if o.name == "adam":
        return keras.optimizers.AdamW(schedule, weight_decay=o.weight_decay)
    raise ValueError(
        f"`optimizer.name` must be one of ['lars', 'momentum', 'adam']. Received: {o.name!r}"
    )
