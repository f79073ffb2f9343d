"""The SimCLR encoder family: ResNet v1 with width multipliers, selective kernels and SE."""

import numbers

import keras

from simclr_tf.models.batch_norm import resolve_synchronized, validate_batch_norm_args
from simclr_tf.models.resnet_blocks import BlockOptions, block_group, stem

# depth -> (bottleneck blocks?, blocks per group), as the reference's `model_params`.
RESNET_SPECS = {
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
    152: (True, (3, 8, 36, 3)),
    200: (True, (3, 24, 36, 3)),
}
ENDPOINT_NAMES = (
    "initial_conv",
    "initial_max_pool",
    "block_group1",
    "block_group2",
    "block_group3",
    "block_group4",
    "final_avg_pool",
)


def scaled_width(channels, width_multiplier):
    """`channels * width_multiplier` rounded to the nearest integer (halves up), at least 1.

    Exact for the reference's integer multipliers; fractional multipliers (0.25, 0.5, ...) give
    the small encoders used for CPU experiments.
    """
    return max(1, int(channels * width_multiplier + 0.5))


@keras.saving.register_keras_serializable(package="simclr_tf")
class ResNet(keras.Model):
    """ResNet v1 encoder of SimCLR / SimCLRv2: images in [0, 1] -> pooled features.

    Follows google-research/simclr tf2/resnet.py (Chen et al. 2020, arXiv:2002.05709;
    SimCLRv2, arXiv:2006.10029) so that results and parameter counts match the official
    checkpoints: v1 blocks (post-activation), the first block of every group projects its
    shortcut, the last BN gamma of every block starts at 0, convs use `VarianceScaling()`
    (fan_in, truncated normal) without bias, strided convs pad by the kernel size ("fixed
    padding"), BN momentum 0.9 and epsilon 1e-5. Images are NOT mean/std normalised, as the
    reference. The global average pool runs in float32, so features are float32 under a mixed
    precision policy. DropBlock (off by default in the reference) is not implemented.

    Layers are named by the part of the network they belong to: `stem_*` (plus the
    `initial_conv` / `initial_max_pool` endpoints) is block group 0, `block_group{k}_*` and
    `block_group{k}` are group k (see `block_group_layers`). `endpoints_model()` gives the
    intermediate outputs of the official SavedModels.

    Args:
        depth: 18, 34 (basic blocks), 50, 101, 152 or 200 (bottleneck blocks).
        width_multiplier: channel multiplier; the reference uses 1, 2, 3, 4. Fractional values
            give small encoders; widths are `round(64 * width_multiplier)` etc. (halves up,
            at least 1).
        sk_ratio: > 0 uses selective-kernel convs in bottlenecks (SimCLRv2: 0.0625), a
            ResNet-D stem (three 3x3 convs) and average-pool shortcuts, as the reference.
        se_ratio: > 0 adds squeeze-excitation to every block.
        cifar_stem: a 3x3 stride-1 first conv and no max-pool (the reference's choice for
            images of 32 px or less); total stride 8 instead of 32.
        input_shape: (height, width, 3); None for a variable size. (The model's own
            `input_shape` property has the batch dimension in front, as every Keras model.)
        batch_norm_decay: BN moving-average decay (Keras `momentum`).
        batch_norm_epsilon: BN epsilon.
        synchronized_batch_norm: None = cross-replica BN when built under a strategy with more
            than one replica (the reference's `global_bn`); True / False force it.
        name: the model name.

    Example:

    ```python
    encoder = simclr_tf.ResNet(depth=18, width_multiplier=0.25, cifar_stem=True,
                               input_shape=(32, 32, 3))
    features = encoder(images)                 # (batch, encoder.output_dim)
    maps = encoder.endpoints_model()(images)   # {"block_group1": ..., ...}
    for layer in encoder.block_group_layers(0) + encoder.block_group_layers(1):
        layer.trainable = False                # freeze the stem and the first group
    ```
    """

    def __init__(
        self,
        depth=50,
        width_multiplier=1,
        sk_ratio=0.0,
        se_ratio=0.0,
        cifar_stem=False,
        input_shape=(None, None, 3),
        batch_norm_decay=0.9,
        batch_norm_epsilon=1e-5,
        synchronized_batch_norm=None,
        name="resnet",
        **kwargs,
    ):
        input_shape = tuple(input_shape)
        _validate(depth, width_multiplier, sk_ratio, se_ratio, cifar_stem, input_shape)
        validate_batch_norm_args(batch_norm_decay, batch_norm_epsilon)
        options = BlockOptions(
            batch_norm_decay=batch_norm_decay,
            batch_norm_epsilon=batch_norm_epsilon,
            synchronized=resolve_synchronized(synchronized_batch_norm),
            sk_ratio=sk_ratio,
            se_ratio=se_ratio,
        )
        bottleneck, blocks_per_group = RESNET_SPECS[depth]

        # === Functional model ===
        images = keras.Input(shape=input_shape, name="images")
        initial_conv, x = stem(images, scaled_width(64, width_multiplier), cifar_stem, options)
        endpoints = {"initial_conv": initial_conv, "initial_max_pool": x}
        for k, num_blocks in enumerate(blocks_per_group, start=1):
            x = block_group(
                x,
                scaled_width(64 * 2 ** (k - 1), width_multiplier),
                num_blocks,
                strides=1 if k == 1 else 2,
                bottleneck=bottleneck,
                options=options,
                name=f"block_group{k}",
            )
            endpoints[f"block_group{k}"] = x
        features = keras.layers.GlobalAveragePooling2D(name="final_avg_pool", dtype="float32")(x)
        endpoints["final_avg_pool"] = features
        super().__init__(inputs=images, outputs=features, name=name, **kwargs)

        # === Config ===
        self.depth = depth
        self.width_multiplier = width_multiplier
        self.sk_ratio = sk_ratio
        self.se_ratio = se_ratio
        self.cifar_stem = cifar_stem
        self._input_shape_arg = input_shape  # `input_shape` is a Keras property.
        self.batch_norm_decay = batch_norm_decay
        self.batch_norm_epsilon = batch_norm_epsilon
        self.synchronized_batch_norm = synchronized_batch_norm
        self.output_dim = int(features.shape[-1])
        self._endpoints = endpoints

    def endpoints_model(self, names=None):
        """A model (sharing this encoder's weights) from images to a dict of endpoints.

        Args:
            names: endpoint names to return, default all of `ENDPOINT_NAMES`:
                `initial_conv`, `initial_max_pool`, `block_group1`..`block_group4`,
                `final_avg_pool`, as in the official SimCLR SavedModels.
        """
        names = ENDPOINT_NAMES if names is None else tuple(names)
        unknown = [n for n in names if n not in self._endpoints]
        if unknown:
            raise ValueError(
                f"`names` must be a subset of {list(ENDPOINT_NAMES)}. Received: names={list(names)}"
            )
        outputs = {n: self._endpoints[n] for n in names}
        return keras.Model(inputs=self.input, outputs=outputs, name=f"{self.name}_endpoints")

    def block_group_layers(self, k):
        """The layers of block group `k` (0 = stem, 1..4 = `block_group1`..`block_group4`).

        Fine-tuning "after block b" as the reference (`fine_tune_after_block`) freezes groups
        0..b: set `trainable = False` on these layers (Keras then also runs their BN in
        inference mode; the reference keeps the frozen blocks' BN in training mode, which
        `simclr_tf.protocols.linear_eval.frozen_batch_norm_in_training_mode` restores,
        docs/differences.md).
        """
        if k not in (0, 1, 2, 3, 4):
            raise ValueError(f"`k` must be one of [0, 1, 2, 3, 4]. Received: k={k}")
        if k == 0:
            return [
                layer
                for layer in self.layers
                if layer.name.startswith("stem_")
                or layer.name in ("initial_conv", "initial_max_pool")
            ]
        prefix = f"block_group{k}"
        return [
            layer
            for layer in self.layers
            if layer.name == prefix or layer.name.startswith(prefix + "_")
        ]

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "depth": self.depth,
            "width_multiplier": self.width_multiplier,
            "sk_ratio": self.sk_ratio,
            "se_ratio": self.se_ratio,
            "cifar_stem": self.cifar_stem,
            "input_shape": self._input_shape_arg,
            "batch_norm_decay": self.batch_norm_decay,
            "batch_norm_epsilon": self.batch_norm_epsilon,
            "synchronized_batch_norm": self.synchronized_batch_norm,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _validate(depth, width_multiplier, sk_ratio, se_ratio, cifar_stem, input_shape):
    if depth not in RESNET_SPECS:
        raise ValueError(f"`depth` must be one of {sorted(RESNET_SPECS)}. Received: depth={depth}")
    if (
        not isinstance(width_multiplier, numbers.Real)
        or isinstance(width_multiplier, bool)
        or not width_multiplier > 0
    ):
        raise ValueError(
            "`width_multiplier` must be a number > 0 (the reference uses 1, 2, 3, 4). "
            f"Received: width_multiplier={width_multiplier}"
        )
    for arg, value in (("sk_ratio", sk_ratio), ("se_ratio", se_ratio)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"`{arg}` must be in [0, 1) (0 disables it). Received: {arg}={value}")
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(
            "`input_shape` must be (height, width, 3): RGB images (the augmentation tiles "
            f"grayscale to 3 channels). Received: input_shape={input_shape}"
        )
    total_stride = 8 if cifar_stem else 32
    for size in input_shape[:2]:
        if size is not None and size < total_stride:
            raise ValueError(
                f"`input_shape` must be at least {total_stride} px in height and width "
                f"(the network's total stride with cifar_stem={cifar_stem}), or None. "
                f"Received: input_shape={input_shape}"
            )
