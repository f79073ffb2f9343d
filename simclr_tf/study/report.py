"""Per study: `results.csv` (every run), `table.md` (each cell's mean ± sd over its seeds beside
the paper's number, the floors, the verdicts), `verdicts.json` and a figure in the paper's form
with error bars (`figure.png`; a heatmap for Figure 5)."""

import csv
import json
import math
import os

try:  # an optional dependency (the `demo` extra): fail before an hour of runs, not after
    import matplotlib
except ImportError as e:
    raise ImportError(
        "The study command draws its figures with matplotlib, which is not installed: "
        "pip install 'simclr_tf[demo]' (or matplotlib)."
    ) from e

matplotlib.use("Agg")  # files only: no display is needed (or present on a server)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from simclr_tf.augment.composed_augment import TRANSFORMS  # noqa: E402
from simclr_tf.study import paper  # noqa: E402
from simclr_tf.study.verdicts import verdicts  # noqa: E402

_PARAMS = ("first", "second", "method", "strength", "head", "output_dim", "loss", "temperature",
           "margin", "l2_norm", "batch_size", "epochs", "depth", "width")
_METRICS = ("top1", "top1_gh", "contrast_acc", "contrast_entropy", "pretrain_loss", "seconds")
_SOURCE = {"color_strength": "Table 1", "loss_function": "Table 4", "temperature": "Table 5",
           "augmentation_composition": "Figure 5", "projection_head": "Figure 8",
           "batch_size_epochs": "Figure 9", "model_size": "Figure 7"}


