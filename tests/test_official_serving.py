"""The published preprocessing and the classifier SavedModel (simclr_tf/official/serving.py).

The classifier is the recorded R18 checkpoint's (tests/data/official/), converted; the SavedModel
is then read back without simclr_tf (a subprocess that never imports it) and with
`saved_model_cli`, the TF1 session loader TF Serving's family uses.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import simclr_tf
from simclr_tf.official import load_official, serving
from tests.helpers import official as helpers

SIZE = 64
PLAIN_TF = r"""
import json, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
images = np.load(sys.argv[2])
out = {}
default = loaded.signatures["serving_default"](images=tf.constant(images))
encoded = [tf.io.encode_png(image).numpy() for image in images]
from_bytes = loaded.signatures["serving_bytes"](image_bytes=tf.constant(encoded))
for name, result in (("default", default), ("bytes", from_bytes)):
    out[name] = {k: (v.numpy().astype(str) if v.dtype == tf.string else v.numpy()).tolist()
                 for k, v in result.items()}
out["simclr_tf_imported"] = any(m.startswith("simclr_tf") for m in sys.modules)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    layout = helpers.record("r18_1x_sk0")["layouts"]["tf1"]
    path = helpers.write_checkpoint(layout, str(tmp_path_factory.mktemp("r18")), "tf1")
    return load_official(path, image_size=SIZE, from_projection_layer=0)


def _images(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 80, 96, 3)).astype(np.uint8)  # not square, not SIZE


def _plain_tensorflow(folder, images, tmp_path):
    np.save(tmp_path / "images.npy", images)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-c", PLAIN_TF, folder, str(tmp_path / "images.npy")],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_preprocess_is_the_published_centre_crop(official):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (256, 256, 3)).astype(np.uint8)
    # 0.875 of 256 is 224: the crop is the centre 224 x 224, and the resize to 224 keeps it.
    out = serving.preprocess(image[None])
    np.testing.assert_allclose(out[0], image[16:240, 16:240] / 255.0, atol=1e-6)
    np.testing.assert_allclose(serving.preprocess(image[None] / 255.0), out, atol=1e-6)
    assert serving.preprocess(image).shape == (224, 224, 3)
    # Wider than tall: the crop keeps 0.875 of the height, centred, then resizes bicubically.
    wide = rng.integers(0, 256, (128, 200, 3)).astype(np.uint8)
    expected = tf.image.resize(wide[8:120, 44:156] / 255.0, (224, 224), method="bicubic")
    np.testing.assert_allclose(
        serving.preprocess(wide), np.clip(expected, 0, 1), atol=2e-6
    )
    with pytest.raises(ValueError, match=r"must be in \[0, 1\].*pass uint8"):
        serving.preprocess(image.astype(np.float32))
    with pytest.raises(ValueError, match=r"RGB. Received: shape=\(32, 32\)"):
        serving.preprocess(np.zeros((32, 32), np.uint8))


def test_imagenet_ids_and_names(tmp_path, monkeypatch):
    wnids = serving.imagenet_wnids()
    assert len(wnids) == 1000 and wnids[0] == "n01440764" and wnids[-1] == "n15075141"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    names, why = serving.imagenet_names(fetch=False)
    assert names is None and "not cached" in why
    os.makedirs(tmp_path / "models")
    index = {str(i): [wnids[i], f"class_{i}"] for i in range(1000)}
    with open(tmp_path / "models" / "imagenet_class_index.json", "w") as f:
        json.dump(index, f)
    names, why = serving.imagenet_names(fetch=False)
    assert why is None and names[0] == "class_0" and len(names) == 1000


def test_classifier_saved_model_serves_without_simclr_tf(official, tmp_path):
    ids = [f"id_{i}" for i in range(10)]
    folder = serving.export_classifier(
        official.classifier, str(tmp_path / "export" / "classifier" / "1"), class_ids=ids
    )
    # One copy of the weights on disk (Keras' ExportArchive alone writes each one twice).
    weight_bytes = sum(int(np.prod(w.shape)) * 4 for w in official.classifier.weights)
    data = [f for f in os.listdir(os.path.join(folder, "variables")) if ".data-" in f]
    stored = sum(os.path.getsize(os.path.join(folder, "variables", f)) for f in data)
    assert weight_bytes <= stored < 1.05 * weight_bytes, (stored, weight_bytes)
    images = _images()
    expected = np.asarray(official.classifier(images, training=False))  # crop, resize, logits
    out = _plain_tensorflow(folder, images, tmp_path)
    assert out["simclr_tf_imported"] is False
    for name in ("default", "bytes"):  # PNG is lossless: the same pixels, the same logits
        got = out[name]
        np.testing.assert_allclose(got["logits"], expected, rtol=1e-5, atol=1e-5)
        top = np.argsort(-expected, axis=1)[:, :5]
        np.testing.assert_array_equal(got["top5_ids"], top)
        assert got["top5_wnids"] == [[ids[j] for j in row] for row in top]
        np.testing.assert_allclose(np.sum(got["probabilities"], axis=1), 1.0, atol=1e-5)
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", folder, "--all"], capture_output=True,
                           text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for text in ("serving_default", "serving_bytes", "serving_float", "top5_wnids", "DT_UINT8"):
        assert text in shown.stdout
    np.save(tmp_path / "x.npy", images)
    run = subprocess.run(
        [cli, "run", "--dir", folder, "--tag_set", "serve", "--signature_def", "serving_default",
         "--inputs", f"images={tmp_path / 'x.npy'}", "--outdir", str(tmp_path / "cli")],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "cli" / "logits.npy"), expected, atol=1e-5)


def test_imagenet_classifier_returns_wordnet_ids(official, tmp_path):
    classifier = simclr_tf.build_classifier(
        official.simclr(), 1000, copy_weights=False, zero_init_head=False,
        augment=official.classifier.augment,
    )
    folder = serving.export_classifier(
        classifier, str(tmp_path / "m" / "1"), class_names=[f"name {i}" for i in range(1000)]
    )
    loaded = tf.saved_model.load(folder)
    out = loaded.signatures["serving_default"](images=tf.constant(_images(2)))
    wnids = serving.imagenet_wnids()
    ids = out["top5_ids"].numpy()
    assert out["top5_wnids"].numpy().astype(str).tolist() == [[wnids[j] for j in r] for r in ids]
    assert out["top5_names"].numpy()[0, 0].decode() == f"name {ids[0, 0]}"


def test_bad_labels_and_inputs(official, tmp_path):
    with pytest.raises(ValueError, match=r"`class_ids` must have one entry per class \(10\)"):
        serving.export_classifier(official.classifier, str(tmp_path / "a" / "1"), class_ids=["x"])
    folder = serving.export_classifier(official.classifier, str(tmp_path / "b" / "1"))
    loaded = tf.saved_model.load(folder)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"must be in \[0, 1\]"):
        loaded.signatures["serving_float"](images=tf.fill([1, 8, 8, 3], 255.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"shape \[batch, height, width, 3\]"):
        loaded.signatures["serving_default"](images=tf.zeros([1, 8, 8], tf.uint8))
