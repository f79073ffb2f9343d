"""Batch normalisation with the SimCLR reference's settings, shared by the encoder and the head.

Reference: google-research/simclr tf2/resnet.py (`BatchNormRelu`).
"""

import math

import keras
import tensorflow as tf


def resolve_synchronized(synchronized_batch_norm):
    """The effective cross-replica BN setting: `None` means "on when there are >1 replicas".

    The reference trains with global (cross-replica) batch norm (`--global_bn=True`): with
    per-replica statistics a replica can tell its own positives apart by their batch statistics
    (the paper's section 2.1 / appendix B.1 "information leakage"), and the replicas' moving
    statistics drift apart silently. The strategy is read when the layers are built, so build
    the model inside `strategy.scope()`.
    """
    if synchronized_batch_norm is None:
        return tf.distribute.get_strategy().num_replicas_in_sync > 1
    if not isinstance(synchronized_batch_norm, bool):
        raise ValueError(
            "`synchronized_batch_norm` must be None (auto: on under a strategy with more than "
            "one replica), True or False. "
            f"Received: synchronized_batch_norm={synchronized_batch_norm!r}"
        )
    return synchronized_batch_norm


def validate_batch_norm_args(batch_norm_decay, batch_norm_epsilon):
    if not 0.0 <= batch_norm_decay < 1.0:
        raise ValueError(
            "`batch_norm_decay` must be in [0, 1). "
            f"Received: batch_norm_decay={batch_norm_decay}"
        )
    if not batch_norm_epsilon > 0:
        raise ValueError(
            f"`batch_norm_epsilon` must be > 0. Received: batch_norm_epsilon={batch_norm_epsilon}"
        )


_AFFINE_EPSILON = 1.001e-5


def _sync_fused_batch_norm(x, gamma, beta, mean, variance, count, epsilon):
    """Normalise `x` with cross-replica statistics; one fused kernel each way.

    `mean`, `variance` (biased) and `count` are the global statistics (all replicas). Forward is
    the fused kernel in inference mode with those statistics. Backward is the inference-mode
    gradient kernel, which gives dy * gamma * r and this replica's sums of dy and dy * xhat
    (r = 1 / sqrt(variance + epsilon), xhat = (x - mean) * r), corrected by the terms that come
    through the statistics, for which those sums are added over replicas in one all-reduce:

        dx = gamma * r * (dy - sum(dy) / count - xhat * sum(dy * xhat) / count)

    which is what automatic differentiation through Keras' synchronized moments gives. The
    gradients of gamma and beta are this replica's own sums, as autodiff gives them; the
    optimizer adds them over replicas with every other gradient.
    """

    @tf.custom_gradient
    def normalise(x, gamma, beta):
        y, _, _, _, _, reserve = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma, offset=beta, mean=mean, variance=variance, epsilon=epsilon,
            data_format="NHWC", is_training=False)

        def grad(dy):
            dx_scaled, dgamma, dbeta, _, _ = tf.raw_ops.FusedBatchNormGradV3(
                y_backprop=dy, x=x, scale=gamma, reserve_space_1=mean, reserve_space_2=variance,
                reserve_space_3=reserve, epsilon=epsilon, data_format="NHWC", is_training=False)
            channels = tf.shape(dbeta)[0]
            sums = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, tf.concat([dbeta, dgamma], axis=0))
            sum_dy, sum_dy_xhat = sums[:channels], sums[channels:]
            r = tf.math.rsqrt(variance + epsilon)
            # dx = dx_scaled - (a * x + b) per channel. The affine part is one more inference
            # kernel (mean 0, variance 1): on a CPU that is half the cost of a multiply and an
            # add over the whole tensor. Its epsilon is cuDNN's smallest, which GPUs require,
            # and the scale makes up for it.
            a = tf.math.divide_no_nan(gamma * r * r * sum_dy_xhat, count)
            b = tf.math.divide_no_nan(gamma * r * sum_dy, count) - mean * a
            affine = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=a * math.sqrt(1.0 + _AFFINE_EPSILON), offset=b, mean=tf.zeros_like(a),
                variance=tf.ones_like(a), epsilon=_AFFINE_EPSILON, data_format="NHWC",
                is_training=False)[0]
            return dx_scaled - affine, dgamma, dbeta

        return y, grad

    return normalise(x, gamma, beta)


