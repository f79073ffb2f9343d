"""The ```python examples of README.md and docs/*.md run, at tiny sizes, so they stay true.

Every block runs unless the line right before it is a visible marker
`<!-- example: skip (reason) -->` (a server, a dataset or hardware this machine lacks). Each block
runs in a fresh namespace seeded by `prelude` (tiny images, datasets and models under the names
the docs use) in an empty working directory; full-width encoders are built at 1/16 width and
every `fit` runs one epoch. The convention is documented in docs/testing.md.
"""

import glob
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers.tiny import ROOT

import simclr_tf
from simclr_tf.data import load_embedded_arrays
from simclr_tf.models import resnet

SKIP = re.compile(r"<!--\s*example:\s*skip\s*\((.+)\)\s*-->")
TINY_WIDTH = 1 / 16


def examples():
    """`(id, source, skip_reason)` of every ```python block, in file order."""
    found = []
    for path in [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]:
        with open(path) as f:
            lines = f.read().splitlines()
        name = os.path.relpath(path, ROOT)
        i = 0
        while i < len(lines):
            if lines[i].rstrip() == "```python":  # a fence at column 0: indented ones are samples
                start = i + 1
                end = next(j for j in range(start, len(lines)) if lines[j].rstrip() == "```")
                before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
                marker = SKIP.search(before)
                found.append((f"{name}:{start}", "\n".join(lines[start:end]),
                              marker.group(1) if marker else None))
                i = end
            elif lines[i].startswith("<!--") and "example:" in lines[i]:
                after = next((lines[j] for j in range(i + 1, len(lines)) if lines[j].strip()), "")
                if not SKIP.search(lines[i]) or after.rstrip() != "```python":
                    found.append((f"{name}:{i + 1}", None, f"misplaced marker: {lines[i]!r}"))
            i += 1
    return found


EXAMPLES = examples()


def tiny_simclr(width=TINY_WIDTH, size=16):
    model = simclr_tf.SimCLR(
        encoder=simclr_tf.ResNet(depth=18, width_multiplier=width, cifar_stem=True,
                                 input_shape=(size, size, 3)),
        projection_head=simclr_tf.ProjectionHead(num_layers=2, output_dim=16),
        augment=simclr_tf.SimCLRAugment.cifar(image_size=size),
        temperature=0.5,
    )
    model.build((None, size, size, 3))
    return model


def prelude(pretrain_workdir, source):
    """The names the examples use without defining them, at tiny sizes. The models are built
    only for a block that names them (two ResNet builds per block otherwise)."""
    rng = np.random.default_rng(0)
    images = rng.random((8, 32, 32, 3), dtype=np.float32)  # float in [0, 1]: every API takes it
    labels = rng.integers(0, 10, 8).astype(np.int32)
    (x_train, y_train), (x_test, y_test) = load_embedded_arrays("train"), load_embedded_arrays("test")
    x_train, y_train, x_test, y_test = x_train[:512], y_train[:512], x_test[:128], y_test[:128]
    # Two images of several sizes in a canvas (top-left, zero padding), as simclr_tf.data yields.
    sizes = np.array([[30, 24], [20, 48]], np.int32)
    canvas = np.zeros((2, 48, 48, 3), np.uint8)
    for k, (h, w) in enumerate(sizes):
        canvas[k, :h, :w] = rng.integers(0, 256, (h, w, 3))
    # `runs/demo`, the demo's work directory: the session's tiny pretraining run.
    os.makedirs("runs")
    os.symlink(pretrain_workdir, os.path.join("runs", "demo"))
    return dict(
        simclr_tf=simclr_tf, np=np, tf=tf, keras=keras,
        images=images,
        canvas=canvas, sizes=sizes,
        ds=tf.data.Dataset.from_tensor_slices(((images * 255).astype(np.uint8), labels)).batch(
            8, drop_remainder=True),
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        train=(x_train, y_train), test=(x_test, y_test), x_unlabelled=x_train[:128],
        train_features=rng.normal(size=(64, 16)).astype(np.float32),
        test_features=rng.normal(size=(16, 16)).astype(np.float32),
        **{name: tiny_simclr() for name in ("model", "small_simclr_model")
           if re.search(rf"\b{name}\b", source)},
    )


@pytest.mark.parametrize("source, skip", [pytest.param(s, r, id=i) for i, s, r in EXAMPLES])
def test_example_runs(source, skip, pretrain_workdir, tmp_path, monkeypatch, request):
    if source is None:
        pytest.fail(f"{skip}: a marker goes on the line right before a ```python block")
    if skip:
        pytest.skip(skip)
    monkeypatch.chdir(tmp_path)
    # Full-width encoders at 1/16 width (narrower ones, e.g. a pretrained run's, stay as they are).
    scaled_width = resnet.scaled_width
    monkeypatch.setattr(resnet, "scaled_width",
                        lambda c, w: scaled_width(c, TINY_WIDTH if w >= 1 else w))
    fit = keras.Model.fit

    def one_epoch(self, *args, **kwargs):
        if len(args) > 2:  # fit(x, y, batch_size, epochs, ...)
            args = (*args[:3], 1, *args[4:])
        else:
            kwargs["epochs"] = 1
        if kwargs.get("steps_per_epoch"):  # e.g. the quick start's 98 steps of a repeated ds
            kwargs["steps_per_epoch"] = min(kwargs["steps_per_epoch"], 2)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", one_epoch)
    if re.search(r"load_official\(\"simclrv[12]", source):
        # A published name: a loopback stand-in for the bucket serves a recorded checkpoint,
        # whose weights fix the encoder's width.
        from helpers.official_server import serve_release_for_examples
        from simclr_tf.official import download

        server = serve_release_for_examples(str(tmp_path / "bucket"))
        request.addfinalizer(server.stop)
        monkeypatch.setenv(download.ENDPOINT_ENV, server.endpoint)
        monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
        monkeypatch.setattr(resnet, "scaled_width", scaled_width)
    namespace = prelude(os.fspath(pretrain_workdir), source)
    exec(compile(source, "<example>", "exec"), namespace)
