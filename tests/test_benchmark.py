"""The benchmark command: its measurements at toy sizes, FLOP counting, the reference-style
input pipeline and its errors. (Speed goals are read off the benchmark's output, never asserted
here: timings on a shared CI machine say nothing.)"""

import json
import os
import resource
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.benchmark import input as benchmark_input
from simclr_tf.benchmark import machine, reference_pipeline, suites

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_benchmark(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "simclr_tf.benchmark", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_forward_flops_counts_multiplies_and_adds():
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, padding="same", use_bias=False),
        keras.layers.Flatten(),
        keras.layers.Dense(10, use_bias=False),
    ])
    # 2 FLOPs per multiply-add: conv 8*8 outputs x 3*3*3 taps x 4 filters; dense 256 x 10.
    assert machine.forward_flops(model, 8) == 2 * 8 * 8 * 27 * 4 + 2 * 256 * 10


@pytest.mark.large
def test_resnet50_flops_match_the_published_figure():
    import simclr_tf

    encoder = simclr_tf.ResNet(depth=50, input_shape=(224, 224, 3))
    # ResNet-50 at 224 px: 4.1 G multiply-adds (He et al. 2016, Table 1: 3.8 G for the
    # stride-in-1x1 variant; the stride-in-3x3 variant SimCLR uses costs ~4.1 G).
    assert machine.forward_flops(encoder, 224) / 2 == pytest.approx(4.1e9, rel=0.01)


def test_reference_style_view_is_a_random_view_in_unit_range():
    tf.random.set_seed(0)
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (45, 60, 3), dtype=np.uint8))
    views = [reference_pipeline.reference_style_view(image, 24).numpy() for _ in range(4)]
    for view in views:
        assert view.shape == (24, 24, 3) and view.dtype == np.float32
        assert 0.0 <= view.min() and view.max() <= 1.0
    assert max(np.abs(views[0] - v).max() for v in views[1:]) > 0.1


def test_photo_like_jpegs_decode_to_the_requested_size(tmp_path):
    benchmark_input.write_photo_like_jpegs(str(tmp_path), 3, width=50, height=30)
    files = sorted(tmp_path.iterdir())
    assert len(files) == 3
    image = tf.io.decode_jpeg(files[0].read_bytes()).numpy()
    assert image.shape == (30, 50, 3)
    # Photo-like, not flat: neighbouring pixels correlate, the image varies overall.
    assert image.std() > 10


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_peak_rss_is_the_kernels_high_water_mark():
    with open("/proc/self/status") as f:
        hwm_kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    # The peak only grows, so read after: /proc's figure is a lower bound (the rounding to
    # 0.1 MiB aside), at most a few MiB below.
    peak = machine.peak_rss_mb()
    assert hwm_kib / 1024 - 1 <= peak <= hwm_kib / 1024 + 5, (peak, hwm_kib)


_TENSOR_PEAK = """
import json
import tensorflow as tf
from simclr_tf.benchmark import machine
assert machine.tensor_peak_mb() is not None
tf.config.experimental.reset_memory_stats("CPU:0")
before = tf.config.experimental.get_memory_info("CPU:0")["current"] / 2**20
x = tf.fill([16, 1024, 1024], 1.0)
y = x + 1.0
assert float(tf.reduce_sum(y)) == 2.0 * 16 * 2**20
del x, y  # the peak stays
print(json.dumps({"before": before, "peak": machine.tensor_peak_mb(),
                  "rss": machine.peak_rss_mb()}))
"""


