"""`python -m simclr_tf.study`: every study end to end at the tiny budget (cells, resume,
table, CSV, figure, the random-init floor), the grids, and the small budget's time."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from simclr_tf.study import STUDIES, cells_for, run_study
from simclr_tf.study import budgets
from simclr_tf.study.runner import cell_config


# Every study end to end at tiny takes 1-3 min each on the shared 2-core machine (tracing of a
# train step per cell dominates): temperature runs whole in the default suite (with the resume
# check below); each of the six others runs its own cell for real beside finished ones
# (`test_each_study_runs_its_own_cell_and_writes_its_report`), and whole under -m large.
_LARGE = pytest.mark.large

# Per study, the cell whose code path is that study's own: an ordered asymmetric composition,
# the supervised baseline with blur, no projection head (g(h) = h), a loss with semi-hard
# mining, a batch in micro-batches, a model-size cell.
_OWN_CELL = {
    "augmentation_composition": "color-crop",
    "color_strength": "supervised-s1_blur",
    "projection_head": "none",
    "loss_function": "margin_triplet-sh-m0.4",
    "batch_size_epochs": "b16-e1",
    "model_size": "simclr-r18x0.0625",
}


@pytest.mark.parametrize("study", sorted(_OWN_CELL))
def test_each_study_runs_its_own_cell_and_writes_its_report(tmp_path, study):
    cells = cells_for(study, "tiny")
    own = _OWN_CELL[study]
    # The other cells are finished runs (a resumed study): they are read back, not rerun.
    for number, cell in enumerate(cells):
        if cell["name"] == own:
            continue
        folder = tmp_path / "cells" / cell["name"] / "seed0"
        folder.mkdir(parents=True)
        finished = dict(name=cell["name"], kind=cell["kind"], top1=0.1 * number + 0.05,
                        top1_gh=0.1 * number, contrast_acc=0.5, contrast_entropy=2.0,
                        pretrain_loss=1.0, seconds=1.0, epochs=1, seed=0)
        finished.update(cell["params"])
        (folder / "result.json").write_text(json.dumps(finished))
    lines = []
    # (The random-init floor is test_study_end_to_end_at_tiny's.)
    results = run_study(study, str(tmp_path), budget="tiny", log=lines.append, baseline=False)
    assert [r["name"] for r in results] == [c["name"] for c in cells]
    assert not os.path.exists(tmp_path / "floors")
    for line, cell in zip(lines, cells):
        assert ("skipped" in line) == (cell["name"] != own), line
    # The cell ran with its own settings: the config its run saved carries its overrides.
    cell = next(c for c in cells if c["name"] == own)
    with open(tmp_path / "cells" / own / "seed0" / "config.json") as f:
        saved = json.load(f)["config"]
    for key, value in cell["overrides"].items():
        node = saved
        for part in key.split("."):
            node = node[part]
        assert node == value, (key, node, value)
    assert saved["mode"] == ("supervised" if cell["kind"] == "supervised" else "pretrain")
    ran = next(r for r in results if r["name"] == own)
    assert ran["seconds"] > 1.0 and ran["top1"] not in {r["top1"] for r in results if r is not ran}
    if cell["kind"] == "simclr":
        assert np.isfinite(ran["pretrain_loss"]) and 0.0 < ran["contrast_acc"] <= 1.0
    if study == "projection_head":  # g(h) = h without a head: evaluated once, not twice
        assert "top1_gh" not in ran
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == [c["name"] for c in cells]
    assert f"{100 * ran['top1']:.1f}" in (tmp_path / "table.md").read_text()
    assert os.path.getsize(tmp_path / "figure.png") > 1000


@pytest.mark.parametrize(
    "study", [s if s == "temperature" else pytest.param(s, marks=_LARGE) for s in STUDIES]
)
def test_study_end_to_end_at_tiny(tmp_path, study):
    lines = []
    results = run_study(study, str(tmp_path), budget="tiny", log=lines.append)
    cells = cells_for(study, "tiny")
    assert [r["name"] for r in results] == [c["name"] for c in cells]
    runs = [line for line in lines if " run " in line]
    assert len(runs) == len(cells) and "left" in runs[0]
    assert any("floor base seed 0" in line or "floor r18" in line for line in lines)
    for cell in cells:
        assert os.path.exists(tmp_path / "cells" / cell["name"] / "seed0" / "result.json")
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == [c["name"] for c in cells]
    table = (tmp_path / "table.md").read_text()
    assert table.count("\n| ") == len(cells) + 1  # header + one row per cell
    assert os.path.getsize(tmp_path / "figure.png") > 1000
    if any(c["kind"] == "simclr" for c in cells):
        assert os.path.getsize(tmp_path / "learning_curves.png") > 1000
    if study == "projection_head":
        assert all(("top1_gh" in r) == (r["name"] != "none") for r in results)
    # The floor: the same linear evaluation of the base encoder, untrained, as a direct call
    # computes it (a trained or another encoder gives other features, so another top-1).
    floor_name = "r18x0.0625" if study == "model_size" else "base"
    with open(tmp_path / "floors" / floor_name / "seed0" / "result.json") as f:
        floor = json.load(f)
    assert f"top-1 {100 * floor['top1']:.1f} % (n=1); chance 10.0 %" in table
    if study == "temperature":  # the paper's Table 5 beside ours; then resume
        assert "60.7 (entropy 8.2, acc. 68.2)" in table and "contrast_entropy" in table
        from simclr_tf import builders
        from simclr_tf.study.runner import linear_eval_cell

        keras.utils.set_random_seed(0)
        config = cell_config({"kind": "simclr", "overrides": {}}, "tiny")
        direct = linear_eval_cell(builders.build_pretrainer(config, 10), config, 10, False)
        assert floor["top1"] == direct["top1"], (floor, direct)
        assert not os.path.exists(tmp_path / "floors" / "base" / "seed0" / "checkpoints")
        lines = []
        assert run_study(study, str(tmp_path), budget="tiny", log=lines.append) == results
        assert all("skipped" in line for line in lines if " run " in line)
        with open(tmp_path / "floors" / "base" / "seed0" / "result.json") as f:
            assert json.load(f)["seconds"] == floor["seconds"]  # read back, not remeasured
    if study == "color_strength":
        assert {r["kind"] for r in results} == {"simclr", "supervised"} and "| 59.6 |" in table


@pytest.mark.large
def test_resume_skips_finished_cells(tmp_path):
    first = run_study("temperature", str(tmp_path), budget="tiny", log=lambda _: None)
    os.remove(tmp_path / "cells" / first[1]["name"] / "seed0" / "result.json")
    lines = []
    again = run_study("temperature", str(tmp_path), budget="tiny", log=lines.append)
    runs = [line for line in lines if " run " in line]
    assert len(runs) == 2 and "skipped" in runs[0] and "skipped" not in runs[1]
    assert again[0] == first[0]  # read back, not rerun


def test_grids_and_overrides():
    fig5 = cells_for("augmentation_composition", "small")
    assert len(fig5) == 49 and fig5[1]["overrides"]["augment.transforms"] == "crop,cutout"
    assert fig5[0]["overrides"]["augment.transforms"] == "crop"  # the diagonal: one stage
    config = cell_config(fig5[1], "small")
    assert config.augment.asymmetric and config.augment.transforms == "crop,cutout"
    losses = cells_for("loss_function", "small")
    config = cell_config(losses[-1], "small")
    assert config.loss.name == "margin_triplet" and config.loss.semi_hard and config.loss.margin == 0.8
    supervised = [c for c in cells_for("color_strength", "small") if c["kind"] == "supervised"]
    assert len(supervised) == 5 and cell_config(supervised[0], "small").mode == "supervised"
    # Figure 9 reaches batch 1,024 on a CPU through micro-batches of 32 (exact gradient).
    fig9 = {c["name"]: cell_config(c, "small") for c in cells_for("batch_size_epochs", "small")}
    assert max(c.batch_size for c in fig9.values()) == 1024
    # Every cell normalises over 32 images (ghost batch norm through the micro-batches).
    assert {c.batch_size: c.model.micro_batch_size for c in fig9.values()} == {
        32: 0, 128: 32, 512: 32, 1024: 32}
    with pytest.raises(ValueError, match="study='fig5'"):
        cells_for("fig5", "tiny")


@pytest.mark.parametrize("study", STUDIES)
def test_small_budget_fits_its_time(study):
    """The small grids' estimated time (from the measured per-epoch and per-run costs), every
    cell at each of its seeds, stays within the study's hour and uses most of it."""
    cells = cells_for(study, "small")
    epoch_s, cell_s = budgets.small_costs(study)
    seeds = len(budgets.DEFAULT_SEEDS["small"])
    runs = [(c["overrides"]["epochs"], min(c.get("num_seeds") or seeds, seeds)) for c in cells]
    estimate = sum(n * (e * epoch_s + cell_s) for e, n in runs)
    assert 0.6 * budgets.SMALL_BUDGET_SECONDS <= estimate <= budgets.SMALL_BUDGET_SECONDS, (study, estimate)
    # Every cell a verdict compares runs three seeds (Figure 5: the cells with crop).
    compared = {c["name"] for c in cells if c.get("num_seeds") is None}
    if study == "augmentation_composition":
        assert compared == {c["name"] for c in cells if "crop" in c["name"]} and len(compared) == 13
    else:
        assert compared == {c["name"] for c in cells}


