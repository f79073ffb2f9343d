"""Learning-rate schedule and scaling of the SimCLR reference (tf2/model.py)."""

import math

import keras
from keras import ops


def scale_learning_rate(base_learning_rate, batch_size, scaling="linear"):
    """The reference's learning-rate scaling: `base * B / 256` ("linear") or `base * sqrt(B)`.

    Example: `scale_learning_rate(0.3, 4096)` is 4.8 (SimCLR v1 on ImageNet);
    `scale_learning_rate(0.075, 4096, "sqrt")` is 4.8 too (SimCLRv2).
    """
    if batch_size <= 0:
        raise ValueError(f"`batch_size` must be > 0. Received: batch_size={batch_size}")
    if scaling == "linear":
        return base_learning_rate * batch_size / 256.0
    if scaling == "sqrt":
        return base_learning_rate * math.sqrt(batch_size)
    raise ValueError(
        f"`scaling` must be one of ['linear', 'sqrt']. Received: scaling={scaling!r}"
    )


@keras.saving.register_keras_serializable(package="simclr_tf")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak_learning_rate`, then cosine decay to 0.

    Exactly the reference's `WarmUpAndCosineDecay`: at step s (the optimiser's `iterations`,
    0 for the first update) the rate is `s / warmup_steps * peak` while `s < warmup_steps`, then
    `peak * 0.5 * (1 + cos(pi * min(s - warmup_steps, T) / T))` with
    `T = total_steps - warmup_steps`. Step counts are derived from epochs by the caller
    (`warmup_steps = round(warmup_epochs * num_examples // batch_size)` in the reference).

    Args:
        peak_learning_rate: the rate reached after warmup (already scaled for the batch size,
            see `scale_learning_rate`).
        total_steps: the length of training, in optimiser steps.
        warmup_steps: steps of linear warmup (0: none).

    Example:

    ```python
    lr = simclr_tf.WarmupCosine(scale_learning_rate(0.3, 4096), total_steps=31200, warmup_steps=3120)
    optimizer = simclr_tf.LARS(learning_rate=lr, weight_decay=1e-6)
    ```
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0, name=None):
        super().__init__()
        if total_steps < 1 or warmup_steps < 0 or warmup_steps > total_steps:
            raise ValueError(
                "Need total_steps >= 1 and 0 <= warmup_steps <= total_steps. "
                f"Received: total_steps={total_steps}, warmup_steps={warmup_steps}"
            )
        if peak_learning_rate < 0:
            raise ValueError(
                f"`peak_learning_rate` must be >= 0. Received: {peak_learning_rate}"
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
