"""The training command.

    python -m simclr_tf.train --config=tf_configs/NAME.py --workdir=DIR [--config.KEY=VALUE ...]

Runs: config -> strategy -> dataset -> model -> compile -> fit (resumable) -> export
[-> evaluation report]. Re-running the same command on the same work directory resumes an
interrupted run from its newest checkpoint. `--config.mode=linear_eval|finetune|distill` runs
an evaluation protocol instead (`simclr_tf.evaluation.modes`); `--config.mode=supervised` trains
the same encoder with cross-entropy (`simclr_tf.supervised`).
"""

import json
import logging as logging_lib
import os
import sys
import time

import keras
import tensorflow as tf
from absl import app, flags, logging
from ml_collections import config_flags

from simclr_tf import builders, callbacks, data
from simclr_tf import workdir as wd
from simclr_tf.config import (
    apply_deprecated_keys,
    check_data,
    check_epochs,
    config_keys,
    data_options,
    default_config,
    resolve,
)
from simclr_tf.distribute import get_strategy
from simclr_tf.evaluation.modes import check_mode_config, run_mode
from simclr_tf.evaluation.report import evaluation_report, retrieval_grid
from simclr_tf.export import export_encoder
from simclr_tf.supervised import train_supervised

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a tf_configs/*.py file; keys can be overridden as --config.KEY=VALUE.",
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Work directory: checkpoints, logs, exports, results.")


def pretrain(config, workdir):
    """Pretrains as the config says, into `workdir`; returns the fitted model and a summary
    (derived values, times, `probe`: on or why off, `retrieval_grid`: the picture's path).

    `workdir` may be any path `tf.io.gfile` writes (local, `gs://`, `ram://`, ...). With
    several workers only the chief writes there; the others resume from its checkpoints.
    """
    started = time.time()
    # === Set-up ===
    apply_deprecated_keys(config)  # so config.json holds the keys where they live now
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(config.precision)
    strategy = get_strategy(config.tpu or None)
    chief = wd.is_chief(strategy)
    if chief:
        wd.prepare_workdir(workdir)
    checkpoint = callbacks.ResumableCheckpoint(
        wd.join(workdir, "checkpoints"), config.checkpoint_every_epochs, config.keep_checkpoints
    )

    # === Data ===
    source, probe = builders.build_training_source(config)  # logs whether the probe runs
    info = source.info
    num_examples = config.num_train_examples or info.num_examples
    if not num_examples:
        raise ValueError(
            f"The size of {config.dataset} split {config.train_split!r} is unknown (no tfds split "
            "metadata); set --config.num_train_examples."
        )
    resolved = resolve(config, num_examples, strategy.num_replicas_in_sync)
    if chief:
        wd.save_config(config, resolved, workdir)
    # Epoch e's batches depend on (seed, e) only, so a resumed run starts its stream at the
    # epoch after its checkpoint and sees what an uninterrupted run would have seen.
    train_ds = data.epochs(
        source, config.batch_size, resolved["steps_per_epoch"],
        first_epoch=checkpoint.latest_epoch(), seed=config.seed, cache=config.cache,
    )

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
        # Images of several sizes come as a canvas {"image", "image_size"} (simclr_tf.data).
        model.build(sample["image"].shape if isinstance(sample, dict) else sample.shape)

    # === Fit ===
    cbs = []
    if config.knn_every_epochs and info.num_classes:
        subset = dict(image_size=config.image_size, max_examples=config.knn_num_examples)
        subset.update(data_options(config))
        bank = data.load_arrays(config.dataset, config.train_split, **subset)
        queries = data.load_arrays(config.dataset, config.eval_split, **subset)
        cbs.append(callbacks.KNNMonitor(bank, queries, info.num_classes, config.knn_every_epochs))
    if chief:  # the other workers log nowhere
        if config.log_images:
            few = tf.nest.map_structure(lambda t: t[:4].numpy(), sample)
            cbs.append(callbacks.ViewSummary(wd.join(workdir, "tensorboard"), few))
        cbs += [
            keras.callbacks.TensorBoard(wd.join(workdir, "tensorboard")),
            callbacks.CSVHistory(wd.join(workdir, "history.csv"), append=True),
        ]
    # Last: an epoch is logged (kNN, TensorBoard, CSV row) before its checkpoint exists, so a
    # kill in between re-runs that epoch (a repeated CSV row) but never loses its record.
    cbs.append(checkpoint)
    # One line per epoch when the output is a log file, the live bar on a terminal.
    verbose = 1 if sys.stdout.isatty() else 2
    # Epochs are counted in steps (so `num_train_examples` can cap them); the stream is endless.
    model.fit(
        train_ds, epochs=config.epochs, steps_per_epoch=resolved["steps_per_epoch"],
        callbacks=cbs, verbose=verbose,
    )

    # === Export ===
    if config.export:
        with wd.chief_path(wd.join(workdir, "export"), strategy) as export_dir:
            export_encoder(model, wd.join(export_dir, "encoder", "1"), overwrite=True)

    # === Evaluate ===
    summary = {"pretrain_time_s": time.time() - started, "probe": probe, **resolved}
    if config.retrieval.num_queries:  # any data, labelled or not; every worker embeds
        with wd.chief_path(workdir, strategy) as out:
            summary["retrieval_grid"] = retrieval_grid(model, source, config, out)
    if config.eval.compare_baselines:
        # Pixel baselines need images of one size: the host-side square resize (canvas_size=0).
        subset = dict(image_size=config.image_size, max_examples=config.eval.max_examples or None,
                      **{**data_options(config), "canvas_size": 0})
        train = data.load_arrays(config.dataset, config.train_split, **subset)
        test = data.load_arrays(config.dataset, config.eval_split, **subset)
        summary["wall_time_s"] = time.time() - started
        with wd.chief_path(workdir, strategy) as out:
            summary.update(evaluation_report(model, config, out, train, test, info.num_classes, summary))
            summary["wall_time_s"] = time.time() - started
            wd.write_json(wd.join(out, "results.json"), summary)
    summary["wall_time_s"] = time.time() - started
    return model, summary


def command_config():
    """The `--config` file's config with its `--config.KEY` overrides, deprecated keys moved to
    their new place (`simclr_tf.config.apply_deprecated_keys`, told which keys the command line
    set, so `--config.temperature=0.5` beats a file's `loss.temperature`); None without
    `--config`. Raises ValueError on conflicting old and new keys."""
    config = _CONFIG.value
    if config is not None:
        apply_deprecated_keys(config, config_flags.get_override_values(flags.FLAGS["config"]))
    return config


def check_overrides(argv):
    """Unknown `--config.KEY` overrides: a short error listing the valid keys, not a traceback."""
    valid = set(config_keys(default_config()))
    for arg in argv[1:]:
        if arg.startswith("--config.") and "=" in arg:
            key = arg[len("--config."):].split("=", 1)[0]
            if key not in valid:
                sys.exit(
                    f"Unknown config key {key!r} (from {arg}). Valid keys:\n  "
                    + "\n  ".join(sorted(valid))
                )


class _OwnInfoOnly(logging_lib.Filter):
    """Passes warnings and errors, and this package's own info lines (resume, loaded weights,
    the run's summary); drops the info lines that TensorFlow's internals send through absl
    (SavedModel export: "Function `from_bytes` contains input name(s) ...", "Sharding callback
    duration", "Writing fingerprint to ...")."""

    _PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep

    def filter(self, record):
        return record.levelno >= logging_lib.WARNING or record.pathname.startswith(self._PACKAGE)


def quiet_logs(verbosity):
    """A terminal shows progress, results and real warnings: below absl `--verbosity=1`,
    TensorFlow's internal info lines and its `tensorflow` logger's warnings (retracing,
    SavedModel chatter) are hidden. Returns the filter installed on the absl logger, or None.
    Idempotent: a filter left by an earlier call in the same process is replaced (or removed
    at `verbosity >= 1`), so in-process callers such as tests do not stack or leak filters."""
    logger = logging.get_absl_logger()
    for old in [f for f in logger.filters if isinstance(f, _OwnInfoOnly)]:
        logger.removeFilter(old)
    if verbosity >= 1:
        return None
    tf.get_logger().setLevel("ERROR")
    own = _OwnInfoOnly()
    logger.addFilter(own)
    return own


def main(argv):
    del argv
    quiet_logs(flags.FLAGS.verbosity)
    try:
        config = command_config()
    except ValueError as e:
        raise app.UsageError(str(e)) from e
    workdir = _WORKDIR.value
    if config is None or not workdir:
        raise app.UsageError("Both --config and --workdir are required.")
    if config.mode == "supervised":
        _, summary = train_supervised(config, workdir)
    elif config.mode != "pretrain":
        try:
            check_mode_config(config)
        except ValueError as e:
            raise app.UsageError(str(e)) from e
        summary = run_mode(config, workdir)
    else:
        try:
            check_epochs(config)
            check_data(config)
        except ValueError as e:
            raise app.UsageError(str(e)) from e
        _, summary = pretrain(config, workdir)
    logging.info("Done: %s", json.dumps(summary, default=str))


def run():
    """Console-script entry point (`simclr-train`)."""
    check_overrides(sys.argv)
    app.run(main)


if __name__ == "__main__":
    run()
