"""What `fine_tune` and `distill` share: the training data and the optimiser with its schedule.

Both fit a network with the reference's supervised recipe: shuffled, static batches of the
training set, and an optimiser (`simclr_tf.optimizers.build_optimizer`) whose learning rate is
`scale_learning_rate(base_learning_rate, batch_size, learning_rate_scaling)`, warmed up linearly
over `warmup_epochs` and decayed to 0 by a cosine, over the reference's step counts
(`simclr_tf.steps_from_epochs`). `OptimizerSettings` holds that optimiser and schedule in one
place; `FINE_TUNING` and `LINEAR_EVALUATION` are the reference's two recipes.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from simclr_tf.data.types import num_images
from simclr_tf.optimizers.l2 import build_optimizer
from simclr_tf.optimizers.schedules import WarmupCosine, scale_learning_rate, steps_from_epochs


@dataclasses.dataclass(frozen=True)
class OptimizerSettings:
    """The optimiser and learning-rate schedule of a supervised training.

    The defaults are SimCLRv2's fine-tuning (`FINE_TUNING`): LARS, 0.005 x sqrt(B), no weight
    decay, no warmup. `fine_tune` and `distill` take these fields as keyword arguments
    (`fine_tune(..., optimizer="momentum", base_learning_rate=0.1)`) or a whole
    `optimizer_settings`.

    Attributes:
        optimizer: "lars", "momentum" (Nesterov, L2 term) or "adam" (L2 term), see
            `simclr_tf.optimizers.build_optimizer`.
        base_learning_rate, learning_rate_scaling: the rate is
            `scale_learning_rate(base_learning_rate, batch_size, learning_rate_scaling)`
            ("linear": x B/256, "sqrt": x sqrt(B)).
        momentum, weight_decay: optimiser settings (a `Classifier` head's decay is its own L2
            term).
        warmup_epochs: linear warmup before the cosine decay (0 in the reference's fine-tuning
            and linear evaluation).

    Example:

    ```python
    settings = LINEAR_EVALUATION.replace(weight_decay=1e-6)
    optimizer, steps_per_epoch = settings.scheduled_optimizer(4096, 90, 1281167)
    ```
    """

    optimizer: str = "lars"
    base_learning_rate: float = 0.005
    learning_rate_scaling: str = "sqrt"
    momentum: float = 0.9
    weight_decay: float = 0.0
    warmup_epochs: float = 0

    def replace(self, **changes):
        """A copy with `changes` (field names as keyword arguments) applied."""
        fields = [field.name for field in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise TypeError(f"Unknown optimiser settings {unknown}. Expected some of {fields}.")
        return dataclasses.replace(self, **changes)

    def scheduled_optimizer(self, batch_size, epochs, num_examples):
        """`(optimizer, steps_per_epoch)`: the optimiser on the reference's schedule (the scaled
        rate, linear warmup over `warmup_epochs`, cosine decay to 0) over the reference's step
        counts for `epochs` epochs of `num_examples` examples in global batches of `batch_size`
        (`simclr_tf.steps_from_epochs`)."""
        steps = steps_from_epochs(num_examples, batch_size, epochs, self.warmup_epochs)
        schedule = WarmupCosine(
            scale_learning_rate(self.base_learning_rate, batch_size, self.learning_rate_scaling),
            total_steps=steps.total_steps,
            warmup_steps=steps.warmup_steps,
        )
        optimizer = build_optimizer(self.optimizer, schedule, self.momentum, self.weight_decay)
        return optimizer, steps.steps_per_epoch


# SimCLRv2 fine-tuning: LARS, 0.005 x sqrt(B), no weight decay, no warmup (`fine_tune`'s default).
FINE_TUNING = OptimizerSettings()
# The reference README's linear evaluation: Nesterov momentum 0.9, 0.1 x B/256, no weight decay
# (1e-6 on ImageNet), no warmup (`distill`'s default).
LINEAR_EVALUATION = OptimizerSettings(
    optimizer="momentum", base_learning_rate=0.1, learning_rate_scaling="linear"
)


def training_dataset(train, batch_size, num_examples=None, seed=0, steps_per_epoch=None):
    """`(dataset, batch_size, num_examples)` for `fit` from arrays or a dataset.

    `train` is `(images, labels)` or images alone (numpy), shuffled, batched with
    `drop_remainder` (static batches, as the reference) and repeated here; or a batched, repeated
    `tf.data.Dataset`, used as it is (then `num_examples`, the size of the set it streams, is
    required: the step counts follow from it). Without `num_examples`, `steps_per_epoch` gives
    `num_examples = steps_per_epoch * batch_size`.
    """
    if not num_examples:
        num_examples = int(steps_per_epoch) * int(batch_size) if steps_per_epoch else None
    if isinstance(train, tf.data.Dataset):
        if not num_examples:
            raise ValueError(
                "`num_examples` (or `steps_per_epoch`) is required when `train` is a "
                f"tf.data.Dataset. Received: num_examples={num_examples!r}"
            )
        return train, int(batch_size), int(num_examples)
    if isinstance(train, (tuple, list)):
        images, labels = train
        labels = np.asarray(labels).reshape(-1).astype(np.int32)
        if num_images(images) != len(labels):
            raise ValueError(
                "`train` images and labels must have the same length. "
                f"Received: {num_images(images)} images and {len(labels)} labels."
            )
        elements = (images, labels)
    else:
        images = elements = train
    count = num_images(images)  # a canvas is a dict of arrays {"image", "image_size"}
    if count == 0:
        raise ValueError("`train` has no examples.")
    batch_size = min(int(batch_size), count)
    dataset = (
        tf.data.Dataset.from_tensor_slices(elements)
        .shuffle(count, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )
    return dataset, batch_size, int(num_examples or count)