def test_tensor_peak_counts_live_tensors():
    """`tensor_peak_mb` is the allocator's high-water mark of bytes in tensors: two 64 MiB
    tensors alive at once show, and it stays below the process's RSS. Measured in a fresh
    process: in the suite's worker, tensors that earlier tests' background threads (tf.data
    prefetching) allocate after the reset raised the peak (296 MB against the expected 174)."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0" or os.environ.get(
            "TF_ONEDNN_USE_SYSTEM_ALLOCATOR"):
        pytest.skip("these settings turn TensorFlow's CPU allocator statistics off")
    # Anywhere else (the default oneDNN allocator, as in CI) the statistics must exist: a
    # TensorFlow that drops them fails here rather than skipping quietly.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", _TENSOR_PEAK], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["before"] + 128 <= got["peak"] < got["before"] + 130, got
    assert got["peak"] < got["rss"]


# three subprocesses; the default suite checks the figures' arithmetic and a usage error
@pytest.mark.large
def test_smoke_suite_prints_every_mode_as_json():
    proc = run_benchmark("--suite=smoke")
    # The largest child this process has waited for: the benchmark's peak cannot exceed it.
    children_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    by_name = {line["name"]: line for line in lines}
    assert list(by_name) == ["train tiny", "augment tiny", "input tiny", "summary"]

    for name in ("train tiny", "augment tiny", "input tiny"):
        r = by_name[name]
        assert r["step_s_min"] <= r["step_s_median"] <= r["step_s_max"]
    # Each mode runs in a process of its own, under the one this test waited for: every peak is
    # at most the kernel's largest descendant, and of its order (each process holds TensorFlow;
    # measured 620-740 MiB against 834). Wrong units or another process's figure fail.
    peaks = [by_name[name]["peak_rss_mb"] for name in ("train tiny", "augment tiny", "input tiny")]
    assert all(0.25 * children_peak_mb < p <= children_peak_mb + 0.1 for p in peaks), (
        peaks, children_peak_mb)
    for name in ("train tiny", "augment tiny"):
        r = by_name[name]
        assert r["steps"] == 3
        # images/s counts original images per median step (rounding only).
        assert r["images_per_s"] == pytest.approx(16 / r["step_s_median"], rel=0.01)
        assert (r["encoder"], r["image_size"], r["batch_size"], r["replicas"],
                r["inter_op_threads"], r["precision"], r["jit"]) == (
            "resnet18_cifar_stem_x0.125", 16, 16, 1, 0, "float32", False)

    train = by_name["train tiny"]
    # The encoder alone is part of the step; its FLOPs are the profiler's count for the model.
    assert train["encoder_step_s_median"] > 0
    assert train["overhead_fraction"] == pytest.approx(
        train["step_s_median"] / train["encoder_step_s_median"] - 1, abs=0.01)
    assert train["train_gflops_per_image"] == pytest.approx(6 * train["encoder_forward_gflops_per_view"], rel=1e-3)
    assert train["matmul_peak_gflops_per_s"] > 0

    inp = by_name["input tiny"]
    assert inp["num_files"] == 24 and inp["source_size"] == "60x45"
    assert inp["steps"] == 2 * 2 * 3  # 2 rounds of 2 passes of 24 files in batches of 8
    assert inp["images_per_s_per_core"] == pytest.approx(inp["images_per_s"] / inp["host_cores"], rel=0.01)
    # Rates are medians over the rounds; speed-ups the medians of the per-round ratios.
    by_round = inp["images_per_s_by_round"]
    assert sorted(by_round) == ["bare", "decode_only", "ours", "reference_style", "square"]
    assert all(len(rates) == 2 for rates in by_round.values())
    assert inp["images_per_s"] == pytest.approx(np.median(by_round["ours"]), rel=0.01)
    # The canvas (16/7 of the 32 px views, 74) and the former square, in bytes per image.
    assert (inp["canvas_size"], inp["bytes_per_image"], inp["square_bytes_per_image"]) == (
        74, 74 * 74 * 3 + 8, 32 * 32 * 3)
    for name in ("bare", "decode_only", "square"):
        assert inp[f"{name}_images_per_s"] == pytest.approx(np.median(by_round[name]), rel=0.01)
    for name, key in (("ours", "speedup_vs_reference_style"),
                      ("bare", "bare_speedup_vs_reference_style"),
                      ("decode_only", "decode_only_speedup_vs_reference_style"),
                      ("square", "square_speedup_vs_reference_style")):
        ratios = np.array(by_round[name]) / np.array(by_round["reference_style"])
        assert inp[key] == pytest.approx(np.median(ratios), rel=0.02)
    # The same per CPU-second of the process (robust to other processes on a shared machine).
    by_cpu = inp["images_per_cpu_s_by_round"]
    assert sorted(by_cpu) == sorted(by_round) and all(len(v) == 2 for v in by_cpu.values())
    for name in by_cpu:
        assert inp["images_per_cpu_s"][name] == pytest.approx(np.median(by_cpu[name]), rel=0.01)
        ratios = np.array(by_cpu[name]) / np.array(by_cpu["reference_style"])
        speedup = inp["cpu_speedup_vs_reference_style"][name]
        assert speedup == pytest.approx(np.median(ratios), rel=0.02)
    assert by_name["summary"]["machine"]["tensorflow"] == tf.__version__


@pytest.mark.large
def test_two_replicas_train_step_runs():
    proc = run_benchmark("--mode=train", "--preset=tiny", "--replicas=2", "--steps=2", "--warmup=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["steps"] == 2 and result["images_per_s"] > 0
    # The two logical devices share the cores: by default their ops run one at a time.
    assert result["inter_op_threads"] == 1


@pytest.mark.large
def test_micro_batched_train_step_runs():
    proc = run_benchmark("--mode=train", "--preset=tiny", "--micro_batch_size=4", "--steps=1",
                         "--warmup=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["micro_batch_size"] == 4 and result["batch_size"] == 16
    assert result["images_per_s"] > 0 and result["peak_rss_mb"] > 100


_LARGE = pytest.mark.large  # each starts a process (3 s); one stays in the default suite


@pytest.mark.parametrize("args, message", [
    (["--mode=train", "--preset=tiny", "--batch_size=15", "--replicas=2"],
     "--batch_size=15 is not divisible by --replicas=2"),
    pytest.param(["--mode=train", "--preset=tiny", "--batch_size=1"], "--batch_size must be >= 2",
                 marks=_LARGE),
    pytest.param(["--mode=train", "--suite=smoke"], "Give --mode (one measurement) or --suite",
                 marks=_LARGE),
    pytest.param(["--mode=fast"], "--mode", marks=_LARGE),
    pytest.param(["--mode=train", "--preset=tiny", "--inter_op_threads=-2"],
                 "--inter_op_threads must be -1", marks=_LARGE),
    pytest.param(["--mode=input", "--num_files=4", "--input_batch=8"],
                 "--num_files=4 must be at least --input_batch=8", marks=_LARGE),
    pytest.param(["--mode=input", "--num_files=8", "--input_batch=8", "--rounds=0"],
                 "--passes and --rounds must be >= 1", marks=_LARGE),
])
def test_bad_arguments_are_named(args, message):
    proc = run_benchmark(*args)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_derived_figures_compare_the_right_measurements():
    def r(step, **kw):
        return dict(step_s_median=step, **kw)

    results = {
        "train r18_cifar b256": r(8.0, batch_size=256, peak_rss_mb=3000.0, overhead_fraction=0.05),
        "train r18_cifar b256 jit": r(10.0),
        "train r18_cifar b256 bf16": r(4.0),
        "train r18_cifar b256 2 replicas": r(8.4),
        "train r18_cifar b256 2 replicas concurrent": r(10.0),
        "train r18_cifar b128": r(4.0, batch_size=128, peak_rss_mb=1800.0),
        "augment 224 px b64": r(1.0),
        "train r50_224 b64": r(20.0),
        "input 224 px": r(0.1, speedup_vs_reference_style=2.5, bare_speedup_vs_reference_style=2.7,
                          decode_only_speedup_vs_reference_style=4.4),
    }
    out = suites.derived(results)
    assert out == {
        "jit_speedup": 0.8,
        "bf16_speedup": 2.0,
        "two_replica_cost_ratio": 1.05,
        "two_replica_concurrent_cost_ratio": 1.25,
        "r18_overhead_fraction": 0.05,
        "augment_fraction_of_r50_step_b64": 0.05,
        "input_speedup_vs_reference_style": 2.5,
        "input_bare_speedup_vs_reference_style": 2.7,
        "input_decode_only_speedup_vs_reference_style": 4.4,
        "r18_peak_rss_mb_by_batch": {128: 1800.0, 256: 3000.0},
    }
