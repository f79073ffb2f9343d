"""`--mode=input`: the host pipelines on photo-like JPEG files, timed in turn, round by round."""

import os
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf

from simclr_tf.benchmark import options
from simclr_tf.benchmark.machine import host_cores, peak_rss_mb, process_cpu_s
from simclr_tf.benchmark.reference_pipeline import (
    bare_dataset,
    decode_only_dataset,
    reference_style_dataset,
)
from simclr_tf.data import default_canvas_size, from_directory


def write_photo_like_jpegs(folder, count, width, height, seed=0):
    """JPEGs with a photo's statistics: smooth shapes and gradients plus fine noise, so they
    compress (and decode) like photographs rather than like white noise."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        coarse = rng.uniform(0, 255, (max(2, height // 40), max(2, width // 40), 3)).astype(np.float32)
        smooth = tf.image.resize(coarse[None], [height, width], method="bicubic")[0].numpy()
        image = np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8)
        data = tf.io.encode_jpeg(image, quality=90).numpy()
        with open(os.path.join(folder, f"img_{i:05d}.jpg"), "wb") as f:
            f.write(data)


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
    preset, out = options.settings("input")
    size, batch = preset["image_size"], options.INPUT_BATCH.value
    num_files, passes, rounds = options.NUM_FILES.value, options.PASSES.value, options.ROUNDS.value
    width, height = (int(v) for v in options.SOURCE_SIZE.value.lower().split("x"))
    if num_files < batch:
        raise ValueError(f"--num_files={num_files} must be at least --input_batch={batch}.")
    if passes < 1 or rounds < 1:
        raise ValueError(f"--passes and --rounds must be >= 1. Received: --passes={passes}, "
                         f"--rounds={rounds}")
    out.update(batch_size=batch, source_size=f"{width}x{height}", num_files=num_files,
               rounds=rounds)
    for key in ("replicas", "inter_op_threads", "precision", "jit", "encoder", "preset"):
        out.pop(key)
    cores = host_cores()
    per_pass = num_files // batch  # from_directory drops the last partial batch
    with tempfile.TemporaryDirectory() as folder:
        write_photo_like_jpegs(folder, num_files, width, height)
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
        for _ in range(rounds):
            for name, ds in pipelines.items():
                cpu_start = process_cpu_s()
                rate, times = time_dataset(ds, passes * per_pass, skip=per_pass)
                rates[name].append(rate)
                # Images per CPU-second of this process, the untimed pass included: on a
                # shared machine the wall clock also measures the other processes' share.
                images = (passes + 1) * per_pass * batch
                cpu_rates[name].append(images / max(process_cpu_s() - cpu_start, 1e-9))
                if name == "ours":
                    batch_times += times

    def ratio(name, by=rates):
        return statistics.median(a / b for a, b in zip(by[name], by["reference_style"]))

    rate, reference_rate = statistics.median(rates["ours"]), statistics.median(rates["reference_style"])
    decode_rate = statistics.median(rates["decode_only"])
    bare_rate = statistics.median(rates["bare"])
    square_rate = statistics.median(rates["square"])
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
