"""Training a `Classifier`: SimCLRv2 fine-tuning and the reference's linear-evaluation recipe.

The reference's two supervised protocols (google-research/simclr tf2 README) differ only in
what is frozen and in the optimiser:

- linear evaluation: the whole encoder frozen (`fine_tune_after_block=4`), head on the encoder
  output; Nesterov momentum 0.9, 0.1 x B/256, weight decay 0 (1e-6 on ImageNet), 90-100 epochs;
- SimCLRv2 fine-tuning: nothing frozen (`-1`), from projection layer 1; LARS, 0.005 x sqrt(B),
  weight decay 0, 60 epochs on 1 % of the labels, 30 on 10 %.

Both: zero-initialised head, no warmup, cosine decay to 0, random crop and flip. Their optimiser
settings are `FINE_TUNING` and `LINEAR_EVALUATION` (`simclr_tf.protocols.recipe`).
"""

import numpy as np
import tensorflow as tf
import keras

from simclr_tf.protocols.recipe import FINE_TUNING, training_dataset


def fine_tune(
    classifier,
    train,
    epochs,
    batch_size=1024,
    steps_per_epoch=None,
    num_examples=None,
    callbacks=None,
    seed=0,
    verbose=0,
    compile_kwargs=None,
    optimizer_settings=FINE_TUNING,
    **optimizer_kwargs,
):
    """Compiles and fits a `Classifier` with the reference's supervised recipe.

    The optimiser is `optimizer_settings` (an `OptimizerSettings`) with the fields given as
    keyword arguments replaced. The default, `FINE_TUNING`, is SimCLRv2's fine-tuning (LARS,
    0.005 x sqrt(B), no decay, no warmup, cosine decay); the linear-evaluation recipe is
    `optimizer_settings=LINEAR_EVALUATION` (or `optimizer="momentum", base_learning_rate=0.1,
    learning_rate_scaling="linear"`) on a classifier with `fine_tune_after_block=4`.

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
        callbacks: Keras callbacks for `fit`.
        seed: shuffling seed for arrays.
        verbose: `fit` verbosity.
        compile_kwargs: more `compile` arguments (`jit_compile`, `steps_per_execution`).
        optimizer_settings: an `OptimizerSettings`, the optimiser and its schedule.
        **optimizer_kwargs: `OptimizerSettings` fields that replace those of
            `optimizer_settings`: `optimizer` ("lars", "momentum" or "adam"),
            `base_learning_rate`, `learning_rate_scaling` ("linear" or "sqrt"), `momentum`,
            `weight_decay` (the head's decay is its own L2 term), `warmup_epochs`.

    Returns:
        The Keras `History`.

    Example:

    ```python
    classifier = build_classifier(pretrained, num_classes=10, from_projection_layer=1)
    fine_tune(classifier, (train_images, train_labels), epochs=60, batch_size=1024)
    print(evaluate_classifier(classifier, (test_images, test_labels)))  # {"top1": ..., ...}
    ```
    """
    settings = optimizer_settings.replace(**optimizer_kwargs)
    dataset, batch_size, num_examples = training_dataset(
        train, batch_size, num_examples, seed, steps_per_epoch=steps_per_epoch
    )
    with classifier.distribute_strategy.scope():
        optimizer, steps_per_epoch = settings.scheduled_optimizer(batch_size, epochs, num_examples)
        classifier.compile(optimizer=optimizer, **(compile_kwargs or {}))
    return classifier.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        shuffle=False,  # the dataset shuffles itself
        verbose=verbose,
    )


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
