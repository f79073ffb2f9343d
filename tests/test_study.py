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
        folder = tmp_path / "cells" / cell["name"]
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
    assert not os.path.exists(tmp_path / "baseline")
    for line, cell in zip(lines, cells):
        assert ("skipped" in line) == (cell["name"] != own), line
    # The cell ran with its own settings: the config its run saved carries its overrides.
    cell = next(c for c in cells if c["name"] == own)
    with open(tmp_path / "cells" / own / "config.json") as f:
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
    if study == "projection_head":  # g(h) = h without a head: both columns are one number
        assert ran["top1_gh"] == ran["top1"]
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
    assert len(lines) == len(cells) + 1 and "left" in lines[0] and "floor" in lines[-1]
    for cell in cells:
        assert os.path.exists(tmp_path / "cells" / cell["name"] / "result.json")
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == [c["name"] for c in cells]
    table = (tmp_path / "table.md").read_text()
    assert table.count("\n| ") == len(cells) + 1  # header + one row per cell
    assert os.path.getsize(tmp_path / "figure.png") > 1000
    if study == "projection_head":
        assert all("top1_gh" in r for r in results)
    # The floor: the same linear evaluation of the base encoder, untrained, as a direct call
    # computes it (a trained or another encoder gives other features, so another top-1).
    with open(tmp_path / "baseline" / "result.json") as f:
        floor = json.load(f)
    assert f"top-1 {100 * floor['top1']:.1f} %; chance 10.0 %" in table
    if study == "temperature":  # the paper's Table 5 beside ours; then resume
        assert "60.7 (entropy 8.2, acc. 68.2)" in table and "contrast_entropy" in table
        from simclr_tf import builders
        from simclr_tf.study.runner import linear_eval_cell

        keras.utils.set_random_seed(0)
        config = cell_config({"kind": "simclr", "overrides": {}}, "tiny")
        direct = linear_eval_cell(builders.build_pretrainer(config, 10), config, 10, False)
        assert floor["top1"] == direct["top1"], (floor, direct)
        assert not os.path.exists(tmp_path / "baseline" / "checkpoints")
        lines = []
        assert run_study(study, str(tmp_path), budget="tiny", log=lines.append) == results
        assert all("skipped" in line for line in lines[:-1])
        with open(tmp_path / "baseline" / "result.json") as f:
            assert json.load(f)["seconds"] == floor["seconds"]  # read back, not remeasured
    if study == "color_strength":
        assert {r["kind"] for r in results} == {"simclr", "supervised"} and "| 59.6 |" in table


@pytest.mark.large
def test_resume_skips_finished_cells(tmp_path):
    first = run_study("temperature", str(tmp_path), budget="tiny", log=lambda _: None)
    os.remove(tmp_path / "cells" / first[1]["name"] / "result.json")
    lines = []
    again = run_study("temperature", str(tmp_path), budget="tiny", log=lines.append)
    assert len(lines) == 2 and "skipped" in lines[0] and "skipped" not in lines[1]
    assert again[0] == first[0]  # read back, not rerun


def test_grids_and_overrides():
    fig5 = cells_for("augmentation_composition", "small")
    assert len(fig5) == 49 and fig5[1]["overrides"]["augment.transforms"] == "crop,cutout"
    assert fig5[0]["overrides"]["augment.transforms"] == "crop"  # the diagonal: one stage
    config = cell_config(fig5[1], "small")
    assert config.augment.asymmetric and config.augment.transforms == "crop,cutout"
    losses = cells_for("loss_function", "small")
    config = cell_config(losses[-1], "small")
    assert config.loss.name == "margin_triplet" and config.loss.semi_hard and config.loss.margin == 1.6
    supervised = [c for c in cells_for("color_strength", "small") if c["kind"] == "supervised"]
    assert len(supervised) == 5 and cell_config(supervised[0], "small").mode == "supervised"
    # Figure 9 reaches batch 1,024 on a CPU through micro-batches of 128 (exact gradient).
    fig9 = {c["name"]: cell_config(c, "small") for c in cells_for("batch_size_epochs", "small")}
    assert max(c.batch_size for c in fig9.values()) == 1024
    assert {c.batch_size: c.model.micro_batch_size for c in fig9.values()} == {
        32: 0, 128: 0, 512: 128, 1024: 128}
    with pytest.raises(ValueError, match="study='fig5'"):
        cells_for("fig5", "tiny")


@pytest.mark.parametrize("study", STUDIES)
def test_small_budget_fits_its_time(study):
    """The small grids' estimated time (from the measured per-epoch and per-cell costs) stays
    within its time budget (half an hour)."""
    cells = cells_for(study, "small")
    epoch_s, cell_s = budgets.small_costs(study)
    epochs = sum(c["overrides"]["epochs"] for c in cells)
    estimate = epochs * epoch_s + len(cells) * cell_s
    assert 0.6 * budgets.SMALL_BUDGET_SECONDS <= estimate <= budgets.SMALL_BUDGET_SECONDS, (study, estimate)
