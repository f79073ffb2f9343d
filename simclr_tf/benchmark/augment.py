"""`--mode=augment`: `SimCLRAugment`, the random resized crop and the blur alone, on the device."""

import statistics

import keras
import numpy as np
import tensorflow as tf

from simclr_tf.augment.gaussian_blur import RandomGaussianBlur
from simclr_tf.augment.random_resized_crop import RandomResizedCrop
from simclr_tf.benchmark import options
from simclr_tf.benchmark.machine import peak_rss_mb, step_stats, synthetic_images, time_calls


def measure_augment():
    preset, out = options.settings("augment")
    if options.REPLICAS.value != 1:
        raise ValueError("--mode=augment runs on one device: use --replicas=1.")
    options.configure_devices(1)
    keras.mixed_precision.set_global_policy(options.PRECISION.value)
    batch, size = preset["batch_size"], preset["image_size"]
    steps, warmup = options.STEPS.value, options.WARMUP.value
    augment = options.build_augment(preset)
    crop = RandomResizedCrop(size, seed=0)
    if options.CANVAS.value:
        canvas = options.CANVAS.value
        if canvas < 500:
            raise ValueError(f"--canvas_size must hold 500 x 375 images. Received: {canvas}")
        images = synthetic_images(batch, canvas)
        sizes = np.array([[375, 500], [500, 375]] * (batch // 2) + [[375, 500]] * (batch % 2))
        for b, (h, w) in enumerate(sizes):
            images[b, h:], images[b, :, w:] = 0, 0
        inputs = {"image": tf.constant(images), "image_size": tf.constant(sizes, tf.int32)}
        out.update(canvas_size=canvas, bytes_per_image=canvas * canvas * 3 + 8)
    else:
        inputs = tf.constant(synthetic_images(batch, size))
        out.update(canvas_size=0, bytes_per_image=size * size * 3)

    @tf.function(jit_compile=options.JIT.value)
    def two_views(inputs):
        # As in the train step: two independent calls on the same batch.
        v1 = augment(inputs, training=True)
        v2 = augment(inputs, training=True)
        return tf.reduce_sum(v1[:, 0, 0]) + tf.reduce_sum(v2[:, 0, 0])

    @tf.function(jit_compile=options.JIT.value)
    def two_crops(inputs):
        return tf.reduce_sum(crop(inputs)[:, 0, 0]) + tf.reduce_sum(crop(inputs)[:, 0, 0])

    times = time_calls(lambda: two_views(inputs).numpy(), steps, warmup)
    out.update(step_stats(times, batch))
    crop_times = time_calls(lambda: two_crops(inputs).numpy(), steps, warmup)
    out["crop_two_views_s_median"] = round(statistics.median(crop_times), 6)
    out["blur"] = bool(augment.blur)
    blur = RandomGaussianBlur(probability=1.0, seed=0)
    floats = tf.cast(synthetic_images(batch, size), tf.float32) / 255.0

    @tf.function(jit_compile=options.JIT.value)
    def blur_two_views(x):
        return tf.reduce_sum(blur(x, training=True)[:, 0, 0]) + tf.reduce_sum(blur(x, training=True)[:, 0, 0])

    blur_times = time_calls(lambda: blur_two_views(floats).numpy(), steps, warmup)
    out["blur_every_image_s_median"] = round(statistics.median(blur_times), 6)
    out["blur_kernel_taps"] = 2 * ((size // 10) // 2) + 1
    out["peak_rss_mb"] = peak_rss_mb()
    return out
