"""Label fractions for semi-supervised evaluation: ImageNet's official 1 % / 10 % subsets, and a
stratified, seeded fraction for every other dataset.

SimCLR (arXiv:2002.05709, sec. 6 / Table 7) and SimCLRv2 (arXiv:2006.10029) fine-tune on 1 % and
10 % of ImageNet's labels, using fixed image lists (google-research/simclr `imagenet_subsets/`),
which tfds ships as `imagenet2012_subset/1pct` and `imagenet2012_subset/10pct`. Other datasets
have no official subsets; `stratified_fraction` picks the same share of every class with a fixed
seed, so a run is repeatable and every class keeps at least one labelled example.
"""

import numbers

import numpy as np

# (dataset, fraction) -> the tfds name of the official subset (its `train` split).
IMAGENET_SUBSETS = {
    ("imagenet2012", 0.01): "imagenet2012_subset/1pct",
    ("imagenet2012", 0.1): "imagenet2012_subset/10pct",
}


def check_fraction(label_fraction):
    if (
        not isinstance(label_fraction, numbers.Real)
        or isinstance(label_fraction, bool)
        or not 0.0 < label_fraction <= 1.0
    ):
        raise ValueError(
            "`label_fraction` must be a number in (0, 1] (1.0 = every label). "
            f"Received: label_fraction={label_fraction!r}"
        )
    return float(label_fraction)


def stratified_fraction(labels, fraction, seed=0, min_per_class=1):
    """Indices of a class-stratified random subset: `fraction` of each class, seeded.

    Each class c with n_c examples contributes `max(min_per_class, round(fraction * n_c))`
    examples (never more than n_c), drawn without replacement by a generator seeded with
    `seed`, so the subset depends only on the labels, the fraction and the seed.

    Args:
        labels: (N,) integer labels.
        fraction: the share of each class to keep, in (0, 1].
        seed: the seed of the draw.
        min_per_class: the fewest examples a class keeps (1: no class disappears).

    Returns:
        Sorted int64 indices into `labels`.

    Example:

    ```python
    keep = stratified_fraction(train_labels, 0.1, seed=0)
    images, labels = train_images[keep], train_labels[keep]
    ```
    """
    fraction = check_fraction(fraction)
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        raise ValueError("stratified_fraction received no labels.")
    if (
        isinstance(min_per_class, bool)
        or not isinstance(min_per_class, numbers.Integral)
        or min_per_class < 0
    ):
        raise ValueError(
            f"`min_per_class` must be an integer >= 0. Received: min_per_class={min_per_class!r}"
        )
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = min(len(members), max(int(min_per_class), int(round(fraction * len(members)))))
        chosen.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def labelled_dataset(dataset, label_fraction):
    """Where the labelled training examples of `dataset` at `label_fraction` come from.

    Returns `(name, fraction)`: ImageNet at 1 % or 10 % becomes the official tfds subset with
    nothing left to subsample (`fraction` None); an `imagenet2012_subset/...` name passes through
    as it is; any other dataset keeps its name and the fraction, to be applied with
    `stratified_fraction` (None when it is 1.0: every label).
    """
    fraction = check_fraction(label_fraction)
    if dataset.startswith("imagenet2012_subset/"):
        if fraction != 1.0:
            raise ValueError(
                f"{dataset} already is a label subset; use label_fraction=1.0 with it, or "
                "dataset='imagenet2012' with label_fraction 0.01 or 0.1. "
                f"Received: label_fraction={label_fraction}"
            )
        return dataset, None
    subset = IMAGENET_SUBSETS.get((dataset, round(fraction, 6)))
    if subset is not None:
        return subset, None
    return dataset, (None if fraction == 1.0 else fraction)
