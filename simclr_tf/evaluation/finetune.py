"""Training a `Classifier`: SimCLRv2 fine-tuning and the reference's linear-evaluation recipe.

The reference's two supervised protocols (google-research/simclr tf2 README) differ only in
what is frozen and in the optimiser:

- linear evaluation: the whole encoder frozen (`fine_tune_after_block=4`), head on the encoder
  output; Nesterov momentum 0.9, 0.1 x B/256, weight decay 0 (1e-6 on ImageNet), 90-100 epochs;
- SimCLRv2 fine-tuning: nothing frozen (`-1`), from projection layer 1; LARS, 0.005 x sqrt(B),
  weight decay 0, 60 epochs on 1 % of the labels, 30 on 10 %.

Both: zero-initialised head, no warmup, cosine decay to 0, random crop and flip.
"""

import numpy as np
import tensorflow as tf
import keras

from simclr_tf.optimizers.l2 import OPTIMIZERS, build_optimizer
from simclr_tf.optimizers.schedules import WarmupCosine, scale_learning_rate, steps_from_epochs
from simclr_tf.data.common import num_images


def fine_tune(
    classifier,
    train,
    epochs,
    batch_size=1024,
    steps_per_epoch=None,
    num_examples=None,
    optimizer="lars",
    base_learning_rate=0.005,
    learning_rate_scaling="sqrt",
    momentum=0.9,
    weight_decay=0.0,
    warmup_epochs=0,
    callbacks=None,
    seed=0,
    verbose=0,
    compile_kwargs=None,
):
    """Compiles and fits a `Classifier` with the reference's supervised recipe.

    The defaults are SimCLRv2's fine-tuning (LARS, 0.005 x sqrt(B), no decay, no warmup, cosine
    decay); the linear-evaluation recipe is `optimizer="momentum", base_learning_rate=0.1,
    learning_rate_scaling="linear"` on a classifier with `fine_tune_after_block=4`.

    Args:
        classifier: a `Classifier` (see `build_classifier`).
        train: `(images, labels)` numpy arrays, or a batched, repeated `tf.data.Dataset` of
            `(images, labels)` (then `num_examples` or `steps_per_epoch` is required and
            `batch_size` must be its global batch, for the learning-rate scaling).
        epochs: number of epochs.
        batch_size: the global batch size.
        steps_per_epoch: for a dataset without `num_examples`: the run then counts
            `num_examples = steps_per_epoch * batch_size`.
        num_examples: the size of the training set a dataset streams; the step counts follow
            from it as the reference's (`simclr_tf.steps_from_epochs`). Arrays: their length.
        optimizer: "lars", "momentum" (Nesterov, L2 term) or "adam" (L2 term), see
            `simclr_tf.optimizers.build_optimizer`.
        base_learning_rate, learning_rate_scaling: the rate is
            `scale_learning_rate(base_learning_rate, batch_size, learning_rate_scaling)`.
        momentum, weight_decay: optimiser settings (the head's decay is its own L2 term).
        warmup_epochs: linear warmup (0 in the reference's fine-tuning and linear evaluation).
        callbacks: Keras callbacks for `fit`.
        seed: shuffling seed for arrays.
        verbose: `fit` verbosity.
        compile_kwargs: more `compile` arguments (`jit_compile`, `steps_per_execution`).

    Returns:
        The Keras `History`.

    Example:

    ```python
    classifier = build_classifier(pretrained, num_classes=10, from_projection_layer=1)
    fine_tune(classifier, (train_images, train_labels), epochs=60, batch_size=1024)
    print(evaluate_classifier(classifier, (test_images, test_labels)))  # {"top1": ..., ...}
    ```
    """
    dataset, batch_size, num_examples = training_dataset(
        train, batch_size, num_examples or _examples(steps_per_epoch, batch_size), seed
    )
    with classifier.distribute_strategy.scope():
        optimizer, steps_per_epoch = scheduled_optimizer(
            optimizer, base_learning_rate, learning_rate_scaling, batch_size, epochs,
            num_examples, warmup_epochs, momentum, weight_decay,
        )
        classifier.compile(optimizer=optimizer, **(compile_kwargs or {}))
    return classifier.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        shuffle=False,  # the dataset shuffles itself
        verbose=verbose,
    )


def training_dataset(train, batch_size, num_examples=None, seed=0):
    """`(dataset, batch_size, num_examples)` for `fit` from arrays or a dataset.

    `train` is `(images, labels)` or images alone (numpy), shuffled, batched with
    `drop_remainder` (static batches, as the reference) and repeated here; or a batched, repeated
    `tf.data.Dataset`, used as it is (then `num_examples`, the size of the set it streams, is
    required: the step counts follow from it).
    """
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


def _examples(steps_per_epoch, batch_size):
    return int(steps_per_epoch) * int(batch_size) if steps_per_epoch else None


def scheduled_optimizer(
    name,
    base_learning_rate,
    learning_rate_scaling,
    batch_size,
    epochs,
    num_examples,
    warmup_epochs=0,
    momentum=0.9,
    weight_decay=0.0,
):
    """`(optimizer, steps_per_epoch)`: `build_optimizer` with the reference's schedule (the
    scaled rate, linear warmup over `warmup_epochs`, cosine decay to 0) over the reference's step
    counts for `num_examples` examples (`simclr_tf.steps_from_epochs`)."""
    steps = steps_from_epochs(num_examples, batch_size, epochs, warmup_epochs)
    schedule = WarmupCosine(
        scale_learning_rate(base_learning_rate, batch_size, learning_rate_scaling),
        total_steps=steps.total_steps,
        warmup_steps=steps.warmup_steps,
    )
    return build_optimizer(name, schedule, momentum, weight_decay), steps.steps_per_epoch


def evaluate_classifier(classifier, test, batch_size=256):
    """Top-1 and top-5 accuracy (fractions) of a classifier on the evaluation transform.

    Args:
        classifier: a `Classifier` (or any model from images to logits).
        test: `(images, labels)` numpy arrays, or a batched `tf.data.Dataset` of
            `(images, labels)` (every example counts: batch it without `drop_remainder`).

    Returns:
        dict with `top1`, `top5` and `num_examples`.
    """
    top1 = keras.metrics.SparseCategoricalAccuracy()
    top5 = keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, classifier.num_classes))
    if not isinstance(test, tf.data.Dataset):
        images, labels = test
        test = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels).reshape(-1))).batch(
            batch_size
        )
    predict = tf.function(lambda images: classifier(images, training=False), reduce_retracing=True)
    count = 0
    for images, labels in test:
        logits = predict(images)
        top1.update_state(labels, logits)
        top5.update_state(labels, logits)
        count += int(labels.shape[0])
    if not count:
        raise ValueError("evaluate_classifier received no examples.")
    return {"top1": float(top1.result()), "top5": float(top5.result()), "num_examples": count}
