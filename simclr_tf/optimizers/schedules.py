"""Learning-rate schedule and scaling of the SimCLR reference (tf2/model.py)."""

import collections
import math

import keras
from keras import ops


def scale_learning_rate(base_learning_rate, batch_size, scaling="linear"):
    """The reference's learning-rate scaling: `base * B / 256` ("linear") or `base * sqrt(B)`.

    `batch_size` is the global batch (all replicas). Examples: `scale_learning_rate(0.3, 4096)`
    is 4.8 (SimCLR v1 on ImageNet); `scale_learning_rate(0.075, 4096, "sqrt")` is 4.8 too
    (SimCLRv2).
    """
    if not batch_size > 0:
        raise ValueError(f"`batch_size` must be > 0. Received: batch_size={batch_size}")
    if scaling == "linear":
        return base_learning_rate * batch_size / 256.0
    if scaling == "sqrt":
        return base_learning_rate * math.sqrt(batch_size)
    raise ValueError(f"`scaling` must be one of ['linear', 'sqrt']. Received: scaling={scaling!r}")


TrainingSteps = collections.namedtuple(
    "TrainingSteps", ["total_steps", "warmup_steps", "steps_per_epoch"]
)


def check_warmup(epochs, warmup_epochs, prefix=""):
    """`warmup_epochs` in [0, epochs]; `prefix` names the config keys (e.g. "eval.")."""
    if not epochs > 0 or not 0 <= warmup_epochs <= epochs:
        raise ValueError(
            f"`{prefix}epochs` must be > 0 and `{prefix}warmup_epochs` in [0, {prefix}epochs]: a "
            "warmup longer than the run would end it before the learning rate peaks or decays. "
            f"With a short `{prefix}epochs`, shorten `{prefix}warmup_epochs` too (it may be a "
            f"fraction). Received: {prefix}epochs={epochs}, {prefix}warmup_epochs={warmup_epochs}"
        )


def steps_from_epochs(num_examples, batch_size, epochs, warmup_epochs=10):
    """The step counts of a run, as the reference computes them; every training here uses it.

    Pretraining, fine-tuning, linear evaluation and distillation all count steps this way:

    - `total_steps = num_examples * epochs // batch_size + 1`, the length of the learning-rate
      schedule (tf2/model.py `get_train_steps`: the reference streams a repeated dataset, so it
      counts examples seen, not whole batches per epoch);
    - `warmup_steps = int(round(warmup_epochs * num_examples // batch_size))`, a floor division
      (the reference's `round` only turns the float into an int), capped at `total_steps`;
    - `steps_per_epoch = ceil(num_examples / batch_size)`, what `fit` runs per epoch (on a
      repeated stream of full batches), so `epochs * steps_per_epoch >= total_steps` whenever
      `batch_size` does not divide `num_examples`: every step of the schedule runs, and the last
      `epochs * steps_per_epoch - total_steps` (fewer than `epochs`) run at learning rate 0, as
      the reference's own loop runs past `total_steps` to the end of its checkpoint interval.
      When `batch_size` divides `num_examples`, the schedule's final step (learning rate about
      `peak * 2.5 / (total_steps - warmup_steps) ** 2`) is the one not run.

    `warmup_epochs` must not exceed `epochs` (the run would end inside the warmup): a
    `ValueError` names both.

    Returns:
        `TrainingSteps(total_steps, warmup_steps, steps_per_epoch)`, a named tuple.

    Example: `steps_from_epochs(1281167, 4096, 100)` is `(31279, 3127, 313)`.
    """
    for arg, value in [("num_examples", num_examples), ("batch_size", batch_size)]:
        if not value > 0:
            raise ValueError(f"`{arg}` must be > 0. Received: {arg}={value}")
    check_warmup(epochs, warmup_epochs)
    total_steps = int(num_examples * epochs // batch_size + 1)
    warmup_steps = int(round(warmup_epochs * num_examples // batch_size))
    steps_per_epoch = -(-int(num_examples) // int(batch_size))
    return TrainingSteps(total_steps, min(warmup_steps, total_steps), steps_per_epoch)


@keras.saving.register_keras_serializable(package="simclr_tf")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak_learning_rate`, then cosine decay to 0.

    SimCLR's schedule (Chen et al. 2020, arXiv:2002.05709, Appendix B.1: linear warmup for 10
    epochs, then cosine decay without restarts), exactly as the reference's
    `WarmUpAndCosineDecay` (tf2/model.py): at step s (the optimiser's `iterations`, 0 at the
    first update, as in the reference, so that update has rate 0 when there is a warmup) the
    rate is `s / warmup_steps * peak` while `s < warmup_steps`, then
    `peak * 0.5 * (1 + cos(pi * min(s - warmup_steps, T) / T))` with
    `T = total_steps - warmup_steps`, and 0 from `total_steps` on. `steps_from_epochs` gives the
    reference's step counts; the peak comes from `scale_learning_rate`.

    Args:
        peak_learning_rate: the rate reached after warmup (already scaled for the batch size,
            see `scale_learning_rate`), >= 0.
        total_steps: the length of training, in optimiser steps, >= 1.
        warmup_steps: steps of linear warmup, in [0, total_steps] (0: none).
        name: optional name of the schedule.

    Example:

    ```python
    steps = simclr_tf.steps_from_epochs(1281167, 4096, epochs=100, warmup_epochs=10)
    lr = simclr_tf.WarmupCosine(
        simclr_tf.scale_learning_rate(0.3, 4096), steps.total_steps, steps.warmup_steps
    )
    optimizer = simclr_tf.LARS(learning_rate=lr, weight_decay=1e-6)
    ```
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0, name=None):
        super().__init__()
        if total_steps < 1 or warmup_steps < 0 or warmup_steps > total_steps:
            raise ValueError(
                "`total_steps` must be >= 1 and `warmup_steps` in [0, total_steps]. "
                f"Received: total_steps={total_steps}, warmup_steps={warmup_steps}"
            )
        if peak_learning_rate < 0:
            raise ValueError(
                "`peak_learning_rate` must be >= 0. "
                f"Received: peak_learning_rate={peak_learning_rate}"
            )
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.peak_learning_rate
        if self.warmup_steps:
            warmup = step / float(self.warmup_steps) * peak
        else:
            warmup = ops.convert_to_tensor(peak, "float32")
        decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
        progress = ops.minimum(step - self.warmup_steps, decay_steps) / decay_steps
        cosine = 0.5 * peak * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < self.warmup_steps, warmup, cosine)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "name": self.name,
        }
