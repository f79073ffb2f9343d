"""The supervised baseline: the same encoder and augmentation, trained with cross-entropy.

    python -m simclr_tf.train --config=tf_configs/NAME.py --workdir=DIR --config.mode=supervised

The paper compares contrastive and supervised learning under the same augmentations (Table 1:
colour strength; Figure 7: model size). This mode builds the config's encoder and augmentation
(`SimCLRAugment`, or the `ComposedAugment` of `augment.transforms`), puts a linear layer on
top, trains everything with softmax cross-entropy on ONE augmented view per image, with the
config's optimiser, learning rate, schedule and epochs (the `optimizer.*`, `epochs`,
`warmup_epochs` keys, as pretraining), resumable from `checkpoints/`, and writes the top-1 /
top-5 of the evaluation split (centre crop) to `results.json`.
"""

import os
import sys
import time

import keras

from simclr_tf import builders, data
from simclr_tf.callbacks.checkpoint import ResumableCheckpoint
from simclr_tf.config import data_options, resolve
from simclr_tf.distribute import get_strategy
from simclr_tf.evaluation.report import write_json
from simclr_tf.evaluation.splits import Split
from simclr_tf.models.classifier import Classifier
from simclr_tf.optimizers.l2 import OPTIMIZERS
from simclr_tf.protocols.finetune import evaluate_classifier, fine_tune
from simclr_tf.workdir import prepare_workdir, save_config


def train_supervised(config, workdir):
    """Trains the supervised baseline into `workdir`; returns the results written."""
    if config.optimizer.name not in OPTIMIZERS:
        raise ValueError(
            f"--config.mode=supervised trains with `optimizer.name` in {list(OPTIMIZERS)}. "
            f"Received: optimizer.name={config.optimizer.name!r}"
        )
    started = time.time()
    # === Set-up ===
    prepare_workdir(workdir)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(config.precision)
    strategy = get_strategy(config.tpu or None)

    # === Data ===
    train_ds, info = data.get_dataset(
        config.dataset, config.train_split, config.batch_size, config.image_size, labeled=True,
        shuffle=True, cache=config.cache, seed=config.seed, with_info=True, **data_options(config),
    )
    if info.num_classes < 2:
        raise ValueError(
            f"--config.mode=supervised needs labelled data. Received: dataset={config.dataset!r} "
            f"with {info.num_classes} classes."
        )
    num_examples = config.num_train_examples or info.num_examples
    resolved = resolve(config, num_examples, strategy.num_replicas_in_sync)
    save_config(config, resolved, workdir)

    # === Model ===
    with strategy.scope():
        classifier = Classifier(
            builders.build_encoder(config), int(info.num_classes), builders.build_augment(config),
            fine_tune_after_block=-1, zero_init_head=False,
        )

    # === Fit ===
    o = config.optimizer
    fine_tune(
        classifier, train_ds.repeat(), config.epochs, batch_size=config.batch_size,
        steps_per_epoch=resolved["steps_per_epoch"], optimizer=o.name,
        base_learning_rate=o.base_learning_rate, learning_rate_scaling=o.learning_rate_scaling,
        momentum=o.momentum, weight_decay=o.weight_decay, warmup_epochs=config.warmup_epochs,
        callbacks=[
            keras.callbacks.CSVLogger(os.path.join(workdir, "history.csv"), append=True),
            ResumableCheckpoint(os.path.join(workdir, "checkpoints"), config.checkpoint_every_epochs,
                                config.keep_checkpoints),
        ],
        seed=config.seed, verbose=1 if sys.stdout.isatty() else 2,
        compile_kwargs=dict(jit_compile=config.jit_compile, steps_per_execution=config.steps_per_execution),
    )

    # === Evaluate ===
    test = Split(config, config.dataset, config.eval_split, config.image_size)
    results = evaluate_classifier(classifier, test.batches(config.eval.batch_size))
    results.update(mode="supervised", dataset=config.dataset, wall_time_s=time.time() - started,
                   **resolved)
    write_json(os.path.join(workdir, "results.json"), results)
    return classifier, results
