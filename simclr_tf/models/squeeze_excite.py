"""Squeeze-and-excitation (Hu et al. 2018, arXiv:1709.01507) as the SimCLR ResNets use it."""

import keras
from keras import ops

from simclr_tf.models.conv import conv_kernel_initializer


@keras.saving.register_keras_serializable(package="simclr_tf")
class SqueezeExcite(keras.layers.Layer):
    """Channel gating: `x * sigmoid(expand(relu(reduce(mean_hw(x)))))`.

    As the reference (google-research/simclr tf2/resnet.py `SE_Layer`): 1x1 convs with bias,
    the reduced width is `max(1, int(filters * se_ratio))` where `filters` is the block's base
    width (a bottleneck's inner width, not its 4x output), and the expansion returns to the
    input's channels. Placed after a residual block's last BN, before the shortcut is added.

    Args:
        filters: the block's base width that `se_ratio` scales.
        se_ratio: reduction ratio, in (0, 1).

    Example:

    ```python
    se = SqueezeExcite(filters=64, se_ratio=0.25)
    y = se(keras.random.uniform((2, 8, 8, 256)))  # (2, 8, 8, 256), gated per channel
    ```
    """

    def __init__(self, filters, se_ratio, **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.filters = int(filters)
        self.se_ratio = float(se_ratio)
        # === Layers === (expand's width is the input's channels: created in build)
        self.reduce = keras.layers.Conv2D(
            max(1, int(self.filters * self.se_ratio)),
            1,
            use_bias=True,
            kernel_initializer=conv_kernel_initializer(),
            name="reduce",
            dtype=self.dtype_policy,
        )
        self.expand = None

    def build(self, input_shape):
        channels = input_shape[-1]
        self.expand = keras.layers.Conv2D(
            channels,
            1,
            use_bias=True,
            kernel_initializer=conv_kernel_initializer(),
            name="expand",
            dtype=self.dtype_policy,
        )
        pooled = (input_shape[0], 1, 1, channels)
        self.reduce.build(pooled)
        self.expand.build(self.reduce.compute_output_shape(pooled))

    def call(self, inputs):
        squeezed = ops.mean(inputs, axis=(1, 2), keepdims=True)
        gate = ops.sigmoid(self.expand(ops.relu(self.reduce(squeezed))))
        return inputs * gate

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "se_ratio": self.se_ratio})
        return config
