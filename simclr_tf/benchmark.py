"""Speed and memory benchmark: `python -m simclr_tf.benchmark`.

Prints one JSON line per measurement (and a closing `summary` line for a suite):

    python -m simclr_tf.benchmark                          # the default suite (about 30 min on 2 CPU cores)
    python -m simclr_tf.benchmark --suite=quick            # the 32 px measurements only (about 15 min)
    python -m simclr_tf.benchmark --mode=train --preset=r18_cifar --batch_size=128 --jit
    python -m simclr_tf.benchmark --mode=input --image_size=224 --output=bench.jsonl

Modes:
- `train`: the full `SimCLR.train_step` (two augmentations + encoder + head + NT-Xent + LARS)
  through `fit`, on synthetic in-memory uint8 images; the first `--warmup` steps (tracing,
  compilation) are dropped and the median, min and max of `--steps` steps are reported. With
  `--floor` (single device) it also times the encoder's forward and backward pass alone on
  ready-made views (the convolutions every implementation pays), reports the rest of the step as
  `overhead_fraction`, the encoder's FLOPs and the achieved GFLOP/s next to a measured float32
  matmul peak. `--micro_batch_size=M` times the exact chunked step (`SimCLR(micro_batch_size=M)`,
  gradient caching) instead of the plain one.
- `input`: the host pipeline alone on JPEG files written to a temporary folder (photo-like
  500 x 375 images by default): this package's (`simclr_tf.data.from_directory`: decode into a
  canvas at native resolution + batch; cropping and augmentation run on the device) against a
  reference-style per-example pipeline (decode + two views of random crop, bicubic resize,
  flip, colour jitter and grayscale on the host, as google-research/simclr's tf2 `data.py`
  does), the same decode (padded into the canvas as it is batched) without the bad-file
  bookkeeping of `from_directory` (`bare`), the former host path (`square`: decode + the centred square resized to the view
  size, `canvas_size=0`), and a decode-only floor (decode, centre crop, batch: what no pipeline
  that decodes every JPEG can beat). `bytes_per_image` is what one image costs on the device. All are timed in turn
  for `--rounds` rounds, each a fresh iterator reading `--passes` passes after one untimed
  pass; rates are the medians over rounds and speed-ups the medians of the per-round ratios, as
  this machine's speed drifts between minutes. Images/s overall and per host core, and images
  per CPU-second of the process (`images_per_cpu_s`, `cpu_speedup_vs_reference_style`): on a
  machine shared with other processes the wall clock also measures their share of the cores.
- `augment`: `SimCLRAugment` alone (two views of a batch, as in the train step) on the device,
  the random resized crop alone, and the Gaussian blur alone. `--canvas_size=C` feeds a canvas
  of C x C holding 500 x 375 and 375 x 500 images in turn (what `from_directory` yields for
  ImageNet-like photos) instead of a batch of `image_size` squares.

`images_per_s` always counts original images (each one trains two views). `peak_rss_mb` is the
process's peak resident memory; a suite runs every measurement in a fresh process, so it is the
peak of that measurement alone. `train` also reports `tensor_peak_mb`, the peak of the bytes
held in tensors (TensorFlow's allocator statistics), which the runtime and the allocator's pool
put below the RSS. `--replicas=2` splits the CPU into two logical devices under
`MirroredStrategy`, the same global batch shared by two replicas. The logical devices share the
same cores, so by default (`--inter_op_threads=-1`) a multi-replica run executes one op at a time
(each op still uses every core): two replicas' ops running at once would fight over the cores
and caches, a cost that separate accelerators do not have, and it would hide what the benchmark
is after, the cost of the all-gather and the synchronized batch norm. `--inter_op_threads=0`
measures that contention too (TensorFlow's default).
"""

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

