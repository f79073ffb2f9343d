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

from absl import app, flags

from simclr_tf.benchmark import options
from simclr_tf.benchmark.augment import measure_augment
from simclr_tf.benchmark.input import measure_input
from simclr_tf.benchmark.suites import run_suite
from simclr_tf.benchmark.train import measure_train

# The flags live in options.py; --helpshort lists them as this command's own.
flags.adopt_module_key_flags(options)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if options.MODE.value and options.SUITE.value:
        raise app.UsageError("Give --mode (one measurement) or --suite (a list), not both.")

    def emit(result):
        line = json.dumps(result)
        print(line, flush=True)
        if options.OUTPUT.value:
            with open(options.OUTPUT.value, "a") as f:
                f.write(line + "\n")

    if options.MODE.value:
        measure = {"train": measure_train, "input": measure_input, "augment": measure_augment}
        result = measure[options.MODE.value]()
        result = {"name": f"{options.MODE.value} {result.get('preset', '')}".strip(), **result}
        emit(result)
    else:
        run_suite(options.SUITE.value or "default", emit)


if __name__ == "__main__":
    app.run(main)