def _blur_layer(augment):
    """The blur stage a study's augmentation applies, or None."""
    if hasattr(augment, "stages"):  # ComposedAugment
        return augment.stages.get("blur")
    return augment.gaussian_blur if augment.blur else None


@pytest.mark.parametrize("budget", ["tiny", "small"])
def test_blur_blurs_wherever_a_study_applies_it(budget):
    """At 16 px the reference's kernel rule gives radius 0: a cell that names blur must still
    blur (the study budgets' `augment.blur_min_radius`)."""
    import tensorflow as tf

    from simclr_tf import builders

    checked = set()
    for study in STUDIES:
        for cell in cells_for(study, budget):
            config = cell_config(cell, budget)
            blur = _blur_layer(builders.build_augment(config))
            if blur is None:
                continue
            size = config.image_size
            images = tf.random.stateless_uniform((3, size, size, 3), seed=(1, 2))
            forced = {"blur": tf.ones([3], tf.bool), "sigma": tf.fill([3], 1.0)}
            blurred = blur.transform_images(images, forced)
            change = float(tf.reduce_max(tf.abs(blurred - images)))
            assert change > 0.05, (study, cell["name"], size, change)
            checked.add((study, size))
    # Blur appears in Figure 5 (16 px at small) and Table 1's "1 + blur" cells.
    assert {s for s, _ in checked} == {"augmentation_composition", "color_strength"} or (
        budget == "tiny" and {s for s, _ in checked} == {"color_strength"})