# name: (encoder settings, image size, batch, augmentation preset, temperature, head layers)
PRESETS = {
    # The reference README's CIFAR-10 command (tf_configs/cifar10_r18.py).
    "r18_cifar": dict(depth=18, width_multiplier=1, cifar_stem=True, image_size=32, batch_size=256,
                      augment="cifar", temperature=0.5, head_layers=2),
    # ImageNet-style ResNet-50 at 224 px; a small batch, as a CPU can afford.
    "r50_224": dict(depth=50, width_multiplier=1, cifar_stem=False, image_size=224, batch_size=16,
                    augment="imagenet", temperature=0.1, head_layers=3),
    # A cell of `python -m simclr_tf.study --budget=small` (simclr_tf/study/budgets.py).
    "study_small": dict(depth=18, width_multiplier=0.125, cifar_stem=True, image_size=28,
                        batch_size=128, augment="study", temperature=0.2, head_layers=2),
    # A seconds-long smoke setting (tests).
    "tiny": dict(depth=18, width_multiplier=0.125, cifar_stem=True, image_size=16, batch_size=16,
                 augment="cifar", temperature=0.5, head_layers=2),
}

# The default suite: (label, arguments). Each runs in its own process.
SUITES = {
    "quick": [
        ("train r18_cifar b256", ["--mode=train", "--preset=r18_cifar", "--floor"]),
        ("train r18_cifar b256 jit", ["--mode=train", "--preset=r18_cifar", "--jit"]),
        ("train r18_cifar b256 bf16", ["--mode=train", "--preset=r18_cifar",
                                       "--precision=mixed_bfloat16"]),
        ("train r18_cifar b256 2 replicas", ["--mode=train", "--preset=r18_cifar", "--replicas=2"]),
        ("train r18_cifar b256 2 replicas concurrent", ["--mode=train", "--preset=r18_cifar",
                                                        "--replicas=2", "--inter_op_threads=0"]),
        ("train r18_cifar b128", ["--mode=train", "--preset=r18_cifar", "--batch_size=128"]),
        ("train r18_cifar b64", ["--mode=train", "--preset=r18_cifar", "--batch_size=64"]),
        ("augment 32 px b256", ["--mode=augment", "--preset=r18_cifar"]),
    ],
}
SUITES["default"] = SUITES["quick"] + [
    ("input 224 px", ["--mode=input", "--image_size=224"]),
    ("augment 224 px b64", ["--mode=augment", "--preset=r50_224", "--batch_size=64"]),
    ("augment 224 px b64 jit", ["--mode=augment", "--preset=r50_224", "--batch_size=64", "--jit"]),
    ("train r50_224 b16", ["--mode=train", "--preset=r50_224", "--floor"]),
    ("train r50_224 b64", ["--mode=train", "--preset=r50_224", "--batch_size=64"]),
    # Gradient caching: batch 1,024 in chunks of 128 (compare with "train r18_cifar b128").
    ("train r18_cifar b1024 micro 128", ["--mode=train", "--preset=r18_cifar", "--batch_size=1024",
                                         "--micro_batch_size=128", "--steps=2", "--warmup=1"]),
]
SUITES["smoke"] = [  # for tests: every mode at toy sizes
    ("train tiny", ["--mode=train", "--preset=tiny", "--steps=3", "--warmup=1", "--floor"]),
    ("augment tiny", ["--mode=augment", "--preset=tiny", "--steps=3", "--warmup=1"]),
    ("input tiny", ["--mode=input", "--image_size=32", "--num_files=24", "--input_batch=8",
                    "--source_size=60x45", "--passes=2", "--rounds=2"]),
]

_MODE = flags.DEFINE_enum("mode", None, ["train", "input", "augment"], "One measurement.")
_SUITE = flags.DEFINE_enum("suite", None, sorted(SUITES), "A list of measurements (default: "
                           "'default' when --mode is not given).")
