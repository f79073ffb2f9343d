"""`--mode=train`: the full `SimCLR.train_step` through `fit`, and the encoder's floor."""

import statistics
import time

import keras
import tensorflow as tf

from simclr_tf.benchmark import options
from simclr_tf.benchmark.machine import (
    forward_flops,
    matmul_peak_gflops,
    peak_rss_mb,
    step_stats,
    synthetic_images,
    tensor_peak_mb,
    time_calls,
)
from simclr_tf.models.projection_head import ProjectionHead
from simclr_tf.models.resnet import ResNet
from simclr_tf.models.simclr import SimCLR
from simclr_tf.optimizers import LARS


def measure_train():
    preset, out = options.settings("train")
    strategy = options.configure_devices(options.REPLICAS.value)
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy(options.PRECISION.value)
    batch, size = preset["batch_size"], preset["image_size"]
    with strategy.scope():
        model = SimCLR(
            encoder=ResNet(depth=preset["depth"], width_multiplier=preset["width_multiplier"],
                           cifar_stem=preset["cifar_stem"], input_shape=(size, size, 3)),
            projection_head=ProjectionHead(num_layers=preset["head_layers"]),
            augment=options.build_augment(preset),
            temperature=preset["temperature"],
            micro_batch_size=options.MICRO.value,
        )
        model.compile(optimizer=LARS(learning_rate=0.3, weight_decay=1e-6),
                      jit_compile=options.JIT.value)
    images = synthetic_images(batch, size)
    # One batch repeated: the host does no work, so the step alone is timed.
    ds = tf.data.Dataset.from_tensors(images).repeat().prefetch(2)

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_train_batch_end(self, step, logs=None):
            float(logs["loss"])  # waits for the step's result
            self.ends.append(time.perf_counter())

        def on_train_begin(self, logs=None):
            self.ends.append(time.perf_counter())

    timer = StepTimer()
    warmup = options.WARMUP.value
    model.fit(ds, steps_per_epoch=warmup + options.STEPS.value, epochs=1, verbose=0,
              callbacks=[timer])
    times = [b - a for a, b in zip(timer.ends[:-1], timer.ends[1:])][warmup:]
    out.update(step_stats(times, batch))
    out["peak_rss_mb"] = peak_rss_mb()
    tensors = tensor_peak_mb()
    if tensors:  # absent where the allocator keeps or counts nothing
        out["tensor_peak_mb"] = tensors
    if options.FLOOR.value:
        if options.REPLICAS.value != 1:
            raise ValueError("--floor is measured on a single device: use it with --replicas=1.")
        out.update(encoder_floor(model, batch, size, out["step_s_median"]))
    return out


def encoder_floor(model, batch, size, step_s):
    """Times the encoder's forward + backward pass on 2 x batch ready views (no augmentation,
    head, loss or optimiser) and derives what the rest of the step costs."""
    views = tf.random.uniform([2 * batch, size, size, 3])
    encoder = model.encoder
    variables = encoder.trainable_variables

    @tf.function(jit_compile=options.JIT.value)
    def forward_backward(views):
        with tf.GradientTape() as tape:
            features = encoder(views, training=True)
            loss = tf.reduce_sum(tf.cast(features, tf.float32))
        grads = tape.gradient(loss, variables)
        return tf.add_n([tf.reduce_sum(tf.cast(g, tf.float32)) for g in grads])

    times = time_calls(lambda: forward_backward(views).numpy(), options.STEPS.value,
                       options.WARMUP.value)
    floor = statistics.median(times)
    flops = forward_flops(encoder, size)
    # Training costs about 3 forward passes (forward, gradient w.r.t. activations and weights),
    # for two views of every image.
    train_flops_per_image = 3 * 2 * flops
    return dict(
        encoder_step_s_median=round(floor, 6),
        encoder_images_per_s=round(batch / floor, 2),
        overhead_fraction=round(step_s / floor - 1.0, 4),
        encoder_forward_gflops_per_view=round(flops / 1e9, 6),
        train_gflops_per_image=round(train_flops_per_image / 1e9, 6),
        achieved_gflops_per_s=round(train_flops_per_image * batch / step_s / 1e9, 1),
        encoder_achieved_gflops_per_s=round(train_flops_per_image * batch / floor / 1e9, 1),
        matmul_peak_gflops_per_s=matmul_peak_gflops(),
    )