@keras.saving.register_keras_serializable(package="simclr_tf")
class BatchNormalization(keras.layers.BatchNormalization):
    """Keras' `BatchNormalization`, computed by TensorFlow's fused kernels when it can be.

    Why: Keras 3 normalises a training batch with separate reduction and elementwise ops, which
    on a CPU costs about 4x the fused kernel that tf.keras 2 (and so the reference) used: 0.24 s
    against 0.06 s forward + backward for a (512, 32, 32, 64) batch, a fifth of a ResNet-18
    CIFAR step. The fused path runs for 4-D channels-last inputs in training mode:

    - with this replica's own statistics (not synchronized, or a single replica), the fused
      training kernel computes and applies them;
    - with synchronized statistics under a strategy with several replicas, this replica's sums
      of x and x^2 and its count go through one all-reduce (Keras' layer makes three), the
      fused inference kernel applies the global statistics, and a custom gradient makes the
      backward pass one fused gradient kernel plus one all-reduce of two per-channel sums.

    Both compute in float32 like Keras' layer and update the moving statistics exactly as Keras
    does (biased batch variance; E[x^2] - E[x]^2 when synchronized, as Keras computes it).
    Everything else (inference, other ranks, masks, renorm) is Keras' own code. Outputs,
    gradients and moving statistics agree with Keras' to float32 rounding, on one replica and
    on two (tests/test_resnet.py).
    """

    def _fused(self, inputs, training, mask):
        if not training or not self.trainable or mask is not None or self.renorm:
            return False
        if len(inputs.shape) != 4 or self.axis not in (3, -1) or inputs.shape[-1] is None:
            return False
        return keras.backend.backend() == "tensorflow"

    def _replica_context(self):
        """The replica context when statistics are shared across several replicas, else None."""
        if not self.synchronized:
            return None
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return None
        return context

    def call(self, inputs, training=None, mask=None):
        if not self._fused(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        # Outside a replica function (cross-replica context) Keras' synchronized moments are
        # this call's own too, so the local path below matches it there.
        context = self._replica_context()
        x = tf.cast(inputs, tf.float32)
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
        # This replica's statistics from the fused training kernel. It returns the unbiased
        # (n / (n - 1)) batch variance; Keras keeps the biased one.
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
        )
        count = tf.cast(tf.size(x) // channels, tf.float32)
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        if context is not None:
            # Synchronized: the local normalised output is dropped (on a CPU the fused kernel
            # is still about half the cost of summing x and x^2 with separate ops); the
            # statistics go through one all-reduce as sums of x and x^2 and the count. They
            # carry no gradient of their own: the custom gradient accounts for them, from the
            # all-reduced sums of the backward pass.
            local = tf.concat([
                mean * count,
                (variance + tf.square(mean)) * count,
                tf.reshape(count, [1]),
            ], axis=0)
            total = tf.stop_gradient(context.all_reduce(tf.distribute.ReduceOp.SUM, local))
            count = total[-1]
            mean = tf.math.divide_no_nan(total[:channels], count)
            variance = tf.maximum(
                tf.math.divide_no_nan(total[channels:2 * channels], count) - tf.square(mean), 0.0)
            y = _sync_fused_batch_norm(x, gamma, beta, mean, variance, count, self.epsilon)
        m = self.momentum
        self.moving_mean.assign(
            self.moving_mean * m + tf.cast(mean, self.moving_mean.dtype) * (1.0 - m))
        self.moving_variance.assign(
            self.moving_variance * m + tf.cast(variance, self.moving_variance.dtype) * (1.0 - m))
        return tf.cast(y, self.compute_dtype)


def batch_norm(
    decay,
    epsilon,
    synchronized,
    name,
    center=True,
    zero_gamma=False,
    dtype=None,
):
    """A `BatchNormalization` layer with the reference's settings.

    Keras' `momentum` is the reference's `batch_norm_decay` (moving = momentum * moving +
    (1 - momentum) * batch). `zero_gamma` starts the scale at 0, as the reference does for the
    last BN of every residual block (each block is then the identity on its shortcut at init).
    """
    return BatchNormalization(
        momentum=decay,
        epsilon=epsilon,
        center=center,
        scale=True,
        gamma_initializer="zeros" if zero_gamma else "ones",
        synchronized=synchronized,
        name=name,
        dtype=dtype,
    )