_PRESET = flags.DEFINE_enum("preset", "r18_cifar", sorted(PRESETS), "Encoder/image/batch preset.")
_BATCH = flags.DEFINE_integer("batch_size", None, "Global batch of original images (overrides the preset).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Image side (overrides the preset).")
_STEPS = flags.DEFINE_integer("steps", 8, "Timed steps (the median is reported).")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed first steps (tracing and compilation).")
_REPLICAS = flags.DEFINE_integer("replicas", 1, "1: the default device; >1: logical CPUs under MirroredStrategy.")
_INTER_OP = flags.DEFINE_integer(
    "inter_op_threads", -1, "TensorFlow's inter-op threads: -1 = 1 with --replicas > 1 (the "
    "logical devices share the cores), else TensorFlow's default; 0 = TensorFlow's default.")
_PRECISION = flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                               "Keras dtype policy.")
_JIT = flags.DEFINE_boolean("jit", False, "Compile the step with XLA (jit_compile=True).")
_MICRO = flags.DEFINE_integer(
    "micro_batch_size", 0, "train: 0 = the plain step; M > 0 = the exact gradient in chunks of M "
    "images per replica (SimCLR's `micro_batch_size`, gradient caching).")
_FLOOR = flags.DEFINE_boolean("floor", False, "train: also time the encoder alone, FLOPs and the matmul peak.")
_NUM_FILES = flags.DEFINE_integer(
    "num_files", 1024, "input: number of JPEG files (enough that a pass's start and end, where "
    "fewer decodes run at once, weigh little, as in a real dataset).")
_SOURCE_SIZE = flags.DEFINE_string("source_size", "500x375", "input: WIDTHxHEIGHT of the JPEG files.")
_INPUT_BATCH = flags.DEFINE_integer("input_batch", 64, "input: batch size of both pipelines.")
_PASSES = flags.DEFINE_integer("passes", 2, "input: timed passes over the files per round, per pipeline.")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "input: rounds; each times every pipeline once, in turn.")
_CANVAS = flags.DEFINE_integer(
    "canvas_size", 0, "augment: 0 feeds image_size squares; C > 0 a C x C canvas of 500 x 375 and "
    "375 x 500 images.")
_OUTPUT = flags.DEFINE_string("output", None, "Also append the JSON lines to this file.")


# --- helpers ---------------------------------------------------------------------------------

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
    import tensorflow as tf

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
    import keras
    import tensorflow as tf

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
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)


def forward_flops(model, image_size):
    """FLOPs (multiply and add counted separately) of one forward pass of `model` on one image,
    from TensorFlow's graph profiler on the frozen inference graph."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, image_size, image_size, 3], tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=frozen.graph, options=opts)
    return int(profile.total_float_ops)


def matmul_peak_gflops(n=2048, repeats=10):
    """Best float32 matmul throughput of this device (GFLOP/s), the practical compute ceiling."""
    import tensorflow as tf

    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    times = time_calls(lambda: matmul(a, b).numpy(), repeats, 2)
    return round(2 * n**3 / min(times) / 1e9, 1)


def settings(mode):
    preset = dict(PRESETS[_PRESET.value])
    preset["image_size"] = _IMAGE_SIZE.value or preset["image_size"]
    preset["batch_size"] = _BATCH.value or preset["batch_size"]
    if preset["batch_size"] < 2:
        raise ValueError(f"--batch_size must be >= 2 (NT-Xent needs negatives). Received: {preset['batch_size']}")
    if preset["batch_size"] % _REPLICAS.value:
        raise ValueError(f"--batch_size={preset['batch_size']} is not divisible by --replicas={_REPLICAS.value}.")
    encoder = f"resnet{preset['depth']}" + ("_cifar_stem" if preset["cifar_stem"] else "")
    if preset["width_multiplier"] != 1:
        encoder += f"_x{preset['width_multiplier']}"
    return preset, dict(mode=mode, preset=_PRESET.value, encoder=encoder,
                        image_size=preset["image_size"], batch_size=preset["batch_size"],
                        replicas=_REPLICAS.value, inter_op_threads=inter_op_threads(),
                        precision=_PRECISION.value, jit=_JIT.value,
                        **({"micro_batch_size": _MICRO.value} if _MICRO.value else {}))


def inter_op_threads():
    """The inter-op thread setting of this run (0 = TensorFlow's default)."""
    if _INTER_OP.value < -1:
        raise ValueError(f"--inter_op_threads must be -1 (auto), 0 (TensorFlow's default) or a "
                         f"positive count. Received: {_INTER_OP.value}")
    if _INTER_OP.value == -1:
        return 1 if _REPLICAS.value > 1 else 0
    return _INTER_OP.value


def configure_devices(replicas):
    """Before any TF op: split the CPU into `replicas` logical devices; returns the strategy."""
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads())
    if replicas == 1:
        return tf.distribute.get_strategy()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])


