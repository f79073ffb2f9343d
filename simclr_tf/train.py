"""The training command.

    python -m simclr_tf.train --config=tf_configs/NAME.py --workdir=DIR [--config.KEY=VALUE ...]

Runs: config -> strategy -> dataset -> model -> compile -> fit (resumable) -> export
[-> evaluation report]. Re-running the same command on the same work directory resumes an
interrupted run from its newest checkpoint. `--config.mode=linear_eval|finetune|distill` runs
an evaluation protocol instead (`simclr_tf.evaluation.modes`).
"""

import json
import os
import sys
import time

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a tf_configs/*.py file; keys can be overridden as --config.KEY=VALUE.",
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Work directory: checkpoints, logs, exports, results.")


def pretrain(config, workdir):
    """Pretrains as the config says, into `workdir`; returns the fitted model and a summary."""
    import keras

    from simclr_tf import builders, callbacks, data
    from simclr_tf.config import resolve
    from simclr_tf.distribute import get_strategy
    from simclr_tf.export import export_encoder

    started = time.time()
    # === Set-up ===
    prepare_workdir(workdir)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(config.precision)
    strategy = get_strategy(config.tpu or None)

    # === Data ===
    train_ds, info = data.get_dataset(
        config.dataset,
        split=config.train_split,
        batch_size=config.batch_size,
        image_size=config.image_size,
        labeled=bool(config.model.probe),
        shuffle=True,
        cache=config.cache,
        data_dir=config.data_dir or None,
        seed=config.seed,
        with_info=True,
    )
    num_examples = config.num_train_examples or info.num_examples
    if not num_examples:
        raise ValueError(
            f"The size of {config.dataset} split {config.train_split!r} is unknown (no tfds split "
            "metadata); set --config.num_train_examples."
        )
    resolved = resolve(config, num_examples, strategy.num_replicas_in_sync)
    save_config(config, resolved, workdir)

    # === Model ===
    with strategy.scope():
        model = builders.build_pretrainer(config, num_classes=info.num_classes)
        model.compile(
            optimizer=builders.build_optimizer(config, resolved),
            jit_compile=config.jit_compile,
            steps_per_execution=config.steps_per_execution,
        )
        sample = next(iter(train_ds.take(1)))
        sample = sample[0] if isinstance(sample, tuple) else sample
        model.build(sample.shape)  # so a checkpoint can be restored into it

    # === Fit ===
    cbs = []
    if config.knn_every_epochs and info.num_classes:
        subset = dict(image_size=config.image_size, max_examples=config.knn_num_examples)
        bank = data.load_arrays(config.dataset, config.train_split, **subset)
        queries = data.load_arrays(config.dataset, config.eval_split, **subset)
        cbs.append(callbacks.KNNMonitor(bank, queries, info.num_classes, config.knn_every_epochs))
    if config.log_images:
        cbs.append(callbacks.ViewSummary(os.path.join(workdir, "tensorboard"), sample[:4].numpy()))
    cbs += [
        keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard")),
        keras.callbacks.CSVLogger(os.path.join(workdir, "history.csv"), append=True),
        # Last: an epoch is logged (kNN, TensorBoard, CSV row) before its checkpoint exists, so
        # a kill in between re-runs that epoch (a repeated CSV row) but never loses its record.
        callbacks.ResumableCheckpoint(
            os.path.join(workdir, "checkpoints"), config.checkpoint_every_epochs, config.keep_checkpoints
        ),
    ]
    # One line per epoch when the output is a log file, the live bar on a terminal.
    verbose = 1 if sys.stdout.isatty() else 2
    # Epochs are counted in steps (so `num_train_examples` can cap them); repeat so that an
    # epoch never runs out of batches.
    model.fit(
        train_ds.repeat(), epochs=config.epochs, steps_per_epoch=resolved["steps_per_epoch"],
        callbacks=cbs, verbose=verbose,
    )

    # === Export ===
    if config.export:
        export_encoder(model, os.path.join(workdir, "export", "encoder", "1"), overwrite=True)

    # === Evaluate ===
    summary = {"pretrain_time_s": time.time() - started, **resolved}
    if config.eval.compare_baselines:
        from simclr_tf.evaluation.report import evaluation_report

        subset = dict(image_size=config.image_size, max_examples=config.eval.max_examples or None)
        train = data.load_arrays(config.dataset, config.train_split, **subset)
        test = data.load_arrays(config.dataset, config.eval_split, **subset)
        summary["wall_time_s"] = time.time() - started
        summary.update(evaluation_report(model, config, workdir, train, test, info.num_classes, summary))
        summary["wall_time_s"] = time.time() - started
        from simclr_tf.evaluation.report import write_json

        write_json(os.path.join(workdir, "results.json"), summary)
    summary["wall_time_s"] = time.time() - started
    return model, summary


def prepare_workdir(workdir):
    """Creates the work directory and fails early, clearly, when it cannot be written."""
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, ".write_test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise ValueError(
            f"The work directory {workdir!r} cannot be created or written ({e.strerror}). "
            "Pass a writable --workdir."
        ) from e


def save_config(config, resolved, workdir):
    """The resolved config (primary and derived values) next to the checkpoints, atomically."""
    payload = {"config": config.to_dict(), "derived": resolved}
    tmp = os.path.join(workdir, "config.json.tmp")
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(workdir, "config.json"))


def check_overrides(argv):
    """Unknown `--config.KEY` overrides: a short error listing the valid keys, not a traceback."""
    from simclr_tf.config import config_keys, default_config

    valid = set(config_keys(default_config()))
    for arg in argv[1:]:
        if arg.startswith("--config.") and "=" in arg:
            key = arg[len("--config."):].split("=", 1)[0]
            if key not in valid:
                sys.exit(
                    f"Unknown config key {key!r} (from {arg}). Valid keys:\n  "
                    + "\n  ".join(sorted(valid))
                )


def main(argv):
    del argv
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # SavedModel and retracing chatter; our logs stay
    config, workdir = _CONFIG.value, _WORKDIR.value
    if config is None or not workdir:
        raise app.UsageError("Both --config and --workdir are required.")
    if config.mode != "pretrain":
        from simclr_tf.evaluation.modes import check_mode_config, run_mode

        try:
            check_mode_config(config)
        except ValueError as e:
            raise app.UsageError(str(e)) from e
        summary = run_mode(config, workdir)
    else:
        _, summary = pretrain(config, workdir)
    logging.info("Done: %s", json.dumps(summary, default=str))


def run():
    """Console-script entry point (`simclr-train`)."""
    check_overrides(sys.argv)
    app.run(main)


if __name__ == "__main__":
    run()
