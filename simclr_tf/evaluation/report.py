"""The end-of-run report: linear evaluation of the pretrained encoder against two baselines.

Used by the offline demo (README's first command) and by any config with
`eval.compare_baselines = True`: the SimCLR encoder, the same encoder randomly initialised, and a
linear model on raw pixels are each evaluated with the same linear protocol on the same data, and
the table, `results.json`, a PNG of the training curves and a PNG grid of views are written.
"""

import csv
import io

import numpy as np
import tensorflow as tf
from absl import logging

from simclr_tf import workdir as wd

from simclr_tf.evaluation.linear_eval import linear_evaluation, train_linear_classifier


def evaluation_report(model, config, workdir, train, test, num_classes, summary):
    """Runs the three linear evaluations and writes the report files; returns the results dict.

    Args:
        model: the pretrained `SimCLR` model.
        config: the run's config (for the random-init twin and the eval settings).
        workdir: where `results.json`, `training_curves.png` and `views.png` go.
        train, test: `(images, labels)` numpy arrays for the linear evaluation.
        num_classes: number of classes.
        summary: values to carry into `results.json` (e.g. `wall_time_s`).
    """
    from simclr_tf import builders

    e = config.eval
    kwargs = dict(
        num_classes=num_classes,
        epochs=e.epochs,
        batch_size=e.batch_size,
        base_learning_rate=e.base_learning_rate,
        weight_decay=e.weight_decay,
        seed=config.seed,
    )
    standardize = bool(e.standardize_features)
    results = {"simclr": linear_evaluation(model, train, test, standardize=standardize, **kwargs)}
    random_model = builders.build_pretrainer(config, num_classes=None)
    random_model(train[0][:2])
    results["random_init"] = linear_evaluation(
        random_model, train, test, standardize=standardize, **kwargs
    )
    # Raw pixels are always z-scored: unscaled 0-1 pixels would handicap this baseline.
    flat = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255.0  # noqa: E731
    results["raw_pixels"] = train_linear_classifier(
        flat(train[0]), train[1], flat(test[0]), test[1], standardize=True, **kwargs
    )

    payload = {
        "simclr_top1": results["simclr"]["top1"],
        "random_init_top1": results["random_init"]["top1"],
        "raw_pixels_top1": results["raw_pixels"]["top1"],
        "simclr_top5": results["simclr"]["top5"],
        "random_init_top5": results["random_init"]["top5"],
        "raw_pixels_top5": results["raw_pixels"]["top5"],
        "linear_eval": {
            "train_examples": int(len(train[0])),
            "test_examples": int(len(test[0])),
            "epochs": int(e.epochs),
            "protocol": "frozen features, zero-init linear layer, Nesterov SGD, cosine decay",
            "standardized_features": standardize,
        },
        **{k: v for k, v in summary.items() if isinstance(v, (int, float, str))},
    }
    write_json(wd.join(workdir, "results.json"), payload)
    print(format_table(results))
    if e.plots:
        plot_history(wd.join(workdir, "history.csv"), wd.join(workdir, "training_curves.png"))
        from simclr_tf.visualize import visualize_views

        visualize_views(train[0][:6], model.augment, wd.join(workdir, "views.png"))
    return payload


def format_table(results):
    rows = [
        ("SimCLR encoder (pretrained)", results["simclr"]),
        ("same encoder, random init", results["random_init"]),
        ("linear model on raw pixels", results["raw_pixels"]),
    ]
    lines = ["", f"{'linear evaluation':<30} {'top-1':>7} {'top-5':>7}", "-" * 46]
    for name, r in rows:
        lines.append(f"{name:<30} {100 * r['top1']:6.2f}% {100 * r['top5']:6.2f}%")
    return "\n".join(lines)


def write_json(path, payload):
    """`payload` as JSON at `path` (any `tf.io.gfile` path), atomically replaced."""
    wd.write_json(path, payload)


def plot_history(csv_path, png_path):
    """Training curves (loss, contrast accuracy, kNN/probe accuracy) from Keras' CSVLogger."""
    if not tf.io.gfile.exists(csv_path):
        logging.warning("No %s: skipping the training-curve plot.", csv_path)
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with tf.io.gfile.GFile(csv_path) as f:
        rows = list(csv.DictReader(io.StringIO(f.read())))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    panels = [k for k in ("contrast_loss", "contrast_acc", "knn_top1", "probe_top1", "learning_rate") if k in rows[0]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, key in zip(np.atleast_1d(axes), panels):
        points = [(e, float(r[key])) for e, r in zip(epochs, rows) if r[key] not in ("", "NA")]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, png_path, dpi=100)
    plt.close(fig)


def save_figure(fig, path, **kwargs):
    """`fig.savefig` to any `tf.io.gfile` path (PNG)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **kwargs)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())