def build_augment(preset):
    from simclr_tf.augment.simclr_augment import SimCLRAugment

    if preset["augment"] == "study":  # the small study budget: s = 1.0, no blur
        return SimCLRAugment(image_size=preset["image_size"], blur=False, seed=0)
    make = SimCLRAugment.imagenet if preset["augment"] == "imagenet" else SimCLRAugment.cifar
    return make(image_size=preset["image_size"], seed=0)


# --- train -----------------------------------------------------------------------------------

def measure_train():
    import keras
    import tensorflow as tf

    import simclr_tf

    preset, out = settings("train")
    strategy = configure_devices(_REPLICAS.value)
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy(_PRECISION.value)
    batch, size = preset["batch_size"], preset["image_size"]
    with strategy.scope():
        model = simclr_tf.SimCLR(
            encoder=simclr_tf.ResNet(depth=preset["depth"], width_multiplier=preset["width_multiplier"],
                                     cifar_stem=preset["cifar_stem"], input_shape=(size, size, 3)),
            projection_head=simclr_tf.ProjectionHead(num_layers=preset["head_layers"]),
            augment=build_augment(preset),
            temperature=preset["temperature"],
            micro_batch_size=_MICRO.value,
        )
        model.compile(optimizer=simclr_tf.LARS(learning_rate=0.3, weight_decay=1e-6),
                      jit_compile=_JIT.value)
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
    model.fit(ds, steps_per_epoch=_WARMUP.value + _STEPS.value, epochs=1, verbose=0, callbacks=[timer])
    times = [b - a for a, b in zip(timer.ends[:-1], timer.ends[1:])][_WARMUP.value:]
    out.update(step_stats(times, batch))
    out["peak_rss_mb"] = peak_rss_mb()
    tensors = tensor_peak_mb()
    if tensors:  # absent where the allocator keeps or counts nothing
        out["tensor_peak_mb"] = tensors
    if _FLOOR.value:
        if _REPLICAS.value != 1:
            raise ValueError("--floor is measured on a single device: use it with --replicas=1.")
        out.update(encoder_floor(model, batch, size, out["step_s_median"]))
    return out


def encoder_floor(model, batch, size, step_s):
    """Times the encoder's forward + backward pass on 2 x batch ready views (no augmentation,
    head, loss or optimiser) and derives what the rest of the step costs."""
    import tensorflow as tf

    views = tf.random.uniform([2 * batch, size, size, 3])
    encoder = model.encoder
    variables = encoder.trainable_variables

    @tf.function(jit_compile=_JIT.value)
    def forward_backward(views):
        with tf.GradientTape() as tape:
            features = encoder(views, training=True)
            loss = tf.reduce_sum(tf.cast(features, tf.float32))
        grads = tape.gradient(loss, variables)
        return tf.add_n([tf.reduce_sum(tf.cast(g, tf.float32)) for g in grads])

    times = time_calls(lambda: forward_backward(views).numpy(), _STEPS.value, _WARMUP.value)
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


# --- augment ---------------------------------------------------------------------------------

