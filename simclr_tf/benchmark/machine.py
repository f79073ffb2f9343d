"""What every mode measures with: the machine, peak memory, CPU time, timed calls, FLOPs."""

import os
import platform
import resource
import statistics
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2


def peak_rss_mb():
    """Peak resident memory of this process in MiB (Linux reports ru_maxrss in KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / (1024 * 1024) if sys.platform == "darwin" else kib / 1024, 1)


def tensor_peak_mb():
    """Peak bytes in tensors of TensorFlow's CPU allocator, in MiB: None where it keeps no
    statistics (`TF_ENABLE_ONEDNN_OPTS=0`), 0 where it counts nothing
    (`TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1`). It lies below `peak_rss_mb` by the runtime (about
    0.6 GB with the model) and by what the allocator's pool holds beyond its live tensors: see
    docs/benchmark.md, "The plain step's memory, taken apart"."""
    try:
        peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    except ValueError:  # "Allocator stats not available"
        return None
    return round(peak / 2**20, 1)


def process_cpu_s():
    """CPU seconds (user + system) used so far by this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def host_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def machine():
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return dict(cpu=cpu, host_cores=host_cores(), gpus=gpus, tensorflow=tf.__version__,
                keras=keras.__version__, python=platform.python_version())


def step_stats(times, images_per_step):
    if not times:
        raise ValueError("No timed steps: --steps must be at least 1.")
    median = statistics.median(times)
    return dict(images_per_s=round(images_per_step / median, 2),
                step_s_median=round(median, 6), step_s_min=round(min(times), 6),
                step_s_max=round(max(times), 6), steps=len(times))


def time_calls(fn, steps, warmup):
    """Seconds per call of `fn` (which must block until its result is ready)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def synthetic_images(batch, size, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)


def forward_flops(model, image_size):
    """FLOPs (multiply and add counted separately) of one forward pass of `model` on one image,
    from TensorFlow's graph profiler on the frozen inference graph."""
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, image_size, image_size, 3], tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=frozen.graph, options=opts)
    return int(profile.total_float_ops)


def matmul_peak_gflops(n=2048, repeats=10):
    """Best float32 matmul throughput of this device (GFLOP/s), the practical compute ceiling."""
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    times = time_calls(lambda: matmul(a, b).numpy(), repeats, 2)
    return round(2 * n**3 / min(times) / 1e9, 1)
