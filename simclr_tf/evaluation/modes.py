"""The training command's evaluation modes: `linear_eval`, `finetune` and `distill`.

    python -m simclr_tf.train --config=tf_configs/NAME.py --workdir=DIR \
        --config.mode=linear_eval --config.eval.checkpoint=PRETRAIN_WORKDIR

Each mode reads what it starts from (`eval.checkpoint`, see `load_pretrained`), the labelled
data (`dataset`, `train_split` at `eval.label_fraction`, `eval_split` for the test), trains as
the `eval.*` keys say, and writes `results.json` (and `config.json`) into the work directory;
`finetune` and `distill` also save the trained network as `classifier.keras` (resumable from
`checkpoints/` when interrupted, like pretraining).
"""

import sys
import time

import keras

from simclr_tf import builders
from simclr_tf import workdir as wd
from simclr_tf.callbacks.checkpoint import ResumableCheckpoint
from simclr_tf.callbacks.csv_history import CSVHistory
from simclr_tf.config import check_epochs
from simclr_tf.distribute import get_strategy
from simclr_tf.evaluation.pretrained import CLASSIFIER_FILE, load_pretrained
from simclr_tf.evaluation.splits import Split, labelled_splits, partly_labelled_arrays
from simclr_tf.models.classifier import FINE_TUNE_AFTER_BLOCK, Classifier
from simclr_tf.models.classifier_builder import build_classifier
from simclr_tf.optimizers.l2 import OPTIMIZERS
from simclr_tf.protocols.distill import distill
from simclr_tf.protocols.exported import ExportedEncoder
from simclr_tf.protocols.features import extract_dataset_features, extract_features
from simclr_tf.protocols.finetune import evaluate_classifier, fine_tune
from simclr_tf.protocols.knn import knn_accuracy
from simclr_tf.protocols.label_fractions import labelled_dataset
from simclr_tf.protocols.linear_eval import (
    frozen_batch_norm_in_training_mode,
    train_linear_classifier,
)
from simclr_tf.protocols.recipe import OptimizerSettings, training_dataset

MODES = ("linear_eval", "finetune", "distill")


def run_mode(config, workdir):
    """Runs `config.mode` into `workdir`; returns the results written to `results.json`."""
    check_mode_config(config)
    started = time.time()
    # === Set-up ===
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(config.precision)
    strategy = get_strategy(config.tpu or None)
    # Only the chief writes into `workdir` (any tf.io.gfile path); other workers write their
    # logs and files into a scratch folder, and all resume from the chief's checkpoints.
    with wd.chief_path(workdir, strategy) as out:
        wd.makedirs(out)
        wd.write_json(wd.join(out, "config.json"), {"config": config.to_dict()})
        # === Train and evaluate ===
        runners = {"linear_eval": _linear_eval, "finetune": _finetune, "distill": _distill}
        results = runners[config.mode](config, _Dirs(workdir, out), strategy)
        results.update(mode=config.mode, dataset=config.dataset, wall_time_s=time.time() - started)
        wd.write_json(wd.join(out, "results.json"), results)
    return results


class _Dirs:
    """Where a mode reads its checkpoints (`workdir`) and writes everything else (`out`)."""

    def __init__(self, workdir, out):
        self.workdir, self.out = str(workdir), str(out)


def check_mode_config(config):
    """Fails fast, before any data or model is loaded, on settings a mode cannot run with."""
    e = config.eval
    if config.mode not in MODES:
        raise ValueError(
            f"`mode` must be 'pretrain' or one of {list(MODES)}. Received: mode={config.mode!r}"
        )
    if config.mode in ("linear_eval", "finetune") and not e.checkpoint:
        raise ValueError(
            f"--config.mode={config.mode} needs --config.eval.checkpoint: a pretraining work "
            "directory, a ckpt-* folder, a .weights.h5 or .keras file, or an exported encoder."
        )
    if config.mode == "distill" and not config.distill.teacher:
        raise ValueError(
            "--config.mode=distill needs --config.distill.teacher: a finetune work directory "
            "or a classifier .keras file."
        )
    if e.optimizer not in OPTIMIZERS:
        raise ValueError(
            f"`eval.optimizer` must be one of {list(OPTIMIZERS)}. Received: {e.optimizer!r}"
        )
    if e.fine_tune_after_block not in FINE_TUNE_AFTER_BLOCK:
        raise ValueError(
            f"`eval.fine_tune_after_block` must be one of {list(FINE_TUNE_AFTER_BLOCK)}. "
            f"Received: {e.fine_tune_after_block!r}"
        )
    frozen = (config.mode == "linear_eval" and e.augment) or (
        config.mode == "finetune" and e.fine_tune_after_block >= 0
    )
    if e.bn_training and not frozen:
        raise ValueError(
            "`eval.bn_training=True` runs frozen layers' batch norm in training mode while the "
            "rest trains: linear_eval through the encoder (--config.eval.augment=True) or "
            "finetune with frozen block groups (eval.fine_tune_after_block >= 0); cached "
            f"features, distill and a fully trained encoder have none. Received: "
            f"mode={config.mode!r}, eval.augment={e.augment!r}, "
            f"eval.fine_tune_after_block={e.fine_tune_after_block!r}"
        )
    labelled_dataset(config.dataset, e.label_fraction)  # validates the fraction
    check_epochs(config)


