"""The end-of-run reports: linear evaluation of the pretrained encoder against two baselines,
and a retrieval grid (nearest neighbours in feature space; no labels needed, `retrieval_grid`).

Used by the offline demo (README's first command) and by any config with
`eval.compare_baselines = True`: the SimCLR encoder, the same encoder randomly initialised, and a
linear model on raw pixels are each evaluated with the same protocols on the same data, and
the table, `results.json`, a PNG of the training curves and a PNG grid of views are written.

SimCLR's value is label efficiency, so each representation is evaluated four ways on frozen
features: a linear classifier trained with 1 %, 10 % and 100 % of the training labels (the
paper's semi-supervised fractions, class-stratified and seeded), and a kNN classifier (k = 200,
cosine, all labels). The 1 % and 10 % classifiers see their labelled subset repeated to the size
of the whole training set, so every column trains the same number of steps at the same batch
size and learning rate: only the number of distinct labelled images differs.
"""

import csv
import io

import numpy as np
import tensorflow as tf
from absl import logging

from simclr_tf import builders
from simclr_tf import workdir as wd
from simclr_tf.data import sample_images
from simclr_tf.protocols.features import extract_features
from simclr_tf.protocols.knn import knn_accuracy
from simclr_tf.protocols.label_fractions import stratified_fraction
from simclr_tf.protocols.linear_eval import standardize_features, train_linear_classifier
from simclr_tf.visualize import visualize_retrieval, visualize_views

# The label fractions of the report's low-label columns (the paper's 1 % and 10 %), and the
# kNN classifier's neighbours (as the online kNN monitor and lightly / solo-learn report it).
LABEL_FRACTIONS = (0.01, 0.1)
KNN_K = 200


def evaluate_features(train_features, train_labels, test_features, test_labels, num_classes,
                      standardize=False, seed=0, **kwargs):
    """Linear evaluation with 100 % and `LABEL_FRACTIONS` of the labels, and kNN, on features.

    Args:
        train_features, test_features: (N, D) arrays of one frozen representation.
        train_labels, test_labels: (N,) integer labels.
        num_classes: number of classes.
        standardize: z-score the features with the training statistics (of all N training
            images, as a frozen preprocessing step) before every classifier, kNN included.
        seed: seeds the labelled subsets (`stratified_fraction`) and the classifiers.
        **kwargs: `train_linear_classifier`'s `epochs`, `batch_size`, `base_learning_rate`,
            `weight_decay`.

    Returns:
        dict: `top1`, `top5`, `train_top1` of the classifier on all labels; `top1_1pct`,
        `top1_10pct` (one key per fraction, `top1_{100 * f:g}pct`); `knn_top1`.
    """
    train_features = np.asarray(train_features, np.float32)
    test_features = np.asarray(test_features, np.float32)
    train_labels = np.asarray(train_labels).reshape(-1)
    if standardize:
        train_features, test_features = standardize_features(train_features, test_features)
    common = dict(num_classes=num_classes, seed=seed, **kwargs)
    result = train_linear_classifier(train_features, train_labels, test_features, test_labels,
                                     **common)
    for fraction in LABEL_FRACTIONS:
        keep = stratified_fraction(train_labels, fraction, seed=seed)
        # Repeated to the whole set's size: the same steps and batches as the 100 % classifier.
        keep = np.resize(keep, len(train_labels))
        subset = train_linear_classifier(train_features[keep], train_labels[keep], test_features,
                                         test_labels, **common)
        result[f"top1_{100 * fraction:g}pct"] = subset["top1"]
    result["knn_top1"] = knn_accuracy(train_features, train_labels, test_features, test_labels,
                                      num_classes, k=KNN_K)
    return result