def summarize(results):
    """One row per cell (grid order) from its runs: the cell's parameters, `n` (seeds), and per
    metric its mean and sample standard deviation (`<metric>_sd`, 0 for one seed)."""
    rows = {}
    for r in results:
        rows.setdefault(r["name"], []).append(r)
    out = []
    for name, runs in rows.items():
        row = {k: v for k, v in runs[0].items() if k not in _METRICS and k != "seed"}
        row["n"] = len(runs)
        row["seeds"] = [r.get("seed") for r in runs]
        for m in _METRICS:
            values = [r[m] for r in runs if m in r]
            if values:
                row[m] = float(np.mean(values))
                row[m + "_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        out.append(row)
    return out


def _pct(x, sd=None, n=1):
    if x is None:
        return "-"
    return f"{100 * x:.1f}" + (f" ± {100 * sd:.1f}" if sd is not None and n > 1 else "")


def _paper_value(study, r):
    """The paper's number for a cell's setting (top-1 %), a note where there is none."""
    if study == "color_strength":
        return paper.TABLE_1[r["method"]].get(r["strength"])
    if study == "loss_function":
        return paper.TABLE_4.get(r["loss"])
    if study == "temperature":
        row = paper.TABLE_5.get((bool(r["l2_norm"]), float(r["temperature"])))
        return None if row is None else row[2]
    return None


def _paper_cell(study, r):
    value = _paper_value(study, r)
    if study == "temperature" and value is not None:
        entropy, acc, _ = paper.TABLE_5[(bool(r["l2_norm"]), float(r["temperature"]))]
        return f"{value} (entropy {entropy}, acc. {acc})"
    return "-" if value is None else str(value)


def write_csv(results, path):
    columns = ["name", "kind", "seed"] + [c for c in _PARAMS + _METRICS
                                          if any(c in r for r in results)]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for r in results:
            writer.writerow(r)


def _floor_lines(floors):
    if not floors:
        return []
    lines = ["", "Floor: the encoder randomly initialised and never trained, the same linear "
             "evaluation (mean ± sd over seeds):"]
    for row in summarize(floors):
        chance = f"; chance {100 / row['num_classes']:.1f} %" if "num_classes" in row else ""
        label = "" if row["name"] == "base" else f"{row['name']}: "
        lines.append(f"- {label}top-1 {_pct(row['top1'], row.get('top1_sd'), row['n'])} % "
                     f"(n={row['n']}){chance}")
    return lines


def table_markdown(study, rows, budget, floors=None, found=()):
    params = [c for c in _PARAMS if any(c in r for r in rows)]
    metrics = ["top1"] + (["top1_gh"] if any("top1_gh" in r for r in rows) else [])
    extra = [m for m in ("contrast_acc", "contrast_entropy") if any(m in r for r in rows)]
    header = (params + ["seeds"] + [f"ours {m} %" for m in metrics]
              + [m + (" %" if m == "contrast_acc" else "") for m in extra]
              + [f"paper ({_SOURCE[study]}) top-1 %"])
    lines = [f"# {study} ({budget} budget)", "", f"Paper: {paper.FINDINGS[study]}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        row = [str(r.get(p, "")) for p in params] + [str(r["n"])]
        row += [_pct(r.get(m), r.get(m + "_sd"), r["n"]) for m in metrics]
        # contrast_acc in % as the paper's Table 5 prints it; the entropy in nats.
        row += ["-" if m not in r else _pct(r[m], r[m + "_sd"], r["n"]) if m == "contrast_acc"
                else f"{r[m]:.2f}" for m in extra]
        row.append(_paper_cell(study, r))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "top1: linear evaluation on h (encoder output); top1_gh: on g(h) (projection "
              "output); mean ± sample sd over the cell's seeds; contrast_acc / contrast_entropy: "
              "the last pretraining epoch's means (Table 5's columns). Supervised rows: the "
              "supervised network's own top-1. "
              + ("" if study in ("color_strength", "loss_function", "temperature")
                 else f"Paper: {paper.FIGURE_ONLY}.")]
    lines += _floor_lines(floors)
    if found:
        lines += ["", "Verdicts (computed: reproduced when the contrast exceeds twice its "
                  "standard error; see simclr_tf/study/verdicts.py):"]
        lines += [f"- {v['line']}" for v in found]
    return "\n".join(lines) + "\n"


def _bars(ax, study, rows):
    labels = [r["name"] for r in rows]
    x = np.arange(len(labels))
    series = [("h", "top1")] + ([("g(h)", "top1_gh")] if study == "projection_head" else [])
    papers = [_paper_value(study, r) for r in rows]
    width = 0.8 / (len(series) + (1 if any(p is not None for p in papers) else 0))
    for i, (label, m) in enumerate(series):
        means = [100 * r.get(m, np.nan) for r in rows]
        sds = [100 * r.get(m + "_sd", 0.0) for r in rows]
        ax.bar(x + (i - 0.5 * (len(series) - 1)) * width, means, width, yerr=sds, capsize=2,
               label=f"ours, {label} (mean ± sd)")
    if any(p is not None for p in papers):
        ax.bar(x + 0.5 * len(series) * width, [np.nan if p is None else p for p in papers],
               width, color="lightgrey", label="paper (ImageNet)")
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)


def _curves(ax, study, rows):
    for method in ("simclr", "supervised"):
        mine = [r for r in rows if r.get("method") == method]
        if study == "color_strength":
            x = np.arange(len(mine))
            ax.errorbar(x, [100 * r["top1"] for r in mine], [100 * r["top1_sd"] for r in mine],
                        fmt="o-", capsize=3, label=f"{method} (ours)")
            ax.plot(x, [paper.TABLE_1[method].get(r["strength"]) for r in mine], "x--",
                    label=f"{method} (paper, ImageNet)")
            ax.set_xticks(x, [r["strength"] for r in mine])
            ax.set_xlabel("colour distortion strength")
        else:
            x = [r["depth"] * r["width"] ** 2 for r in mine]  # ~ parameters, relative
            ax.errorbar(x, [100 * r["top1"] for r in mine], [100 * r["top1_sd"] for r in mine],
                        fmt="o", capsize=3, label=method)
            for xi, r in zip(x, mine):
                ax.annotate(f"R{r['depth']}x{r['width']}", (xi, 100 * r["top1"]), fontsize=7)
            ax.set_xscale("log")
            ax.set_xlabel("depth x width^2 (relative size)")


