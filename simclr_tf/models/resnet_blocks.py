"""Functional building blocks of the SimCLR ResNet: stem, residual blocks and block groups.

These functions add layers to a Keras functional graph. Every layer is named after the part of
the network it belongs to (`stem_*`, `block_group{k}_block{j}_*`), which is how
`ResNet.block_group_layers` finds them. Reference: google-research/simclr tf2/resnet.py.
"""

import dataclasses

import keras

from simclr_tf.models.batch_norm import batch_norm
from simclr_tf.models.conv import apply_layers, conv2d_fixed_padding
from simclr_tf.models.selective_kernel import SelectiveKernelConv2D
from simclr_tf.models.squeeze_excite import SqueezeExcite


@dataclasses.dataclass(frozen=True)
class BlockOptions:
    """The settings every block shares."""

    batch_norm_decay: float = 0.9
    batch_norm_epsilon: float = 1e-5
    synchronized: bool = False
    sk_ratio: float = 0.0
    se_ratio: float = 0.0

    def batch_norm(self, name, zero_gamma=False):
        return batch_norm(
            self.batch_norm_decay,
            self.batch_norm_epsilon,
            self.synchronized,
            name=name,
            zero_gamma=zero_gamma,
        )


def conv_bn(x, filters, kernel_size, strides, options, name, relu=True, zero_gamma=False):
    """Conv (fixed padding) -> BN [-> ReLU]: the reference's Conv2dFixedPadding, BatchNormRelu."""
    x = apply_layers(x, conv2d_fixed_padding(filters, kernel_size, strides, name=f"{name}_conv"))
    x = options.batch_norm(f"{name}_bn", zero_gamma=zero_gamma)(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def stem(images, filters, cifar_stem, options):
    """The first conv(s) and pooling; returns (initial_conv, initial_max_pool) tensors.

    Standard: 7x7 stride-2 conv, BN-ReLU, 3x3 stride-2 "same" max-pool (total stride 4).
    With selective kernels (sk_ratio > 0) the 7x7 conv becomes ResNet-D's three 3x3 convs
    (filters/2 stride 2, filters/2, filters), as the reference. CIFAR: one 3x3 stride-1 conv
    and no max-pool (the reference keeps its plain CIFAR stem even with selective kernels).
    The endpoints are named as in the official SavedModels: `initial_conv` is the last stem
    conv's output before its BN, `initial_max_pool` the stem's output.
    """
    x = images
    if cifar_stem:
        convs = [(filters, 3, 1)]
    elif options.sk_ratio > 0:
        half = max(1, filters // 2)
        convs = [(half, 3, 2), (half, 3, 1), (filters, 3, 1)]
    else:
        convs = [(filters, 7, 2)]
    for i, (width, kernel_size, strides) in enumerate(convs[:-1], start=1):
        x = conv_bn(x, width, kernel_size, strides, options, name=f"stem_{i}")
    width, kernel_size, strides = convs[-1]
    last = f"stem_{len(convs)}"
    x = apply_layers(x, conv2d_fixed_padding(width, kernel_size, strides, name=f"{last}_conv"))
    initial_conv = keras.layers.Identity(name="initial_conv")(x)
    x = options.batch_norm(f"{last}_bn")(initial_conv)
    x = keras.layers.ReLU(name=f"{last}_relu")(x)
    if not cifar_stem:
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_max_pool")(x)
    initial_max_pool = keras.layers.Identity(name="initial_max_pool")(x)
    return initial_conv, initial_max_pool


def projection_shortcut(x, filters_out, strides, options, name):
    """1x1 conv + BN (no ReLU) matching the block's output; ResNet-D when sk_ratio > 0.

    ResNet-D (He et al. 2019, arXiv:1812.01187), as the reference: average-pool first (2x2,
    after a (0, 1) fixed padding when strided; "same" 2x2 stride-1 otherwise), then a stride-1
    1x1 conv, so the shortcut does not discard three quarters of its input.
    """
    if options.sk_ratio > 0:
        if strides > 1:
            x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pool_pad")(x)
            x = keras.layers.AveragePooling2D(2, strides, padding="valid", name=f"{name}_pool")(x)
        else:
            x = keras.layers.AveragePooling2D(2, 1, padding="same", name=f"{name}_pool")(x)
        strides = 1
    return conv_bn(x, filters_out, 1, strides, options, name=name, relu=False)


def residual_block(x, filters, strides, use_projection, bottleneck, options, name):
    """A ResNet v1 block: relu(residual(x) + shortcut(x)), last BN gamma initialised to 0.

    Basic (ResNet-18/34): 3x3 conv (stride) -> 3x3 conv, output `filters` channels.
    Bottleneck (50+): 1x1 -> 3x3 (stride; selective kernel when sk_ratio > 0) -> 1x1, output
    `4 * filters`. Squeeze-excitation (se_ratio > 0) gates the residual after its last BN.
    """
    filters_out = 4 * filters if bottleneck else filters
    shortcut = x
    if use_projection:
        shortcut = projection_shortcut(x, filters_out, strides, options, name=f"{name}_shortcut")
    if bottleneck:
        x = conv_bn(x, filters, 1, 1, options, name=f"{name}_1")
        if options.sk_ratio > 0:
            x = SelectiveKernelConv2D(
                filters,
                strides,
                options.sk_ratio,
                batch_norm_decay=options.batch_norm_decay,
                batch_norm_epsilon=options.batch_norm_epsilon,
                synchronized_batch_norm=options.synchronized,
                name=f"{name}_2_sk",
            )(x)
        else:
            x = conv_bn(x, filters, 3, strides, options, name=f"{name}_2")
        x = conv_bn(x, filters_out, 1, 1, options, name=f"{name}_3", relu=False, zero_gamma=True)
    else:
        x = conv_bn(x, filters, 3, strides, options, name=f"{name}_1")
        x = conv_bn(x, filters, 3, 1, options, name=f"{name}_2", relu=False, zero_gamma=True)
    if options.se_ratio > 0:
        x = SqueezeExcite(filters, options.se_ratio, name=f"{name}_se")(x)
    x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(x)


def block_group(x, filters, num_blocks, strides, bottleneck, options, name):
    """`num_blocks` residual blocks; the first one strides and always projects its shortcut."""
    for j in range(1, num_blocks + 1):
        x = residual_block(
            x,
            filters,
            strides if j == 1 else 1,
            use_projection=j == 1,
            bottleneck=bottleneck,
            options=options,
            name=f"{name}_block{j}",
        )
    return keras.layers.Identity(name=name)(x)
