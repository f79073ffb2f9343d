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

from simclr_tf.data.common import num_images
from simclr_tf.optimizers.lars import LARS
from simclr_tf.optimizers.schedules import WarmupCosine, scale_learning_rate

OPTIMIZERS = ("lars", "momentum")


def build_optimizer(name, learning_rate, momentum=0.9, weight_decay=0.0):
    """`lars` (simclr_tf.LARS, coupled decay, BN and biases excluded) or `momentum` (Nesterov
    SGD, as the reference's `build_optimizer`; its decay is Keras' decoupled one where the
    reference adds an L2 term to the loss: the same for plain SGD, close with momentum)."""
    if name == "lars":
        return LARS(learning_rate=learning_rate, momentum=momentum, weight_decay=weight_decay)
    if name == "momentum":
        return keras.optimizers.SGD(
            learning_rate, momentum=momentum, nesterov=True, weight_decay=weight_decay or None
        )
    raise ValueError(f"`optimizer` must be one of {list(OPTIMIZERS)}. Received: optimizer={name!r}")


def fine_tune(
    classifier,
    train,
    epochs,
    batch_size=1024,
    steps_per_epoch=None,
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
            `(images, labels)` (then `steps_per_epoch` is required and `batch_size` must be its
            global batch, for the learning-rate scaling).
        epochs: number of epochs.
        batch_size: the global batch size.
        steps_per_epoch: steps per epoch; default for arrays: N // batch_size.
        optimizer: "lars" or "momentum" (Nesterov).
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
    dataset, batch_size, steps_per_epoch = training_dataset(
        train, batch_size, steps_per_epoch, seed
    )
    schedule = (base_learning_rate, learning_rate_scaling, batch_size, epochs, steps_per_epoch)
    with classifier.distribute_strategy.scope():
        classifier.compile(
            optimizer=scheduled_optimizer(
                optimizer, *schedule, warmup_epochs, momentum, weight_decay
            ),
            **(compile_kwargs or {}),
        )
    return classifier.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        shuffle=False,  # the dataset shuffles itself
        verbose=verbose,
    )


def training_dataset(train, batch_size, steps_per_epoch=None, seed=0):
    """`(dataset, batch_size, steps_per_epoch)` for `fit` from arrays or a dataset.

    `train` is `(images, labels)` or images alone (numpy), shuffled, batched with
    `drop_remainder` (static batches, as the reference) and repeated here; or a batched, repeated
    `tf.data.Dataset`, used as it is (then `steps_per_epoch` is required).
    """
    if isinstance(train, tf.data.Dataset):
        if not steps_per_epoch:
            raise ValueError(
                "`steps_per_epoch` is required when `train` is a tf.data.Dataset. "
                f"Received: steps_per_epoch={steps_per_epoch!r}"
            )
        return train, int(batch_size), int(steps_per_epoch)
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
    steps_per_epoch = steps_per_epoch or count // batch_size
    dataset = (
        tf.data.Dataset.from_tensor_slices(elements)
        .shuffle(count, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )
    return dataset, batch_size, int(steps_per_epoch)


def scheduled_optimizer(
    name,
    base_learning_rate,
    learning_rate_scaling,
    batch_size,
    epochs,
    steps_per_epoch,
    warmup_epochs=0,
    momentum=0.9,
    weight_decay=0.0,
):
    """`build_optimizer` with the reference's schedule: the scaled rate, linear warmup over
    `warmup_epochs`, cosine decay to 0 at the end of `epochs`."""
    if epochs < 1:
        raise ValueError(f"`epochs` must be >= 1. Received: epochs={epochs}")
    schedule = WarmupCosine(
        scale_learning_rate(base_learning_rate, batch_size, learning_rate_scaling),
        total_steps=int(epochs * steps_per_epoch),
        warmup_steps=int(round(warmup_epochs * steps_per_epoch)),
    )
    return build_optimizer(name, schedule, momentum, weight_decay)


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