def _margin_gradients(margin, noise):
    import tensorflow as tf

    from simclr_tf.losses import margin_triplet_loss

    rng = np.random.default_rng(0)
    z1 = rng.normal(size=(128, 64)).astype(np.float32)
    z2 = tf.constant(z1 + noise * rng.normal(size=z1.shape).astype(np.float32))
    z1 = tf.constant(z1)
    with tf.GradientTape() as tape:
        tape.watch(z1)
        loss = margin_triplet_loss(z1, z2, margin=margin, semi_hard=True)
    return tape.gradient(loss, z1).numpy()


def test_semi_hard_margins_select_different_anchors():
    """With semi-hard mining every margin above the largest positive-to-negative gap gives the
    same gradient (0.8 and 1.6 did): the grid's margins must each train differently, early
    (positives far, noise 1) or late (positives close, noise 0.3) in training."""
    from simclr_tf.study.studies import SEMI_HARD_MARGINS

    margins = SEMI_HARD_MARGINS[True]
    grads = {m: [_margin_gradients(m, noise) for noise in (1.0, 0.3)] for m in margins}
    for i, a in enumerate(margins):
        for b in margins[i + 1:]:
            differ = [not np.allclose(ga, gb, atol=1e-7) for ga, gb in zip(grads[a], grads[b])]
            assert any(differ), (a, b)
    cells = [c for c in cells_for("loss_function", "small")
             if c["overrides"]["loss.name"] == "margin_triplet" and c["overrides"]["loss.semi_hard"]]
    assert sorted(c["overrides"]["loss.margin"] for c in cells) == sorted(margins)