# --- The modes ----------------------------------------------------------------------------------


def _linear_eval(config, workdir, strategy):
    e = config.eval
    with strategy.scope():
        pretrained = load_pretrained(e.checkpoint, config)
    train, test = labelled_splits(config, _image_size(pretrained, config))
    num_classes = test.info.num_classes
    results = {"checkpoint": e.checkpoint, "label_fraction": e.label_fraction}
    if e.augment:
        if isinstance(pretrained, ExportedEncoder):
            raise ValueError(
                "eval.augment=True trains through the Keras model; an exported encoder supports "
                f"cached features only (eval.augment=False). Received: {e.checkpoint!r}"
            )
        with strategy.scope():
            classifier = build_classifier(
                pretrained, num_classes, fine_tune_after_block=4, copy_weights=False,
                head_weight_decay=e.weight_decay,
            )
            if e.bn_training:
                frozen_batch_norm_in_training_mode(classifier.encoder)
        _fit(classifier, config, workdir, train)
        results.update(evaluate_classifier(classifier, test.batches(e.batch_size)))
        bn = (
            "batch norm in training mode (batch statistics, moving averages updated)"
            if e.bn_training else "batch norm on its pretraining statistics"
        )
        results["protocol"] = f"frozen encoder, {bn}, random crop + flip, zero-init linear head"
        return results
    if train.arrays is not None:
        train_x = extract_features(pretrained, train.arrays[0], e.batch_size)
        train_y = train.arrays[1]
    else:
        train_x, train_y = extract_dataset_features(pretrained, train.batches(e.batch_size))
    test_x, test_y = extract_dataset_features(pretrained, test.batches(e.batch_size))
    results.update(
        train_linear_classifier(
            train_x, train_y, test_x, test_y, num_classes, epochs=e.epochs,
            batch_size=e.batch_size, base_learning_rate=e.base_learning_rate,
            weight_decay=e.weight_decay, standardize=bool(e.standardize_features),
            seed=config.seed, verbose=_verbose(),
        )
    )
    if e.knn:
        results["knn_top1"] = knn_accuracy(
            train_x, train_y, test_x, test_y, num_classes, k=e.knn_k, temperature=e.knn_temperature
        )
    results.update(num_train_examples=int(len(train_y)), num_examples=int(len(test_y)))
    results["protocol"] = "frozen encoder, cached centre-crop features, zero-init linear head"
    return results


def _finetune(config, workdir, strategy):
    e = config.eval
    with strategy.scope():
        pretrained = _simclr_model(load_pretrained(e.checkpoint, config), "finetune")
    train, test = labelled_splits(config, _image_size(pretrained, config))
    with strategy.scope():
        classifier = build_classifier(
            pretrained, test.info.num_classes, e.from_projection_layer, e.fine_tune_after_block,
            copy_weights=False, head_weight_decay=e.weight_decay,
        )
        if e.bn_training:
            frozen_batch_norm_in_training_mode(classifier.encoder)
    _fit(classifier, config, workdir, train)
    classifier.save(wd.join(workdir.out, CLASSIFIER_FILE))
    results = evaluate_classifier(classifier, test.batches(e.batch_size))
    results.update(
        checkpoint=e.checkpoint, label_fraction=e.label_fraction,
        from_projection_layer=e.from_projection_layer,
        fine_tune_after_block=e.fine_tune_after_block,
    )
    return results