def evaluation_report(model, config, workdir, train, test, num_classes, summary):
    """Evaluates the three representations (`evaluate_features`), writes the report files and
    returns the results dict (`results.json`'s content).

    Args:
        model: the pretrained `SimCLR` model.
        config: the run's config (for the random-init twin and the eval settings).
        workdir: where `results.json`, `training_curves.png` and `views.png` go.
        train, test: `(images, labels)` numpy arrays for the linear evaluation.
        num_classes: number of classes.
        summary: values to carry into `results.json` (e.g. `wall_time_s`).
    """
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

    def evaluate(encoder):
        embed = lambda x: extract_features(encoder, x, e.batch_size)  # noqa: E731
        return evaluate_features(embed(train[0]), train[1], embed(test[0]), test[1],
                                 standardize=standardize, **kwargs)

    results = {"simclr": evaluate(model)}
    # Built after the first evaluation seeded the global generator, as it always was: the
    # random-init baseline of a seed stays the same from run to run.
    random_model = builders.build_pretrainer(config, num_classes=None)
    random_model(train[0][:2])
    results["random_init"] = evaluate(random_model)
    # Raw pixels are always z-scored: unscaled 0-1 pixels would handicap this baseline.
    flat = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255.0  # noqa: E731
    results["raw_pixels"] = evaluate_features(
        flat(train[0]), train[1], flat(test[0]), test[1], standardize=True, **kwargs)

    payload = {
        "simclr_top1": results["simclr"]["top1"],
        "random_init_top1": results["random_init"]["top1"],
        "raw_pixels_top1": results["raw_pixels"]["top1"],
        "simclr_top5": results["simclr"]["top5"],
        "random_init_top5": results["random_init"]["top5"],
        "raw_pixels_top5": results["raw_pixels"]["top5"],
        **{f"{name}_{key}": r[key] for name, r in results.items() for key in sorted(r)
           if key.startswith("top1_") or key == "knn_top1"},
        "linear_eval": {
            "train_examples": int(len(train[0])),
            "test_examples": int(len(test[0])),
            "epochs": int(e.epochs),
            "protocol": "frozen features, zero-init linear layer, Nesterov SGD, cosine decay",
            "label_fractions": [float(f) for f in LABEL_FRACTIONS],
            "knn_k": KNN_K,
            "standardized_features": standardize,
        },
        **{k: v for k, v in summary.items() if isinstance(v, (int, float, str))},
    }
    write_json(wd.join(workdir, "results.json"), payload)
    print(format_table(results))
    if e.plots:
        plot_history(wd.join(workdir, "history.csv"), wd.join(workdir, "training_curves.png"))
        visualize_views(train[0][:6], model.augment, wd.join(workdir, "views.png"))
    return payload


def retrieval_grid(model, source, config, workdir):
    """Writes `retrieval.png` into `workdir` and returns its path: `retrieval.num_queries` images
    of the training data beside their nearest neighbours (cosine of the encoder's features, the
    evaluation centre crop) among `retrieval.num_examples` images drawn from `source` with the
    run's seed (`simclr_tf.visualize.visualize_retrieval`). Needs no labels."""
    r = config.retrieval
    images = sample_images(source, r.num_examples, seed=config.seed)
    features = extract_features(model, images, config.eval.batch_size)
    path = wd.join(workdir, "retrieval.png")
    visualize_retrieval(images, features, path, r.num_queries, r.num_neighbours)
    logging.info("Retrieval grid: %s (%d queries, each beside its nearest neighbours among %d "
                 "training images).", path, min(r.num_queries, len(features)), len(features))
    return path


def format_table(results):
    """The report's table: top-1 with 1 % / 10 % / 100 % of the labels, top-5, kNN top-1."""
    rows = [
        ("SimCLR encoder (pretrained)", results["simclr"]),
        ("same encoder, random init", results["random_init"]),
        ("linear model on raw pixels", results["raw_pixels"]),
    ]
    fractions = [f"top1_{100 * f:g}pct" for f in LABEL_FRACTIONS]
    heads = [f"{100 * f:g}% lab" for f in LABEL_FRACTIONS] + ["top-1", "top-5", "kNN"]
    lines = ["", f"{'linear evaluation (top-1 %)':<30}" + "".join(f" {h:>8}" for h in heads),
             "-" * (30 + 9 * len(heads))]
    for name, r in rows:
        values = [r[k] for k in fractions] + [r["top1"], r["top5"], r["knn_top1"]]
        lines.append(f"{name:<30}" + "".join(f" {100 * v:7.2f}%" for v in values))
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
