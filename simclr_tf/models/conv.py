"""Convolutions with the SimCLR reference's settings: its initialiser and its fixed padding.

Reference: google-research/simclr tf2/resnet.py (`FixedPadding`, `Conv2dFixedPadding`).
"""

import keras
import tensorflow as tf


def conv_kernel_initializer():
    """The reference's conv initialiser: `VarianceScaling()` = scale 1, fan_in, truncated normal.

    That is He-style variance 1/fan_in (not 2/fan_in) for every conv, including the 1x1
    shortcut, selective-kernel and squeeze-excitation convs.
    """
    return keras.initializers.VarianceScaling(
        scale=1.0, mode="fan_in", distribution="truncated_normal"
    )


def fixed_padding(kernel_size):
    """(begin, end) zero padding of the reference's `fixed_padding` for a strided conv.

    The padding depends on the kernel only, not on the input size as "SAME" does: a 7x7 stride-2
    conv on 224 px pads (3, 3), where "SAME" would pad (2, 3).
    """
    pad_total = kernel_size - 1
    pad_begin = pad_total // 2
    return pad_begin, pad_total - pad_begin


def padded_conv2d(x, kernel, strides, pad):
    """`conv2d(tf.pad(x, pad), kernel, strides, "VALID")` whose backward pass pads `x` again.

    The gradient of a convolution reads its input, so TensorFlow keeps the padded copy of `x`
    alive from the forward pass to the backward pass: 138 MiB of the ResNet-18 CIFAR step at
    batch 128 (the three strided 3x3 convs), beside `x` itself, which the previous layer's
    gradient keeps anyway. Padding again in the backward pass costs one copy; the convolution's
    own explicit padding (`tf.nn.conv2d(padding=[[0, 0], ...])`) needs no copy at all but ran
    its forward and backward 13 % slower on this CPU (oneDNN), so the same "VALID" kernels run
    here. Returns the same numbers as the plain ops, gradients included.
    """
    begin, end = pad
    paddings = [[0, 0], [begin, end], [begin, end], [0, 0]]
    strides = [1, *strides, 1]

    @tf.custom_gradient
    def conv(x, kernel):
        y = tf.nn.conv2d(tf.pad(x, paddings), kernel, strides, "VALID")

        def grad(dy):
            # The control dependency keeps grappler from merging this pad with the forward one.
            with tf.control_dependencies([dy]):
                padded = tf.pad(x, paddings)
            d_kernel = tf.raw_ops.Conv2DBackpropFilter(
                input=padded, filter_sizes=tf.shape(kernel), out_backprop=dy,
                strides=strides, padding="VALID")
            d_padded = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(padded), filter=kernel, out_backprop=dy,
                strides=strides, padding="VALID")
            d_x = tf.slice(d_padded, [0, begin, begin, 0], tf.shape(x))
            return d_x, d_kernel

        return y, grad

    return conv(x, kernel)


@keras.saving.register_keras_serializable(package="simclr_tf")
class Conv2D(keras.layers.Conv2D):
    """A strided `keras.layers.Conv2D` with the reference's fixed padding (`Conv2dFixedPadding`:
    `tf.pad`, then a "VALID" convolution), in one layer whose backward pass keeps no padded
    copy of its input (`padded_conv2d`).

    Its class name is `Conv2D` on purpose: Keras keys a model's layers in weight files by class
    name and count ("conv2d_7"), so files written when this was a `ZeroPadding2D` and a Keras
    `Conv2D` (checkpoints, `.keras` and `.weights.h5` files) load unchanged.
    """

    def __init__(self, filters, kernel_size, strides, **kwargs):
        kwargs.pop("padding", None)  # get_config's "valid": the fixed padding is implied
        super().__init__(filters, kernel_size, strides=strides, padding="valid", **kwargs)
        self.fixed_pad = fixed_padding(self.kernel_size[0])

    def convolution_op(self, inputs, kernel):
        return padded_conv2d(inputs, tf.cast(kernel, inputs.dtype), self.strides, self.fixed_pad)

    def compute_output_shape(self, input_shape):
        begin, end = self.fixed_pad
        padded = list(input_shape)
        for axis in (1, 2):
            if padded[axis] is not None:
                padded[axis] += begin + end
        return super().compute_output_shape(tuple(padded))


def conv2d_fixed_padding(filters, kernel_size, strides, name, dtype=None):
    """The layers of the reference's `Conv2dFixedPadding`: a Conv2D without bias.

    Stride 1 uses "same" padding; a strided conv pads by `fixed_padding` and then convolves
    "valid" (this module's `Conv2D`), so the result does not depend on whether the input size is
    even.
    """
    args = dict(use_bias=False, kernel_initializer=conv_kernel_initializer(), name=name, dtype=dtype)
    if strides > 1 and fixed_padding(kernel_size) != (0, 0):
        return [Conv2D(filters, kernel_size, strides, **args)]
    padding = "valid" if strides > 1 else "same"
    return [keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, **args)]


def apply_layers(x, layers, **call_kwargs):
    """`x` through `layers` in turn (the list `conv2d_fixed_padding` returns)."""
    for layer in layers:
        x = layer(x, **call_kwargs)
    return x
