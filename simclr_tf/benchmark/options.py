"""The command's flags and presets, and the settings every mode starts from."""

from absl import flags
import tensorflow as tf

from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.benchmark.suites import SUITES

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

MODE = flags.DEFINE_enum("mode", None, ["train", "input", "augment"], "One measurement.")
SUITE = flags.DEFINE_enum("suite", None, sorted(SUITES), "A list of measurements (default: "
                          "'default' when --mode is not given).")
PRESET = flags.DEFINE_enum("preset", "r18_cifar", sorted(PRESETS), "Encoder/image/batch preset.")
BATCH = flags.DEFINE_integer("batch_size", None, "Global batch of original images (overrides the preset).")
IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Image side (overrides the preset).")
STEPS = flags.DEFINE_integer("steps", 8, "Timed steps (the median is reported).")
WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed first steps (tracing and compilation).")
REPLICAS = flags.DEFINE_integer("replicas", 1, "1: the default device; >1: logical CPUs under MirroredStrategy.")
INTER_OP = flags.DEFINE_integer(
    "inter_op_threads", -1, "TensorFlow's inter-op threads: -1 = 1 with --replicas > 1 (the "
    "logical devices share the cores), else TensorFlow's default; 0 = TensorFlow's default.")
PRECISION = flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                              "Keras dtype policy.")
JIT = flags.DEFINE_boolean("jit", False, "Compile the step with XLA (jit_compile=True).")
MICRO = flags.DEFINE_integer(
    "micro_batch_size", 0, "train: 0 = the plain step; M > 0 = the exact gradient in chunks of M "
    "images per replica (SimCLR's `micro_batch_size`, gradient caching).")
FLOOR = flags.DEFINE_boolean("floor", False, "train: also time the encoder alone, FLOPs and the matmul peak.")
NUM_FILES = flags.DEFINE_integer(
    "num_files", 1024, "input: number of JPEG files (enough that a pass's start and end, where "
    "fewer decodes run at once, weigh little, as in a real dataset).")
SOURCE_SIZE = flags.DEFINE_string("source_size", "500x375", "input: WIDTHxHEIGHT of the JPEG files.")
INPUT_BATCH = flags.DEFINE_integer("input_batch", 64, "input: batch size of both pipelines.")
PASSES = flags.DEFINE_integer("passes", 2, "input: timed passes over the files per round, per pipeline.")
ROUNDS = flags.DEFINE_integer("rounds", 5, "input: rounds; each times every pipeline once, in turn.")
CANVAS = flags.DEFINE_integer(
    "canvas_size", 0, "augment: 0 feeds image_size squares; C > 0 a C x C canvas of 500 x 375 and "
    "375 x 500 images.")
OUTPUT = flags.DEFINE_string("output", None, "Also append the JSON lines to this file.")


def settings(mode):
    preset = dict(PRESETS[PRESET.value])
    preset["image_size"] = IMAGE_SIZE.value or preset["image_size"]
    preset["batch_size"] = BATCH.value or preset["batch_size"]
    if preset["batch_size"] < 2:
        raise ValueError(f"--batch_size must be >= 2 (NT-Xent needs negatives). Received: {preset['batch_size']}")
    if preset["batch_size"] % REPLICAS.value:
        raise ValueError(f"--batch_size={preset['batch_size']} is not divisible by --replicas={REPLICAS.value}.")
    encoder = f"resnet{preset['depth']}" + ("_cifar_stem" if preset["cifar_stem"] else "")
    if preset["width_multiplier"] != 1:
        encoder += f"_x{preset['width_multiplier']}"
    return preset, dict(mode=mode, preset=PRESET.value, encoder=encoder,
                        image_size=preset["image_size"], batch_size=preset["batch_size"],
                        replicas=REPLICAS.value, inter_op_threads=inter_op_threads(),
                        precision=PRECISION.value, jit=JIT.value,
                        **({"micro_batch_size": MICRO.value} if MICRO.value else {}))


def inter_op_threads():
    """The inter-op thread setting of this run (0 = TensorFlow's default)."""
    if INTER_OP.value < -1:
        raise ValueError(f"--inter_op_threads must be -1 (auto), 0 (TensorFlow's default) or a "
                         f"positive count. Received: {INTER_OP.value}")
    if INTER_OP.value == -1:
        return 1 if REPLICAS.value > 1 else 0
    return INTER_OP.value


def configure_devices(replicas):
    """Before any TF op: split the CPU into `replicas` logical devices; returns the strategy."""
    tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads())
    if replicas == 1:
        return tf.distribute.get_strategy()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])


def build_augment(preset):
    if preset["augment"] == "study":  # the small study budget: s = 1.0, no blur
        return SimCLRAugment(image_size=preset["image_size"], blur=False, seed=0)
    make = SimCLRAugment.imagenet if preset["augment"] == "imagenet" else SimCLRAugment.cifar
    return make(image_size=preset["image_size"], seed=0)
