"""Runs a study's cells: pretraining (the training command's `pretrain`) or the supervised
baseline, then linear evaluation on h (and g(h)), each seed of each cell in its own folder
(`cells/<cell>/seed<k>`).

A run is finished when its `result.json` exists: re-running skips it. An interrupted run resumes
from its newest checkpoint (the training command's machinery). Each study also measures its
floor once per seed (`floors/<floor>/seed<k>`): the base encoder, randomly initialised and never
trained, through the same linear evaluation, so a table shows how far above an untrained network
each cell is (model_size: one floor per encoder size).
"""

import csv
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from simclr_tf import builders, data
from simclr_tf.protocols.linear_eval import train_linear_classifier
from simclr_tf.evaluation.modes import run_mode
from simclr_tf.study.budgets import DEFAULT_SEEDS, base_config, paper_linear_eval
from simclr_tf.study.report import write_report
from simclr_tf.study.studies import cells_for, floors_for
from simclr_tf.supervised import train_supervised
from simclr_tf.train import pretrain

RESULT_FILE = "result.json"
_FEATURE_BATCH = 256


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


def split_features(model, config, split):
    """(h, g(h), labels) of the evaluation transform of `split`, streamed in batches (images of
    several sizes come as canvases; nothing but the features is held in memory), the first
    `study_eval_examples` examples (0: all)."""
    source = data.get_source(config.dataset, split, config.image_size, labeled=True,
                             shuffle=False, data_dir=config.data_dir or None)
    records = source.records
    if config.get("study_eval_examples"):
        records = records.take(config.study_eval_examples)
    batches = source.batch(source.decode(records), _FEATURE_BATCH)

    @tf.function(reduce_retracing=True)
    def embed(images):
        out = model.call_outputs(images, training=False)
        return out["features"], out["head_outputs"][-1]

    hs, zs, ys = [], [], []
    for images, labels in batches:
        h, z = embed(images)
        hs.append(np.asarray(h, np.float32))
        zs.append(np.asarray(z, np.float32))
        ys.append(np.asarray(labels, np.int32).reshape(-1))
    if not ys:
        raise ValueError(f"{config.dataset} split {split!r} has no examples to evaluate on.")
    return np.concatenate(hs), np.concatenate(zs), np.concatenate(ys)