def _distill(config, workdir, strategy):
    e, d = config.eval, config.distill
    teacher = load_pretrained(d.teacher, config)
    if not isinstance(teacher, Classifier):
        raise ValueError(
            "`distill.teacher` must be a finetune work directory (with classifier.keras) or a "
            f"classifier .keras file. Received: distill.teacher={d.teacher!r}"
        )
    with strategy.scope():
        if e.checkpoint:  # a pretrained student
            pretrained = _simclr_model(load_pretrained(e.checkpoint, config), "distill")
        else:  # a student trained from scratch, of the config's architecture
            pretrained = builders.build_pretrainer(config, num_classes=None)
            pretrained.build((None, config.image_size, config.image_size, 3))
        student = build_classifier(
            pretrained, teacher.num_classes, e.from_projection_layer, copy_weights=False,
            head_weight_decay=e.weight_decay,
        )
    size = student.augment.image_size
    if d.alpha < 1.0:
        arrays = partly_labelled_arrays(config, size)
        train = training_dataset(arrays, e.batch_size, seed=config.seed)
    else:  # images only: the teacher's soft labels are the targets
        train = Split(config, config.dataset, config.train_split, size, labeled=False).repeated(
            e.batch_size
        )
    dataset, batch_size, num_examples = train
    distiller = distill(
        student, teacher, dataset, e.epochs, temperature=d.temperature, alpha=d.alpha,
        batch_size=batch_size, num_examples=num_examples, callbacks=_callbacks(workdir),
        **_training_kwargs(config),
    )
    student.save(wd.join(workdir.out, CLASSIFIER_FILE))
    test = Split(config, config.dataset, config.eval_split, size)
    scores = distiller.evaluate(test.batches(e.batch_size), return_dict=True, verbose=0)
    teacher_scores = evaluate_classifier(teacher, test.batches(e.batch_size))
    return {
        "top1": float(scores["top1"]), "top5": float(scores["top5"]),
        "agreement": float(scores["agreement"]), "teacher_top1": teacher_scores["top1"],
        "teacher_top5": teacher_scores["top5"], "num_examples": teacher_scores["num_examples"],
        "teacher": d.teacher, "temperature": d.temperature, "alpha": d.alpha,
    }


# --- Helpers --------------------------------------------------------------------------------------


def _fit(classifier, config, workdir, train):
    e = config.eval
    dataset, batch_size, num_examples = train.repeated(e.batch_size)
    fine_tune(
        classifier, dataset, e.epochs, batch_size=batch_size, num_examples=num_examples,
        callbacks=_callbacks(workdir), **_training_kwargs(config),
    )


def _training_kwargs(config):
    """The optimiser, schedule and compile settings shared by every mode's `fit`."""
    e = config.eval
    return dict(
        optimizer_settings=OptimizerSettings(
            optimizer=e.optimizer, base_learning_rate=e.base_learning_rate,
            learning_rate_scaling=e.learning_rate_scaling, momentum=e.momentum,
            weight_decay=e.weight_decay, warmup_epochs=e.warmup_epochs,
        ),
        seed=config.seed, verbose=_verbose(), compile_kwargs=dict(
            jit_compile=config.jit_compile, steps_per_execution=config.steps_per_execution
        ),
    )


def _callbacks(workdir):
    return [
        ResumableCheckpoint(wd.join(workdir.workdir, "checkpoints")),
        CSVHistory(wd.join(workdir.out, "history.csv"), append=True),
        keras.callbacks.TensorBoard(wd.join(workdir.out, "tensorboard")),
    ]


def _simclr_model(model, mode):
    if isinstance(model, ExportedEncoder) or not hasattr(model, "projection_head"):
        raise ValueError(
            f"{mode} starts from a pretrained SimCLR model (a pretraining work directory, "
            "checkpoint or .keras file); an exported encoder or a classifier cannot be "
            f"fine-tuned here. Received: {model!r}"
        )
    return model


def _image_size(model, config):
    """The encoder's input size: the pretrained model's own, else the config's."""
    return getattr(getattr(model, "augment", None), "image_size", None) or config.image_size


def _verbose():
    return 1 if sys.stdout.isatty() else 2  # the live bar on a terminal, one line per epoch in logs