def _heatmap(fig, ax, rows):
    names = [t for t in TRANSFORMS if any(r["first"] == t for r in rows)]
    grid = np.full((len(names), len(names) + 1), np.nan)
    sd = np.full_like(grid, np.nan)
    for r in rows:
        i, j = names.index(r["first"]), names.index(r["second"])
        grid[i, j], sd[i, j] = 100 * r["top1"], (100 * r["top1_sd"] if r["n"] > 1 else np.nan)
    grid[:, -1] = np.nanmean(grid[:, :-1], axis=1)
    image = ax.imshow(grid, cmap="Greens")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            text = f"{grid[i, j]:.1f}" + ("" if math.isnan(sd[i, j]) else f"\n±{sd[i, j]:.1f}")
            ax.text(j, i, text, ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(names) + 1), names + ["Average"], rotation=45)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("2nd transformation")
    ax.set_ylabel("1st transformation")
    fig.colorbar(image, ax=ax, label="linear eval top-1 % (± sd where several seeds)")


def _figure(study, rows, path, floors=None):
    fig, ax = plt.subplots(figsize=(8, 5))
    if study == "augmentation_composition":
        _heatmap(fig, ax, rows)
    elif study in ("color_strength", "model_size"):
        _curves(ax, study, rows)
    else:
        _bars(ax, study, rows)
    if floors and study != "augmentation_composition":
        for row in summarize(floors):
            label = "random init (floor)" + ("" if row["name"] == "base" else f" {row['name']}")
            ax.axhline(100 * row["top1"], color="grey", linestyle="--", linewidth=1, label=label)
    if study != "augmentation_composition":
        ax.legend(fontsize=7)
    ax.set_ylabel("top-1 %")
    ax.set_title(f"{study} (ours); paper: {paper.FINDINGS[study].split(':')[0]}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def mean_curves(results):
    """{cell: (mean, sd)} of the contrastive accuracy after each epoch over the cell's seeds
    (runs with a `curve`; seeds of one cell share their length, else the shortest counts)."""
    curves = {}
    for r in results:
        if r.get("curve"):
            curves.setdefault(r["name"], []).append(r["curve"])
    out = {}
    for name, runs in curves.items():
        length = min(len(c) for c in runs)
        stacked = np.array([c[:length] for c in runs])
        out[name] = (stacked.mean(0), stacked.std(0, ddof=1) if len(runs) > 1 else 0 * stacked[0])
    return out


def _curves_figure(curves, path):
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, (mean, sd) in curves.items():
        epochs = np.arange(1, len(mean) + 1)
        ax.plot(epochs, 100 * mean, marker="o", markersize=3, label=name)
        ax.fill_between(epochs, 100 * (mean - sd), 100 * (mean + sd), alpha=0.15)
    ax.set_xlabel("pretraining epoch")
    ax.set_ylabel("contrastive accuracy % (mean ± sd over seeds)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(study, results, workdir, budget, floors=None):
    """Writes results.csv, table.md, verdicts.json and figure.png from the runs (one result per
    cell and seed) and the floors' runs, and learning_curves.png where runs carry a `curve` (the
    contrastive accuracy after each epoch); returns the verdict lines."""
    rows = summarize(results)
    found = verdicts(study, rows)
    write_csv(results, os.path.join(workdir, "results.csv"))
    with open(os.path.join(workdir, "table.md"), "w") as f:
        f.write(table_markdown(study, rows, budget, floors, found))
    with open(os.path.join(workdir, "verdicts.json"), "w") as f:
        json.dump(found, f, indent=2)
    _figure(study, rows, os.path.join(workdir, "figure.png"), floors)
    curves = mean_curves(results)
    if curves:
        _curves_figure(curves, os.path.join(workdir, "learning_curves.png"))
    return [f"verdict: {v['line']}" for v in found]
