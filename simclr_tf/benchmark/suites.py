"""The suites: lists of measurements, each run in a fresh process, and the figures derived
from them."""

import json
import subprocess
import sys

from simclr_tf.benchmark.machine import machine

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
