"""Builds simclr_tf/data/fashion_mnist_subset.npz, the embedded offline dataset.

Source: Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, Zalando Research; MIT licence), from the Debian
package `dataset-fashion-mnist` (`apt-get install dataset-fashion-mnist`), gzip IDX files in
/usr/share/datasets/fashion-mnist/.

Selection: a stratified subset with a fixed seed: for each class, the first `--train-per-class`
indices of a seed-0 permutation of the official training split, and likewise `--test-per-class`
of the official test split. Sorted by original index within the subset, so the file is stable.

    python scripts/build_embedded_dataset.py [--source DIR] [--out PATH]
"""

import argparse
import gzip
import json
import os

import numpy as np

CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:  # unsigned byte payload
        raise ValueError(f"{path}: not a uint8 IDX file (magic {magic:#x})")
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def stratified(labels, per_class, seed):
    order = np.random.default_rng(seed).permutation(len(labels))
    picked = [order[labels[order] == c][:per_class] for c in range(len(CLASS_NAMES))]
    return np.sort(np.concatenate(picked))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "simclr_tf", "data", "fashion_mnist_subset.npz"))
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--test-per-class", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    arrays = {}
    for split, prefix, per_class in [("train", "train", args.train_per_class), ("test", "t10k", args.test_per_class)]:
        images = read_idx(os.path.join(args.source, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(args.source, f"{prefix}-labels-idx1-ubyte.gz"))
        index = stratified(labels, per_class, args.seed)
        arrays[f"{split}_images"] = images[index][..., None]
        arrays[f"{split}_labels"] = labels[index].astype(np.uint8)
        arrays[f"{split}_source_index"] = index.astype(np.int32)
    meta = {
        "source": "Fashion-MNIST (Zalando Research), Debian package dataset-fashion-mnist",
        "licence": "MIT",
        "citation": "Xiao, Rasul, Vollgraf (2017), arXiv:1708.07747",
        "class_names": CLASS_NAMES,
        "selection": f"stratified, seed {args.seed}: {args.train_per_class}/class from train, "
                     f"{args.test_per_class}/class from t10k, first of a seed permutation per class",
    }
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out}: {os.path.getsize(args.out) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
