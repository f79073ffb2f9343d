"""Builds simclr_tf/data/fashion_mnist_subset.npz, the embedded offline dataset.

Source: Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, Zalando Research; MIT licence), from the Debian
package `dataset-fashion-mnist` (`apt-get install dataset-fashion-mnist`): gzip IDX files in
/usr/share/datasets/fashion-mnist/.

Selection: stratified, with a fixed seed. For each split, one seed-`--seed` permutation of the
official split's indices (`numpy.random.default_rng(seed).permutation(n)`); for each class, the
first `--train-per-class` (resp. `--test-per-class`) indices of that permutation with this
label; the chosen indices are then sorted, so the subset keeps the original order.

    python scripts/build_embedded_dataset.py [--source DIR] [--out PATH] [--seed 0]

The file holds `{train,test}_images` (uint8, N x 28 x 28 x 1), `{train,test}_labels` (uint8),
`{train,test}_source_index` (int32, index in the official split) and `meta` (JSON: source,
licence with its full text, citation, class names, selection). It is written atomically.
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
LICENSE_TEXT = """The MIT License (MIT) Copyright (c) 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and \
associated documentation files (the "Software"), to deal in the Software without restriction, \
including without limitation the rights to use, copy, modify, merge, publish, distribute, \
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is \
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or \
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT \
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND \
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, \
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT \
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE."""


def read_idx(path):
    """An IDX file (optionally gzip-compressed) of unsigned bytes as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    if magic >> 8 != 0x08:  # 0x08: unsigned byte payload
        raise ValueError(f"{path}: not a uint8 IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    payload = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if payload.size != np.prod(shape):
        raise ValueError(f"{path}: header says {shape} but holds {payload.size} values")
    return payload.reshape(shape)


def stratified(labels, per_class, seed, num_classes=len(CLASS_NAMES)):
    """Sorted indices of `per_class` examples of each class (see the module docstring)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    picked = []
    for c in range(num_classes):
        of_class = order[labels[order] == c][:per_class]
        if len(of_class) < per_class:
            raise ValueError(f"class {c} has {len(of_class)} examples, fewer than {per_class}")
        picked.append(of_class)
    return np.sort(np.concatenate(picked))


def build(source, seed=0, train_per_class=1000, test_per_class=200):
    """The arrays of the subset (see the module docstring)."""
    arrays = {}
    parts = [("train", "train", train_per_class), ("test", "t10k", test_per_class)]
    for split, prefix, per_class in parts:
        images = read_idx(os.path.join(source, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(source, f"{prefix}-labels-idx1-ubyte.gz"))
        index = stratified(labels, per_class, seed)
        arrays[f"{split}_images"] = images[index][..., None]
        arrays[f"{split}_labels"] = labels[index].astype(np.uint8)
        arrays[f"{split}_source_index"] = index.astype(np.int32)
    meta = {
        "source": "Fashion-MNIST (Zalando Research, "
                  "https://github.com/zalandoresearch/fashion-mnist), "
                  "from the Debian package dataset-fashion-mnist",
        "license": "MIT",
        "license_text": LICENSE_TEXT,
        "citation": "Han Xiao, Kashif Rasul, Roland Vollgraf. Fashion-MNIST: a Novel Image Dataset "
                    "for Benchmarking Machine Learning Algorithms. arXiv:1708.07747, 2017.",
        "class_names": CLASS_NAMES,
        "selection": {
            "seed": seed, "train_per_class": train_per_class, "test_per_class": test_per_class,
            "procedure": "per split: order = numpy.random.default_rng(seed).permutation(n); per "
                         "class c: the first k entries of order whose label is c; indices sorted",
        },
    }
    arrays["meta"] = np.array(json.dumps(meta))
    return arrays


def write_atomically(path, arrays):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz"
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    default_out = os.path.join(here, "..", "simclr_tf", "data", "fashion_mnist_subset.npz")
    parser.add_argument("--out", default=os.path.normpath(default_out))
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--test-per-class", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    arrays = build(args.source, args.seed, args.train_per_class, args.test_per_class)
    write_atomically(args.out, arrays)
    print(f"wrote {args.out}: {os.path.getsize(args.out) / 1e6:.2f} MB, "
          f"{len(arrays['train_labels'])} train + {len(arrays['test_labels'])} test images")


if __name__ == "__main__":
    main()
