"""Per study: `results.csv` (every cell), `table.md` (ours beside the paper's numbers) and a
figure in the paper's form (`figure.png`; a heatmap for Figure 5)."""

import csv
import os

import numpy as np

from simclr_tf.augment.composed_augment import TRANSFORMS
from simclr_tf.study import paper

_PARAMS = ("first", "second", "method", "strength", "head", "output_dim", "loss", "temperature",
           "margin", "l2_norm", "batch_size", "epochs", "depth", "width")
_METRICS = ("top1", "top1_gh", "contrast_acc", "contrast_entropy", "pretrain_loss", "seconds")


def _pct(x):
    return "-" if x is None else f"{100 * x:.1f}"


def _paper_value(study, r):
    """The paper's number for a cell's setting, or a note where there is none."""
    if study == "color_strength":
        return paper.TABLE_1[r["method"]].get(r["strength"])
    if study == "loss_function":
        return paper.TABLE_4.get(r["loss"])
    if study == "temperature":
        row = paper.TABLE_5.get((bool(r["l2_norm"]), float(r["temperature"])))
        return None if row is None else f"{row[2]} (entropy {row[0]}, acc. {row[1]})"
    return paper.FIGURE_ONLY


def write_csv(results, path):
    columns = ["name", "kind"] + [c for c in _PARAMS + _METRICS if any(c in r for r in results)]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for r in results:
            writer.writerow(r)


def table_markdown(study, results, budget, baseline=None):
    source = {"color_strength": "Table 1", "loss_function": "Table 4", "temperature": "Table 5",
              "augmentation_composition": "Figure 5", "projection_head": "Figure 8",
              "batch_size_epochs": "Figure 9", "model_size": "Figure 7"}[study]
    params = [c for c in _PARAMS if any(c in r for r in results)]
    metrics = ["top1"] + (["top1_gh"] if any("top1_gh" in r for r in results) else [])
    extra = [m for m in ("contrast_acc", "contrast_entropy") if any(m in r for r in results)]
    header = (params + [f"ours {m} %" for m in metrics]
              + [m + (" %" if m == "contrast_acc" else "") for m in extra]
              + [f"paper ({source}) top-1 %"])
    lines = [f"# {study} ({budget} budget)", "", f"Paper: {paper.FINDINGS[study]}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        row = [str(r.get(p, "")) for p in params] + [_pct(r.get(m)) for m in metrics]
        # contrast_acc in % as the paper's Table 5 prints it; the entropy in nats.
        row += ["-" if m not in r else _pct(r[m]) if m == "contrast_acc" else f"{r[m]:.2f}"
                for m in extra]
        value = _paper_value(study, r)
        row.append("-" if value is None else str(value))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "top1: linear evaluation on h (encoder output); top1_gh: on g(h) (projection "
              "output); contrast_acc / contrast_entropy: the last pretraining epoch's means "
              "(Table 5's columns). Supervised rows: the supervised network's own top-1."]
    if baseline is not None:
        chance = f"; chance {100 / baseline['num_classes']:.1f} %" if "num_classes" in baseline else ""
        lines += ["", f"Floor: the base encoder randomly initialised (seed {baseline['seed']}) "
                  f"and never trained, the same linear evaluation: top-1 "
                  f"{_pct(baseline['top1'])} %{chance}."]
    return "\n".join(lines) + "\n"


def _figure(study, results, path, baseline=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    if study == "augmentation_composition":
        names = [t for t in TRANSFORMS if any(r["first"] == t for r in results)]
        grid = np.full((len(names), len(names) + 1), np.nan)
        for r in results:
            grid[names.index(r["first"]), names.index(r["second"])] = 100 * r["top1"]
        grid[:, -1] = np.nanmean(grid[:, :-1], axis=1)
        image = ax.imshow(grid, cmap="Greens")
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(names) + 1), names + ["Average"], rotation=45)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("2nd transformation")
        ax.set_ylabel("1st transformation")
        fig.colorbar(image, ax=ax, label="linear eval top-1 %")
    elif study in ("color_strength", "model_size"):
        for method in ("simclr", "supervised"):
            rows = [r for r in results if r["method"] == method]
            if study == "color_strength":
                ax.plot([r["strength"] for r in rows], [100 * r["top1"] for r in rows], "o-", label=method)
                ax.set_xlabel("colour distortion strength")
            else:
                x = [r["depth"] * r["width"] ** 2 for r in rows]  # ~ parameters, relative
                ax.plot(x, [100 * r["top1"] for r in rows], "o", label=method)
                for xi, r in zip(x, rows):
                    ax.annotate(f"R{r['depth']}x{r['width']}", (xi, 100 * r["top1"]), fontsize=7)
                ax.set_xscale("log")
                ax.set_xlabel("depth x width^2 (relative size)")
        ax.legend()
    else:
        labels, values, values_gh = [], [], []
        for r in results:
            labels.append(r["name"])
            values.append(100 * r["top1"])
            values_gh.append(100 * r.get("top1_gh", np.nan))
        x = np.arange(len(labels))
        ax.bar(x - 0.2 if study == "projection_head" else x, values, 0.4 if study == "projection_head" else 0.8, label="h")
        if study == "projection_head":
            ax.bar(x + 0.2, values_gh, 0.4, label="g(h)")
            ax.legend()
        ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    if baseline is not None and study != "augmentation_composition":
        ax.axhline(100 * baseline["top1"], color="grey", linestyle="--", linewidth=1,
                   label="random init (floor)")
        ax.legend()
    ax.set_ylabel("top-1 % (ours)")
    ax.set_title(f"{study} (ours); paper: {paper.FINDINGS[study].split(':')[0]}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(study, results, workdir, budget, baseline=None):
    """`baseline`: the random-init floor's result (table line, dashed line in bar plots)."""
    write_csv(results, os.path.join(workdir, "results.csv"))
    with open(os.path.join(workdir, "table.md"), "w") as f:
        f.write(table_markdown(study, results, budget, baseline))
    _figure(study, results, os.path.join(workdir, "figure.png"), baseline)
