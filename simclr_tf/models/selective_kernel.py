"""Selective-kernel convolution (Li et al. 2019, arXiv:1903.06586) as SimCLRv2 uses it."""

import keras
from keras import ops

from simclr_tf.models.batch_norm import batch_norm
from simclr_tf.models.conv import apply_layers, conv2d_fixed_padding, conv_kernel_initializer


@keras.saving.register_keras_serializable(package="simclr_tf")
class SelectiveKernelConv2D(keras.layers.Layer):
    """Two 3x3 streams mixed by a per-image softmax attention, as SimCLRv2's SK ResNets.

    The reference (google-research/simclr tf2/resnet.py `SK_Conv2D`) computes both streams with
    ONE 3x3 conv of `2 * filters` channels (split in two), followed by BN-ReLU; the mixing
    weights come from the spatial mean of the streams' sum through 1x1 conv (width
    `max(int(filters * sk_ratio), min_dim)`) -> BN-ReLU -> 1x1 conv (`2 * filters`), a softmax
    over the two streams per channel. It replaces the bottleneck's 3x3 conv AND its BN-ReLU.

    Args:
        filters: output channels.
        strides: stride of the 3x3 conv (fixed padding when > 1).
        sk_ratio: width of the mixing bottleneck relative to `filters` (SimCLRv2: 0.0625).
        min_dim: the least width of the mixing bottleneck (reference: 32).
        batch_norm_decay, batch_norm_epsilon, synchronized_batch_norm: as `simclr_tf.ResNet`
            (here a resolved bool; the encoder resolves `None`).

    Example:

    ```python
    sk = SelectiveKernelConv2D(filters=64, strides=2, sk_ratio=0.0625)
    y = sk(keras.random.uniform((2, 16, 16, 32)))  # (2, 8, 8, 64)
    ```
    """

    def __init__(
        self,
        filters,
        strides=1,
        sk_ratio=0.0625,
        min_dim=32,
        batch_norm_decay=0.9,
        batch_norm_epsilon=1e-5,
        synchronized_batch_norm=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Config ===
        self.filters = int(filters)
        self.strides = int(strides)
        self.sk_ratio = float(sk_ratio)
        self.min_dim = int(min_dim)
        self.batch_norm_decay = batch_norm_decay
        self.batch_norm_epsilon = batch_norm_epsilon
        self.synchronized_batch_norm = bool(synchronized_batch_norm)
        mid_dim = max(int(self.filters * self.sk_ratio), self.min_dim)

        # === Layers ===
        bn_args = (batch_norm_decay, batch_norm_epsilon, self.synchronized_batch_norm)
        policy = self.dtype_policy
        self.stream_conv = conv2d_fixed_padding(
            2 * self.filters, 3, self.strides, name="stream_conv", dtype=policy
        )
        self.stream_bn = batch_norm(*bn_args, name="stream_bn", dtype=policy)
        self.mix_reduce = keras.layers.Conv2D(
            mid_dim,
            1,
            use_bias=False,
            kernel_initializer=conv_kernel_initializer(),
            name="mix_reduce",
            dtype=policy,
        )
        self.mix_bn = batch_norm(*bn_args, name="mix_bn", dtype=policy)
        self.mix_expand = keras.layers.Conv2D(
            2 * self.filters,
            1,
            use_bias=False,
            kernel_initializer=conv_kernel_initializer(),
            name="mix_expand",
            dtype=policy,
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.stream_conv:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.stream_bn.build(shape)
        pooled = (shape[0], 1, 1, self.filters)
        self.mix_reduce.build(pooled)
        self.mix_bn.build(self.mix_reduce.compute_output_shape(pooled))
        self.mix_expand.build(self.mix_reduce.compute_output_shape(pooled))

    def call(self, inputs, training=None):
        streams = apply_layers(inputs, self.stream_conv)
        streams = ops.relu(self.stream_bn(streams, training=training))
        # (2, batch, h, w, filters): the two streams on a new leading axis, as the reference.
        streams = ops.stack(ops.split(streams, 2, axis=-1))
        context = ops.mean(ops.sum(streams, axis=0), axis=(1, 2), keepdims=True)
        context = ops.relu(self.mix_bn(self.mix_reduce(context), training=training))
        mixing = ops.stack(ops.split(self.mix_expand(context), 2, axis=-1))
        # Per channel, a softmax over the two streams (the stacking order of the reference, so
        # results agree bit for bit).
        return ops.sum(streams * ops.softmax(mixing, axis=0), axis=0)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.stream_conv:
            shape = layer.compute_output_shape(shape)
        return shape[:-1] + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "sk_ratio": self.sk_ratio,
                "min_dim": self.min_dim,
                "batch_norm_decay": self.batch_norm_decay,
                "batch_norm_epsilon": self.batch_norm_epsilon,
                "synchronized_batch_norm": self.synchronized_batch_norm,
            }
        )
        return config