def measure_augment():
    import keras
    import tensorflow as tf

    from simclr_tf.augment.gaussian_blur import RandomGaussianBlur

    preset, out = settings("augment")
    if _REPLICAS.value != 1:
        raise ValueError("--mode=augment runs on one device: use --replicas=1.")
    configure_devices(1)
    keras.mixed_precision.set_global_policy(_PRECISION.value)
    import numpy as np

    from simclr_tf.augment.random_resized_crop import RandomResizedCrop

    batch, size = preset["batch_size"], preset["image_size"]
    augment = build_augment(preset)
    crop = RandomResizedCrop(size, seed=0)
    if _CANVAS.value:
        canvas = _CANVAS.value
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

    @tf.function(jit_compile=_JIT.value)
    def two_views(inputs):
        # As in the train step: two independent calls on the same batch.
        v1 = augment(inputs, training=True)
        v2 = augment(inputs, training=True)
        return tf.reduce_sum(v1[:, 0, 0]) + tf.reduce_sum(v2[:, 0, 0])

    @tf.function(jit_compile=_JIT.value)
    def two_crops(inputs):
        return tf.reduce_sum(crop(inputs)[:, 0, 0]) + tf.reduce_sum(crop(inputs)[:, 0, 0])

    times = time_calls(lambda: two_views(inputs).numpy(), _STEPS.value, _WARMUP.value)
    out.update(step_stats(times, batch))
    crop_times = time_calls(lambda: two_crops(inputs).numpy(), _STEPS.value, _WARMUP.value)
    out["crop_two_views_s_median"] = round(statistics.median(crop_times), 6)
    out["blur"] = bool(augment.blur)
    blur = RandomGaussianBlur(probability=1.0, seed=0)
    floats = tf.cast(synthetic_images(batch, size), tf.float32) / 255.0

    @tf.function(jit_compile=_JIT.value)
    def blur_two_views(x):
        return tf.reduce_sum(blur(x, training=True)[:, 0, 0]) + tf.reduce_sum(blur(x, training=True)[:, 0, 0])

    blur_times = time_calls(lambda: blur_two_views(floats).numpy(), _STEPS.value, _WARMUP.value)
    out["blur_every_image_s_median"] = round(statistics.median(blur_times), 6)
    out["blur_kernel_taps"] = 2 * ((size // 10) // 2) + 1
    out["peak_rss_mb"] = peak_rss_mb()
    return out


# --- input -----------------------------------------------------------------------------------

def write_photo_like_jpegs(folder, count, width, height, seed=0):
    """JPEGs with a photo's statistics: smooth shapes and gradients plus fine noise, so they
    compress (and decode) like photographs rather than like white noise."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    for i in range(count):
        coarse = rng.uniform(0, 255, (max(2, height // 40), max(2, width // 40), 3)).astype(np.float32)
        smooth = tf.image.resize(coarse[None], [height, width], method="bicubic")[0].numpy()
        image = np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8)
        data = tf.io.encode_jpeg(image, quality=90).numpy()
        with open(os.path.join(folder, f"img_{i:05d}.jpg"), "wb") as f:
            f.write(data)


def reference_style_view(image, size, strength=1.0):
    """One view as the reference's host-side per-example pipeline makes it (google-research/simclr
    tf2 `data_util.preprocess_image` with `preprocess_for_train`, mapped over single decoded
    uint8 images): the whole image converted to float, Inception-style random crop, bicubic
    resize, flip, colour jitter in random order with its multiplicative ("simclrv2") brightness
    (p = 0.8), grayscale (p = 0.2). Float32 in [0, 1]."""
    import tensorflow as tf

    image = tf.image.convert_image_dtype(image, tf.float32)
    box = tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4])
    begin, crop, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=box, min_object_covered=0.1,
        aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=100,
        use_image_if_no_bounding_boxes=True)
    image = tf.slice(image, begin, crop)
    image = tf.image.resize(image, [size, size], method="bicubic")
    image = tf.image.random_flip_left_right(image)

    def brightness(x):
        delta = 0.8 * strength
        return x * tf.random.uniform([], max(1.0 - delta, 0.0), 1.0 + delta)

    def jitter(x):
        ops = [
            brightness,
            lambda x: tf.image.random_contrast(x, 1 - 0.8 * strength, 1 + 0.8 * strength),
            lambda x: tf.image.random_saturation(x, 1 - 0.8 * strength, 1 + 0.8 * strength),
            lambda x: tf.image.random_hue(x, 0.2 * strength),
        ]
        order = tf.random.shuffle(tf.range(4))
        for i in range(4):
            x = tf.switch_case(order[i], [lambda op=op, x=x: op(x) for op in ops])
            x = tf.clip_by_value(x, 0.0, 1.0)
        return x

    def gray(x):
        return tf.tile(tf.image.rgb_to_grayscale(x), [1, 1, 3])

    image = tf.cond(tf.random.uniform([]) < 0.8, lambda: jitter(image), lambda: image)
    image = tf.cond(tf.random.uniform([]) < 0.2, lambda: gray(image), lambda: image)
    return tf.ensure_shape(tf.clip_by_value(image, 0.0, 1.0), [size, size, 3])


def reference_style_dataset(folder, size, batch):
    import tensorflow as tf

    def load(path):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        # Two views stacked on channels, as the reference's map_fn.
        return tf.concat([reference_style_view(image, size), reference_style_view(image, size)], -1)

    # The reference's training options: non-deterministic order and slack.
    options = tf.data.Options()
    options.deterministic = False
    options.experimental_slack = True
    return map_jpeg_files(folder, load, batch, options)


def map_jpeg_files(folder, load, batch, options=None, padded_shapes=None):
    """The folder's JPEG paths, `load` mapped over them in parallel, batched (padded to
    `padded_shapes` when given), prefetched."""
    import tensorflow as tf

    files = tf.data.Dataset.list_files(os.path.join(folder, "*.jpg"), shuffle=False)
    if options is not None:
        files = files.with_options(options)
    ds = files.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if padded_shapes is None:
        ds = ds.batch(batch)
    else:
        ds = ds.padded_batch(batch, padded_shapes=padded_shapes)
    return ds.prefetch(tf.data.AUTOTUNE)


def decode_only_dataset(folder, size, batch):
    """The floor of any host pipeline that decodes every JPEG: decode, centre crop (or pad) to
    size x size, batch; no resize."""
    import tensorflow as tf

    def load(path):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        return tf.image.resize_with_crop_or_pad(image, size, size)

    return map_jpeg_files(folder, load, batch)


def bare_dataset(folder, size, batch):
    """This package's per-image work without its bad-file bookkeeping: decode at native
    resolution (`decode_native`), one parallel map, then padded into the canvas as it is
    batched (`padded_batch`), as `from_directory` does."""
    import tensorflow as tf

    from simclr_tf.data.common import decode_native, default_canvas_size, with_size
    from simclr_tf.data.directory import decode_image

    canvas = default_canvas_size(size)

    def load(path):
        encoded = tf.io.read_file(path)
        return with_size(decode_native(encoded, 3, canvas, lambda e: decode_image(e, 3)))

    shapes = {"image": [canvas, canvas, 3], "image_size": [2]}
    return map_jpeg_files(folder, load, batch, padded_shapes=shapes)


def time_dataset(ds, batches, skip):
    """Images/s of `batches` batches read from a fresh iterator over `ds` repeated, after
    `skip` untimed batches (tf.data's autotuning restarts with every iterator); also the
    per-batch times. The iterator is released before returning, so nothing keeps decoding in
    the background while the next pipeline is timed."""
    iterator = iter(ds.repeat())
    for _ in range(skip):
        next(iterator)
    batch_times, images = [], 0
    start = last = time.perf_counter()
    for _ in range(batches):
        element = next(iterator)
        x = element[0] if isinstance(element, tuple) else element
        x = x["image"] if isinstance(x, dict) else x
        images += int(x.shape[0])
        now = time.perf_counter()
        batch_times.append(now - last)
        last = now
    del iterator
    return images / (last - start), batch_times


def measure_input():
    from simclr_tf.data.directory import from_directory

    preset, out = settings("input")
    size, batch = preset["image_size"], _INPUT_BATCH.value
    width, height = (int(v) for v in _SOURCE_SIZE.value.lower().split("x"))
    if _NUM_FILES.value < batch:
        raise ValueError(f"--num_files={_NUM_FILES.value} must be at least --input_batch={batch}.")
    if _PASSES.value < 1 or _ROUNDS.value < 1:
        raise ValueError(f"--passes and --rounds must be >= 1. Received: --passes={_PASSES.value}, "
                         f"--rounds={_ROUNDS.value}")
    out.update(batch_size=batch, source_size=f"{width}x{height}", num_files=_NUM_FILES.value,
               rounds=_ROUNDS.value)
    for key in ("replicas", "inter_op_threads", "precision", "jit", "encoder", "preset"):
        out.pop(key)
    cores = host_cores()
    per_pass = _NUM_FILES.value // batch  # from_directory drops the last partial batch
    with tempfile.TemporaryDirectory() as folder:
        write_photo_like_jpegs(folder, _NUM_FILES.value, width, height)
        pipelines = {
            "ours": from_directory(folder, batch, size, labeled=False, shuffle=False),
            "reference_style": reference_style_dataset(folder, size, batch),
            "bare": bare_dataset(folder, size, batch),
            "square": from_directory(folder, batch, size, labeled=False, shuffle=False,
                                     canvas_size=0),
            "decode_only": decode_only_dataset(folder, size, batch),
        }
        # The machine's speed drifts by 10 % and more within minutes, so the pipelines are timed
        # in turn, round after round, and compared round by round.
        rates = {name: [] for name in pipelines}
        cpu_rates = {name: [] for name in pipelines}
        batch_times = []
        for _ in range(_ROUNDS.value):
            for name, ds in pipelines.items():
                cpu_start = process_cpu_s()
                rate, times = time_dataset(ds, _PASSES.value * per_pass, skip=per_pass)
                rates[name].append(rate)
                # Images per CPU-second of this process, the untimed pass included: on a
                # shared machine the wall clock also measures the other processes' share.
                images = (_PASSES.value + 1) * per_pass * batch
                cpu_rates[name].append(images / max(process_cpu_s() - cpu_start, 1e-9))
                if name == "ours":
                    batch_times += times

    def ratio(name, by=rates):
        return statistics.median(a / b for a, b in zip(by[name], by["reference_style"]))

    rate, reference_rate = statistics.median(rates["ours"]), statistics.median(rates["reference_style"])
    decode_rate = statistics.median(rates["decode_only"])
    bare_rate = statistics.median(rates["bare"])
    square_rate = statistics.median(rates["square"])
    from simclr_tf.data.common import default_canvas_size

    canvas = default_canvas_size(size)
    median = statistics.median(batch_times)
    out.update(
        images_per_s=round(rate, 2), images_per_s_per_core=round(rate / cores, 2),
        step_s_median=round(median, 6), step_s_min=round(min(batch_times), 6),
        step_s_max=round(max(batch_times), 6), steps=len(batch_times),
        reference_style_images_per_s=round(reference_rate, 2),
        reference_style_images_per_s_per_core=round(reference_rate / cores, 2),
        bare_images_per_s=round(bare_rate, 2),
        square_images_per_s=round(square_rate, 2),
        square_speedup_vs_reference_style=round(ratio("square"), 2),
        canvas_size=canvas, bytes_per_image=canvas * canvas * 3 + 8,
        square_bytes_per_image=size * size * 3,
        decode_only_images_per_s=round(decode_rate, 2),
        decode_only_images_per_s_per_core=round(decode_rate / cores, 2),
        speedup_vs_reference_style=round(ratio("ours"), 2),
        bare_speedup_vs_reference_style=round(ratio("bare"), 2),
        decode_only_speedup_vs_reference_style=round(ratio("decode_only"), 2),
        images_per_s_by_round={name: [round(r, 1) for r in values] for name, values in rates.items()},
        images_per_cpu_s={name: round(statistics.median(v), 1) for name, v in cpu_rates.items()},
        cpu_speedup_vs_reference_style={n: round(ratio(n, cpu_rates), 2) for n in cpu_rates},
        images_per_cpu_s_by_round={name: [round(r, 1) for r in v] for name, v in cpu_rates.items()},
        host_cores=cores, peak_rss_mb=peak_rss_mb(),
    )
    return out


# --- suites ----------------------------------------------------------------------------------

def run_suite(name, emit):
    """Runs each measurement of a suite in a fresh process (clean peak memory, its own device
    configuration); returns the lines and a summary of the derived figures."""
    results = {}
    for label, args in SUITES[name]:
        cmd = [sys.executable, "-m", "simclr_tf.benchmark", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode or not lines:
            tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-15:])
            raise RuntimeError(f"Benchmark {label!r} failed (exit {proc.returncode}):\n{tail}")
        result = json.loads(lines[-1])
        result["name"] = label
        results[label] = result
        emit(result)
    summary = dict(name="summary", suite=name, **derived(results), machine=machine())
    emit(summary)
    return results, summary


def derived(results):
    """Ratios between measurements of a suite, where both were measured."""
    out = {}

    def step(label):
        return results[label]["step_s_median"] if label in results else None

    base = step("train r18_cifar b256")
    pairs = {
        "jit_speedup": "train r18_cifar b256 jit",
        "bf16_speedup": "train r18_cifar b256 bf16",
        "two_replica_cost_ratio": "train r18_cifar b256 2 replicas",
        "two_replica_concurrent_cost_ratio": "train r18_cifar b256 2 replicas concurrent",
    }
    for key, label in pairs.items():
        other = step(label)
        if base and other:
            out[key] = round(other / base if key.startswith("two_replica") else base / other, 3)
    if base:
        out["r18_overhead_fraction"] = results["train r18_cifar b256"].get("overhead_fraction")
    if step("augment 224 px b64") and step("train r50_224 b64"):
        out["augment_fraction_of_r50_step_b64"] = round(
            step("augment 224 px b64") / step("train r50_224 b64"), 4)
    if "input 224 px" in results:
        for key in ("speedup_vs_reference_style", "bare_speedup_vs_reference_style",
                    "decode_only_speedup_vs_reference_style"):
            out[f"input_{key}"] = results["input 224 px"][key]
    memory = {r["batch_size"]: r["peak_rss_mb"] for label, r in results.items()
              if label.startswith("train r18_cifar b") and " " not in label[len("train r18_cifar "):]}
    if memory:
        out["r18_peak_rss_mb_by_batch"] = dict(sorted(memory.items()))
    return out


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if _MODE.value and _SUITE.value:
        raise app.UsageError("Give --mode (one measurement) or --suite (a list), not both.")

    def emit(result):
        line = json.dumps(result)
        print(line, flush=True)
        if _OUTPUT.value:
            with open(_OUTPUT.value, "a") as f:
                f.write(line + "\n")

    if _MODE.value:
        measure = {"train": measure_train, "input": measure_input, "augment": measure_augment}
        result = measure[_MODE.value]()
        result = {"name": f"{_MODE.value} {result.get('preset', '')}".strip(), **result}
        emit(result)
    else:
        run_suite(_SUITE.value or "default", emit)


if __name__ == "__main__":
    app.run(main)