def test_floors_one_per_encoder_size():
    from simclr_tf.study.studies import floors_for

    sizes = floors_for("model_size", "small")
    assert [f["name"] for f in sizes] == ["r18x0.0625", "r18x0.125", "r18x0.25", "r34x0.125"]
    config = cell_config({"kind": "simclr", "overrides": sizes[2]["overrides"]}, "small")
    assert (config.model.depth, config.model.width_multiplier) == (18, 0.25)
    assert [f["name"] for f in floors_for("temperature", "small")] == ["base"]


def test_study_cell_on_a_folder_of_mixed_sizes(tmp_path):
    """Images of several sizes reach linear evaluation as canvases, streamed in batches (the
    `paper` budget's ImageNet crashed here on a dict of arrays)."""
    from PIL import Image

    from simclr_tf.study.runner import run_cell

    rng = np.random.default_rng(0)
    for split, count in (("train", 24), ("test", 12)):
        for k in range(count):
            folder = tmp_path / "data" / split / f"class{k % 3}"
            folder.mkdir(parents=True, exist_ok=True)
            h, w = [int(v) for v in rng.integers(12, 40, 2)]
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
                folder / f"{k}.png")
    cell = {"name": "mixed", "kind": "simclr", "params": {}, "projection": True,
            "overrides": {"num_train_examples": 16, "study_eval_examples": 0}}
    result = run_cell(cell, str(tmp_path / "cell"), "tiny", dataset=f"dir:{tmp_path / 'data'}")
    assert 0.0 <= result["top1"] <= 1.0 and 0.0 <= result["top1_gh"] <= 1.0
    assert result["top1"] in {k / 12 for k in range(13)}  # all 12 test images, 3 classes


def test_paper_budget_evaluates_with_the_reference_protocol():
    """At `paper` the linear evaluation is the linear_eval mode with
    tf_configs/imagenet_linear_eval.py's protocol, not cached centre-crop features."""
    import importlib.util

    from simclr_tf.study.budgets import base_config, paper_linear_eval

    spec = importlib.util.spec_from_file_location(
        "imagenet_linear_eval", os.path.join(os.path.dirname(__file__), "..", "tf_configs",
                                             "imagenet_linear_eval.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    reference = module.get_config().eval
    config = paper_linear_eval(base_config("paper"))
    assert config.mode == "linear_eval" and config.eval.augment
    for key in ("augment", "epochs", "batch_size", "optimizer", "momentum", "base_learning_rate",
                "learning_rate_scaling", "weight_decay", "warmup_epochs", "bn_training"):
        assert config.eval[key] == reference[key], key


def test_learning_curve_reads_one_row_per_epoch(tmp_path):
    """A run killed between its CSV row and its checkpoint logs that epoch again on resume:
    the curve keeps the last row of each epoch."""
    from simclr_tf.study.runner import learning_curve

    (tmp_path / "history.csv").write_text(
        "epoch,contrast_acc,loss\n0,0.1,5\n1,0.2,4\n1,0.25,4\n2,0.3,3\n")
    assert learning_curve(str(tmp_path)) == [0.1, 0.25, 0.3]
    assert learning_curve(str(tmp_path / "missing")) == []