def _history(workdir):
    """The pretraining epochs' rows of history.csv, one per epoch (a resumed run may have
    logged an epoch twice: the last row of each epoch counts)."""
    path = os.path.join(workdir, "history.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = {int(row["epoch"]): row for row in csv.DictReader(f) if row.get("epoch")}
    return [rows[e] for e in sorted(rows)]


def _last_metrics(workdir):
    """The last pretraining epoch's contrastive metrics (history.csv)."""
    rows = _history(workdir)
    names = {"contrast_acc": "contrast_acc", "contrast_entropy": "contrast_entropy",
             "contrast_loss": "pretrain_loss"}
    return {ours: float(rows[-1][k]) for k, ours in names.items() if rows and k in rows[-1]}


def learning_curve(workdir):
    """Contrastive accuracy after each pretraining epoch of the run in `workdir` ([] for a
    supervised run)."""
    return [float(row["contrast_acc"]) for row in _history(workdir) if "contrast_acc" in row]


def linear_eval_cell(model, config, num_classes, projection):
    """The paper's linear evaluation of frozen features of the centre crop (h, and g(h) when
    `projection`): a zero-initialised linear classifier on features streamed from the splits."""
    train_h, train_z, train_y = split_features(model, config, config.train_split)
    test_h, test_z, test_y = split_features(model, config, config.eval_split)
    e = config.eval
    kwargs = dict(epochs=e.epochs, batch_size=min(e.batch_size, len(train_y)),
                  base_learning_rate=e.base_learning_rate, weight_decay=e.weight_decay,
                  standardize=bool(e.standardize_features), seed=config.seed)
    results = {"top1": train_linear_classifier(
        train_h, train_y, test_h, test_y, num_classes, **kwargs)["top1"]}
    if projection:
        results["top1_gh"] = train_linear_classifier(
            train_z, train_y, test_z, test_y, num_classes, **kwargs)["top1"]
    return results


def protocol_linear_eval(config, workdir):
    """The reference's linear-evaluation protocol (`tf_configs/imagenet_linear_eval.py`: the
    frozen encoder trained through with random crops, the training command's `linear_eval`
    mode) on the pretraining run in `workdir`; its top-1."""
    eval_config = paper_linear_eval(config)
    eval_config.eval.checkpoint = workdir
    return run_mode(eval_config, os.path.join(workdir, "linear_eval"))["top1"]


def run_cell(cell, workdir, budget, dataset=None, seed=0):
    """Runs one seed of one cell into `workdir` (resuming), writes and returns its result."""
    config = cell_config(cell, budget, dataset, seed)
    started = time.time()
    if cell["kind"] == "supervised":
        _, out = train_supervised(config, workdir)
        result = {"top1": out["top1"]}
    else:
        model, _ = pretrain(config, workdir)
        info = data.get_source(config.dataset, config.eval_split, config.image_size,
                               data_dir=config.data_dir or None).info
        # The paper's budget evaluates as the reference does; the CPU budgets on cached
        # centre-crop features (one encoder pass per image).
        if config.eval.augment:
            result = {"top1": protocol_linear_eval(config, workdir)}
            if cell["projection"]:
                result["top1_gh"] = linear_eval_cell(model, config, info.num_classes, True)["top1_gh"]
        else:
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


def random_init_floor(floor, workdir, budget, dataset=None, seed=0):
    """One floor of a study: linear evaluation (on h) of an encoder (the floor's overrides),
    randomly initialised with `seed` and never trained. Computed once into `workdir`, then read
    back."""
    result = load_result(workdir)
    if result is not None:
        return result
    cell = {"name": floor["name"], "kind": "simclr", "params": {}, "projection": False,
            "overrides": floor["overrides"]}
    config = cell_config(cell, budget, dataset, seed)
    started = time.time()
    info = data.get_source(config.dataset, config.eval_split, config.image_size,
                           data_dir=config.data_dir or None).info
    keras.utils.set_random_seed(seed)
    model = builders.build_pretrainer(config, num_classes=info.num_classes)
    result = linear_eval_cell(model, config, info.num_classes, projection=False)
    result.update(name=floor["name"], kind="random_init", seconds=time.time() - started,
                  epochs=0, seed=seed, num_classes=int(info.num_classes), **floor["params"])
    _write_result(workdir, result)
    return result


def load_result(workdir):
    path = os.path.join(workdir, RESULT_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def study_seeds(budget, seeds=None):
    """The seeds a study runs: `seeds`, or the budget's default (three at `small`)."""
    seeds = tuple(DEFAULT_SEEDS[budget] if seeds is None else seeds)
    if not seeds or len(set(seeds)) < len(seeds):
        raise ValueError(f"`seeds` must be distinct integers, at least one. Received: {seeds!r}")
    return seeds


def run_study(study, workdir, budget="small", dataset=None, seeds=None, log=print, baseline=True):
    """Runs every unfinished (cell, seed) of `study`, then writes its table, CSV, verdicts and
    figure.

    A cell runs with the first `cell["num_seeds"]` of `seeds` (all when it has no such key:
    augmentation_composition gives its 49 cells one seed except those its verdict compares).
    `baseline`: also measure (once per seed) the randomly initialised encoders' top-1, the
    floor the table and figure show.

    Returns the list of run results, one per (cell, seed), cells in grid order.
    """
    seeds = study_seeds(budget, seeds)
    cells = cells_for(study, budget)
    runs = [(cell, seed) for cell in cells for seed in seeds[:cell.get("num_seeds") or len(seeds)]]
    folders = [os.path.join(workdir, "cells", cell["name"], f"seed{seed}") for cell, seed in runs]
    os.makedirs(workdir, exist_ok=True)
    results, spent, ran = [], 0.0, 0
    for index, ((cell, seed), folder) in enumerate(zip(runs, folders)):
        result = load_result(folder)
        skipped = result is not None
        if not skipped:
            result = run_cell(cell, folder, budget, dataset, seed)
            spent += result["seconds"]
            ran += 1
        # The curve is read from the run's history.csv for the report, not stored twice.
        results.append(dict(result, curve=learning_curve(folder)))
        left = sum(1 for f in folders[index + 1:] if load_result(f) is None)
        eta = f"~{spent / ran * left / 60:.1f} min left" if ran else "time left unknown yet"
        status = "done before, skipped" if skipped else f"{result['seconds']:.0f} s"
        log(f"[{study}] run {index + 1}/{len(runs)} {cell['name']} seed {seed}: top-1 "
            f"{100 * result['top1']:.1f}% ({status}); {left} to run, {eta}")
    floors = []
    if baseline:
        for floor in floors_for(study, budget):
            for seed in seeds:
                folder = os.path.join(workdir, "floors", floor["name"], f"seed{seed}")
                floors.append(random_init_floor(floor, folder, budget, dataset, seed))
                log(f"[{study}] floor {floor['name']} seed {seed}: the encoder randomly "
                    f"initialised, top-1 {100 * floors[-1]['top1']:.1f}%")
    for line in write_report(study, results, workdir, budget, floors=floors):
        log(f"[{study}] {line}")
    logging.info("Study %s written to %s", study, workdir)
    return [{k: v for k, v in r.items() if k != "curve"} for r in results]
