"""Linear evaluation: a linear classifier on a frozen encoder (the SimCLR paper's protocol)."""

import keras
import numpy as np
import tensorflow as tf

from simclr_tf.models.classifier_builder import build_classifier
from simclr_tf.optimizers.l2 import build_optimizer
from simclr_tf.optimizers.schedules import WarmupCosine, steps_from_epochs
from simclr_tf.protocols.exported import ExportedEncoder, is_saved_model
from simclr_tf.protocols.features import extract_features
from simclr_tf.protocols.finetune import evaluate_classifier, fine_tune
from simclr_tf.protocols.recipe import LINEAR_EVALUATION


def standardize_features(train_features, test_features):
    """Both (N, D) arrays z-scored per dimension with the training features' mean and std."""
    mean = train_features.mean(0, keepdims=True)
    std = train_features.std(0, keepdims=True) + 1e-6
    return (train_features - mean) / std, (test_features - mean) / std


def train_linear_classifier(
    train_features,
    train_labels,
    test_features,
    test_labels,
    num_classes,
    epochs=90,
    batch_size=256,
    base_learning_rate=0.1,
    weight_decay=0.0,
    standardize=False,
    seed=0,
    verbose=0,
):
    """Trains a zero-initialised linear layer on fixed features; returns top-1/top-5 on test.

    The recipe is the reference README's linear evaluation: Nesterov momentum 0.9, learning rate
    `base_learning_rate * batch_size / 256` with cosine decay and no warmup over the reference's
    step count (`simclr_tf.steps_from_epochs`), weight decay 0 (the README uses 1e-6 on ImageNet:
    an L2 term on the kernel and the bias when `weight_decay > 0`). Features are
    fixed numbers because the encoder is frozen, so they are computed once and the classifier
    trains on them directly: this is exactly linear evaluation without augmentation (the
    reference also random-crops and flips while training the classifier, which this skips;
    `linear_evaluation(..., augment=True)` does that).

    Args:
        train_features, test_features: (N, D) arrays.
        train_labels, test_labels: (N,) integer arrays.
        num_classes: number of classes.
        standardize: z-score features with the training statistics (used for raw pixels).

    Returns:
        dict with `top1`, `top5` (fractions in [0, 1]) and `train_top1`.
    """
    train_features = np.asarray(train_features, np.float32)
    test_features = np.asarray(test_features, np.float32)
    train_labels = np.asarray(train_labels).reshape(-1).astype(np.int32)
    test_labels = np.asarray(test_labels).reshape(-1).astype(np.int32)
    if len(train_features) == 0 or len(test_features) == 0:
        raise ValueError("Linear evaluation needs non-empty training and test sets.")
    if standardize:
        train_features, test_features = standardize_features(train_features, test_features)
    batch_size = min(int(batch_size), len(train_features))
    steps = steps_from_epochs(len(train_features), batch_size, epochs, warmup_epochs=0)
    learning_rate = WarmupCosine(base_learning_rate * batch_size / 256.0, steps.total_steps)
    keras.utils.set_random_seed(seed)
    classifier = keras.Sequential(
        [
            keras.Input((train_features.shape[1],)),
            keras.layers.Dense(num_classes, kernel_initializer="zeros"),
        ]
    )
    # The reference's momentum optimiser: Nesterov, and the L2 term on the kernel and the bias.
    classifier.compile(
        optimizer=build_optimizer("momentum", learning_rate, 0.9, weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # A whole epoch per graph call: a step of a linear layer is microseconds of work, so
        # a Python round trip per step costs more than the step (3.7 s instead of 6.0 s for
        # 10,000 x 128 features, 30 epochs; docs/evaluation.md). Same steps, same order.
        steps_per_execution=steps.steps_per_epoch,
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices((train_features, train_labels))
        .shuffle(len(train_features), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size)
    )
    classifier.fit(
        dataset, epochs=epochs, steps_per_epoch=steps.steps_per_epoch, shuffle=False, verbose=verbose
    )
    return {
        "top1": _topk(classifier, test_features, test_labels, 1),
        "top5": _topk(classifier, test_features, test_labels, min(5, num_classes)),
        "train_top1": _topk(classifier, train_features, train_labels, 1),
    }


def _topk(classifier, features, labels, k):
    logits = classifier.predict(features, batch_size=1024, verbose=0)
    hits = tf.math.in_top_k(tf.constant(labels), tf.constant(logits), k)
    return float(np.mean(hits.numpy()))


def linear_evaluation(model, train, test, num_classes, batch_size=256, augment=False,
                      bn_training=False, **kwargs):
    """Linear evaluation of a frozen encoder on `(images, labels)` numpy pairs.

    The encoder's weights never change: no gradient reaches them. By default its batch norm
    runs in inference mode (the pretraining moving statistics), so its weights and statistics
    are bit-identical afterwards. Two ways to train the linear layer, both the reference
    README's recipe (zero-initialised head, Nesterov momentum 0.9, `0.1 x B/256`, cosine decay,
    no warmup, no weight decay):

    - `augment=False` (default): on cached features of the evaluation transform (centre crop),
      computed once (`train_linear_classifier`). Fast: one encoder pass per image.
    - `augment=True`: as the reference runs it, through the frozen encoder on random crops and
      flips of the training images every step (`build_classifier(..., fine_tune_after_block=4)`
      and `fine_tune` with the momentum recipe). One encoder pass per image per epoch; usually
      a little more accurate than cached features, which see no augmentation.

    Args:
        model: a `SimCLR`, an encoder, an `ExportedEncoder` or the path of an encoder exported by
            `simclr_tf.export_encoder` (exports: cached features only).
        train, test: `(images, labels)` numpy arrays (uint8 0-255 or float 0-1 images).
        num_classes: number of classes.
        batch_size: global batch size of the linear layer's training (and of the encoder passes).
        augment: see above.
        bn_training: with `augment=True` only. False (default): the frozen encoder's batch norm
            keeps its pretraining statistics (the reference's TF1 code). True: it normalises
            each training batch with the batch's own statistics and updates its moving
            averages, which the test pass then uses; the encoder's weights stay frozen (the
            reference's TF2 `run.py --train_mode=finetune --fine_tune_after_block=4`). Works
            on a copy: `model` is left unchanged either way.
        **kwargs: `epochs`, `base_learning_rate`, `weight_decay`, `seed`, `verbose` (both ways),
            `standardize` (cached features only).

    Returns:
        dict with `top1`, `top5` (fractions in [0, 1]) and `train_top1` (cached features).

    Example:

    ```python
    result = simclr_tf.linear_evaluation(model, (x_train, y_train), (x_test, y_test), 10)
    result = simclr_tf.linear_evaluation("runs/demo/export/encoder/1", train, test, 10)
    ```
    """
    if is_saved_model(model):
        model = ExportedEncoder(model)
    if augment:
        return _augmented_linear_evaluation(
            model, train, test, num_classes, batch_size, bn_training=bn_training, **kwargs
        )
    if bn_training:
        raise ValueError(
            "`bn_training=True` trains the head through the encoder (augment=True); cached "
            "features are computed once, with the pretraining statistics. Received: "
            "bn_training=True, augment=False"
        )
    train_features = extract_features(model, train[0], batch_size)
    test_features = extract_features(model, test[0], batch_size)
    return train_linear_classifier(
        train_features, train[1], test_features, test[1], num_classes, batch_size=batch_size, **kwargs
    )


def _augmented_linear_evaluation(
    model, train, test, num_classes, batch_size, epochs=90, base_learning_rate=0.1,
    weight_decay=0.0, seed=0, verbose=0, bn_training=False,
):
    if not hasattr(model, "augment"):
        raise ValueError(
            "Linear evaluation with `augment=True` needs the Keras model (a `SimCLR`, with its "
            "`augment`); an exported encoder supports cached features only (augment=False). "
            f"Received: model={model!r}"
        )
    keras.utils.set_random_seed(seed)
    classifier = build_classifier(
        model, num_classes, fine_tune_after_block=4, head_weight_decay=weight_decay
    )
    if bn_training:
        frozen_batch_norm_in_training_mode(classifier.encoder)
    fine_tune(
        classifier, train, epochs, batch_size=batch_size, optimizer_settings=LINEAR_EVALUATION,
        base_learning_rate=base_learning_rate, weight_decay=weight_decay, seed=seed,
        verbose=verbose,
    )
    result = evaluate_classifier(classifier, test, batch_size)
    return {"top1": result["top1"], "top5": result["top5"]}


def frozen_batch_norm_in_training_mode(encoder):
    """Makes the frozen batch-norm layers of an encoder normalise training batches with their own
    statistics, as the reference does; the default (Keras) keeps their moving statistics.

    The reference's TF2 code freezes by giving its wrapper layers `trainable=False`
    (`tf2/resnet.py`); the `BatchNormalization` layers inside keep `trainable=True`, so with
    `training=True` they use batch statistics and update their moving averages (momentum 0.9),
    and its evaluation (`training=False`) reads those updated averages. That holds for the
    whole frozen encoder of its linear evaluation (`--fine_tune_after_block=4`; its TF1 code
    ran that one with `is_training=False` instead) and for the frozen block groups of
    fine-tuning (`0..3`, in its TF1 code too). Keras' `trainable=False` makes BN use its moving
    statistics, which is what `Classifier` does by default.

    Here each frozen (`trainable=False`) BN layer of `encoder` becomes trainable again, which is
    what Keras' BN checks before using batch statistics, while its scale and offset stay
    non-trainable variables: no optimiser sees them, so only the moving averages change. Call
    it after `build_classifier(..., fine_tune_after_block=b)` and before compiling.

    Returns:
        The number of batch-norm layers switched (0 when none was frozen).
    """
    switched = 0
    for layer in encoder._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.trainable:
            layer.trainable = True  # batch statistics when called with training=True
            for variable in layer.weights:
                variable.trainable = False  # gamma and beta stay frozen
            switched += 1
    return switched
