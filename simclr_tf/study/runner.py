"""Runs a study's cells: pretraining (the training command's `pretrain`) or the supervised
baseline, then linear evaluation on h (and g(h)), each in its own sub-folder.

A cell is finished when its `result.json` exists: re-running skips it. An interrupted cell
resumes from its newest checkpoint (the training command's machinery). Each study also measures
its floor once (`baseline/result.json`): the base encoder, randomly initialised and never
trained, through the same linear evaluation, so a table shows how far above an untrained
network each cell is.
"""

import csv
import json
import os
import time

import numpy as np
from absl import logging

from simclr_tf.study.budgets import SMALL_STUDY_OVERRIDES, base_config
from simclr_tf.study.studies import cells_for

RESULT_FILE = "result.json"


def cell_config(cell, budget, dataset=None, seed=0):
    """The base config of the budget with the cell's overrides (dotted keys)."""
    config = base_config(budget, dataset, seed)
    for key, value in cell["overrides"].items():
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    config.mode = "supervised" if cell["kind"] == "supervised" else "pretrain"
    return config


def _features(model, images, batch_size=256):
    """(h, g(h)) of the evaluation transform, in batches."""
    hs, zs = [], []
    for start in range(0, len(images), batch_size):
        out = model.call_outputs(images[start:start + batch_size], training=False)
        hs.append(np.asarray(out["features"], np.float32))
        zs.append(np.asarray(out["head_outputs"][-1], np.float32))
    return np.concatenate(hs), np.concatenate(zs)


def _last_metrics(workdir):
    """The last pretraining epoch's contrastive metrics (history.csv)."""
    path = os.path.join(workdir, "history.csv")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    names = {"contrast_acc": "contrast_acc", "contrast_entropy": "contrast_entropy",
             "contrast_loss": "pretrain_loss"}
    return {ours: float(rows[-1][k]) for k, ours in names.items() if rows and k in rows[-1]}


def linear_eval_cell(model, config, num_classes, projection):
    """The paper's linear evaluation on frozen features (cached, centre crop)."""
    from simclr_tf import data
    from simclr_tf.evaluation.linear_eval import train_linear_classifier

    limit = config.get("study_eval_examples") or None
    train = data.load_arrays(config.dataset, config.train_split, config.image_size, limit)
    test = data.load_arrays(config.dataset, config.eval_split, config.image_size, limit)
    train_h, train_z = _features(model, train[0])
    test_h, test_z = _features(model, test[0])
    e = config.eval
    kwargs = dict(epochs=e.epochs, batch_size=min(e.batch_size, len(train_h)),
                  base_learning_rate=e.base_learning_rate, weight_decay=e.weight_decay,
                  standardize=bool(e.standardize_features), seed=config.seed)
    results = {"top1": train_linear_classifier(
        train_h, train[1], test_h, test[1], num_classes, **kwargs)["top1"]}
    if projection:
        results["top1_gh"] = train_linear_classifier(
            train_z, train[1], test_z, test[1], num_classes, **kwargs)["top1"]
    return results


def run_cell(cell, workdir, budget, dataset=None, seed=0):
    """Runs one cell into `workdir` (resuming), writes and returns its result."""
    config = cell_config(cell, budget, dataset, seed)
    started = time.time()
    if cell["kind"] == "supervised":
        from simclr_tf.supervised import train_supervised

        _, out = train_supervised(config, workdir)
        result = {"top1": out["top1"]}
    else:
        from simclr_tf.train import pretrain

        model, summary = pretrain(config, workdir)
        from simclr_tf import data

        info = data.get_source(config.dataset, config.eval_split, config.image_size).info
        result = linear_eval_cell(model, config, info.num_classes, cell["projection"])
        result.update(_last_metrics(workdir))
    result.update(name=cell["name"], kind=cell["kind"], seconds=time.time() - started,
                  epochs=int(config.epochs), seed=seed)
    result.update(cell["params"])  # batch_size_epochs names its epochs as a parameter too
    _write_result(workdir, result)
    return result


def _write_result(workdir, result):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, RESULT_FILE + ".tmp"), "w") as f:
        json.dump(result, f, indent=2, default=str)
    os.replace(os.path.join(workdir, RESULT_FILE + ".tmp"), os.path.join(workdir, RESULT_FILE))


def random_init_baseline(study, workdir, budget, dataset=None, seed=0):
    """The study's floor: linear evaluation (on h) of its base encoder, randomly initialised
    with `seed` and never trained. Computed once into `workdir/baseline`, then read back."""
    folder = os.path.join(workdir, "baseline")
    result = load_result(folder)
    if result is not None:
        return result
    from simclr_tf import builders, data

    overrides = dict(SMALL_STUDY_OVERRIDES.get(study, {})) if budget == "small" else {}
    cell = {"name": "random-init", "kind": "simclr", "params": {}, "projection": False,
            "overrides": overrides}
    config = cell_config(cell, budget, dataset, seed)
    started = time.time()
    info = data.get_source(config.dataset, config.eval_split, config.image_size).info
    import keras

    keras.utils.set_random_seed(seed)
    model = builders.build_pretrainer(config, num_classes=info.num_classes)
    result = linear_eval_cell(model, config, info.num_classes, projection=False)
    result.update(name="random-init", kind="random_init", seconds=time.time() - started,
                  epochs=0, seed=seed, num_classes=int(info.num_classes))
    _write_result(folder, result)
    return result


def load_result(workdir):
    path = os.path.join(workdir, RESULT_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def run_study(study, workdir, budget="small", dataset=None, seed=0, log=print, baseline=True):
    """Runs every unfinished cell of `study`, then writes its table, CSV and figure.

    `baseline`: also measure (once) the randomly initialised encoder's top-1, the floor the
    table and figure show.

    Returns the list of cell results (finished cells read back from their folders).
    """
    from simclr_tf.study.report import write_report

    cells = cells_for(study, budget)
    os.makedirs(workdir, exist_ok=True)
    results, spent, ran = [], 0.0, 0
    for index, cell in enumerate(cells):
        cell_dir = os.path.join(workdir, "cells", cell["name"])
        result = load_result(cell_dir)
        skipped = result is not None
        if not skipped:
            result = run_cell(cell, cell_dir, budget, dataset, seed)
            spent += result["seconds"]
            ran += 1
        results.append(result)
        left = sum(1 for c in cells[index + 1:]
                   if load_result(os.path.join(workdir, "cells", c["name"])) is None)
        eta = f"~{spent / ran * left / 60:.1f} min left" if ran else "time left unknown yet"
        status = "done before, skipped" if skipped else f"{result['seconds']:.0f} s"
        log(f"[{study}] cell {index + 1}/{len(cells)} {cell['name']}: top-1 "
            f"{100 * result['top1']:.1f}% ({status}); {left} to run, {eta}")
    floor = random_init_baseline(study, workdir, budget, dataset, seed) if baseline else None
    if floor is not None:
        log(f"[{study}] floor: the base encoder randomly initialised, top-1 "
            f"{100 * floor['top1']:.1f}%")
    write_report(study, results, workdir, budget, baseline=floor)
    logging.info("Study %s written to %s", study, workdir)
    return results
