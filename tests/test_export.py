"""Export for serving: every loader and signature gives the in-memory model's outputs.

One SimCLR model is exported once per module (encoder with endpoints, and the full network); the
tests reload it with `tf.saved_model.load`, `keras.layers.TFSMLayer` and `saved_model_cli` (a
subprocess: the TF1 session loader, the family TF-Serving's C++ server uses).
"""

import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.augment.center_crop import CenterCropResize
from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.export import export_encoder, export_model, save_keras
from simclr_tf.export.layout import write_version
from simclr_tf.models.projection_head import ProjectionHead
from simclr_tf.models.resnet import ResNet
from simclr_tf.models.simclr import SimCLR

SIZE = 36  # > 32 px, so the evaluation path centre-crops 0.875 before resizing.
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
ATOL = 1e-5


def tiny_model(size=SIZE, num_classes=5):
    return SimCLR(
        encoder=ResNet(depth=18, width_multiplier=0.125, cifar_stem=True, input_shape=(size, size, 3)),
        projection_head=ProjectionHead(num_layers=3, output_dim=8),
        augment=SimCLRAugment(image_size=size),
        num_classes=num_classes,
    )


def randomize(model, seed=0):
    """Random weights of unit scale everywhere (incl. BN statistics and the zero-init gammas),
    so outputs depend on every variable and a wrong one shows."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        shape = tuple(v.shape)
        if len(shape) > 1:  # kernels: variance 1 / fan_in keeps activations near unit scale
            value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[:-1])), shape)
        elif v.name in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 0.2, shape)
        v.assign(value.astype("float32"))


def uint8_images(n=3, height=44, width=40, seed=1):
    return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


def expected_outputs(model, images):
    """The exported names, computed by the Keras model in memory (inference mode)."""
    out = model.call_outputs(images)
    heads = out["head_outputs"]
    expected = {"embedding": out["features"], "proj_head_input": heads[0]}
    expected.update({f"proj_head_layer_{k}": h for k, h in enumerate(heads[1:-1], start=1)})
    expected["proj_head_output"] = heads[-1]
    if "probe_logits" in out:
        expected["probe_logits"] = out["probe_logits"]
    return {k: keras.ops.convert_to_numpy(v) for k, v in expected.items()}


def assert_outputs_equal(actual, expected, tol=ATOL):
    """Equal to `tol` relative to each output's scale: float32 graphs and eager differ in the
    last bits, so an entry near 0 next to entries of 40 may differ by more than `tol` itself."""
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        scale = max(1.0, float(np.abs(value).max()))
        np.testing.assert_allclose(np.asarray(actual[key]), value, atol=tol * scale, rtol=tol, err_msg=key)


def save_npy(path, value):
    np.save(path, value, allow_pickle=True)
    return str(path)


def start_cli(*args):
    return subprocess.Popen(
        [SAVED_MODEL_CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("exports")
    model = tiny_model()
    model(uint8_images(1))
    randomize(model)
    return {
        "model": model,
        "encoder_path": export_encoder(model, str(base / "simclr_encoder" / "1"), endpoints=True),
        "model_path": export_model(model, str(base / "simclr" / "1")),
        "images": uint8_images(),
    }


@pytest.fixture(scope="module")
def expected(exported):
    model, images = exported["model"], exported["images"]
    full = expected_outputs(model, images)
    views = model.augment(images, training=False)
    maps = model.encoder.endpoints_model()(views, training=False)
    encoder = {k: keras.ops.convert_to_numpy(v) for k, v in maps.items() if k != "final_avg_pool"}
    encoder["embedding"] = full["embedding"]
    np.testing.assert_allclose(maps["final_avg_pool"], full["embedding"], atol=1e-6)
    assert np.std(full["embedding"]) > 0.1 and np.std(full["probe_logits"]) > 0.1
    return {"encoder": encoder, "model": full}


@pytest.fixture(scope="module")
def cli(exported, tmp_path_factory):
    """Every `saved_model_cli` call of this module, started at once (each spends seconds
    importing TensorFlow). Maps a name to (returncode, stdout, stderr, outdir)."""
    tmp = tmp_path_factory.mktemp("cli")
    images = exported["images"]
    pngs = np.array([tf.io.encode_png(i).numpy() for i in images], dtype=object)
    runs = {
        "encoder-serving_default": ("encoder", "images", images.astype("float32") / 255.0),
        "model-serving_bytes": ("model", "image_bytes", pngs),
        "encoder-serving_uint8-bad": ("encoder", "images", images[0]),  # no batch axis
    }
    jobs = {"show": (start_cli("show", "--dir", exported["model_path"], "--all"), None)}
    for name, (which, key, value) in runs.items():
        signature = name.split("-")[1]
        inputs = save_npy(tmp / f"{name}.npy", value)
        outdir = tmp / name
        jobs[name] = (
            start_cli(
                "run", "--dir", exported[f"{which}_path"], "--tag_set", "serve",
                "--signature_def", signature, "--inputs", f"{key}={inputs}", "--outdir", str(outdir),
            ),
            outdir,
        )
    results = {}
    for name, (process, outdir) in jobs.items():
        stdout, stderr = process.communicate(timeout=600)
        results[name] = (process.returncode, stdout, stderr, outdir)
    return results


def stored_bytes(folder):
    """Bytes of the SavedModel's checkpoint data files (variables/variables.data-*)."""
    data = [f for f in os.listdir(os.path.join(folder, "variables")) if ".data-" in f]
    return sum(os.path.getsize(os.path.join(folder, "variables", f)) for f in data)


def test_saved_models_store_each_weight_once(exported):
    """Keras' ExportArchive alone writes every weight twice (`variables` and `_all_variables`);
    both exports hold one copy: float32 weights plus a little checkpoint bookkeeping."""
    model = exported["model"]
    for path, weights in ((exported["encoder_path"], model.encoder.weights),
                          (exported["model_path"], model.weights)):
        weight_bytes = sum(int(np.prod(w.shape)) * 4 for w in weights)
        stored = stored_bytes(path)
        assert weight_bytes <= stored < 1.05 * weight_bytes + 4096, (path, stored, weight_bytes)


def test_every_signature_reloads_with_tf_saved_model_load(exported, expected):
    images = exported["images"]
    pngs = tf.constant([tf.io.encode_png(image).numpy() for image in images])
    for which in ("encoder", "model"):
        loaded = tf.saved_model.load(exported[f"{which}_path"])
        assert set(loaded.signatures) == {"serving_default", "serve", "serving_uint8", "serving_bytes"}
        calls = {
            "serving_default": {"images": tf.constant(images.astype("float32") / 255.0)},
            "serve": {"images": tf.constant(images.astype("float32") / 255.0)},
            "serving_uint8": {"images": tf.constant(images)},
            "serving_bytes": {"image_bytes": pngs},
        }
        for name, kwargs in calls.items():
            outputs = loaded.signatures[name](**kwargs)
            assert all(v.dtype == tf.float32 for v in outputs.values())
            assert_outputs_equal(outputs, expected[which])
        # The TF2 object API: the same functions as attributes.
        assert_outputs_equal(loaded.serving_bytes(pngs), expected[which])


def test_keras_tfsm_layer(exported, expected):
    images = exported["images"]
    layer = keras.layers.TFSMLayer(exported["model_path"])  # Keras' default endpoint, `serve`
    assert_outputs_equal(layer(images.astype("float32") / 255.0), expected["model"])
    uint8 = keras.layers.TFSMLayer(exported["encoder_path"], call_endpoint="serving_uint8")
    assert_outputs_equal(uint8(images), expected["encoder"])


def test_saved_model_cli_show_documents_the_contract(cli):
    returncode, shown, stderr, _ = cli["show"]
    assert returncode == 0, stderr[-3000:]
    for name in ("serving_default", "serve", "serving_uint8", "serving_bytes"):
        assert f"signature_def['{name}']" in shown
    assert "inputs['images']" in shown and "inputs['image_bytes']" in shown
    for dtype in ("DT_FLOAT", "DT_UINT8", "DT_STRING"):
        assert dtype in shown
    for output in ("embedding", "proj_head_input", "proj_head_layer_2", "proj_head_output", "probe_logits"):
        assert f"outputs['{output}']" in shown


@pytest.mark.parametrize("run", ["encoder-serving_default", "model-serving_bytes"])
def test_saved_model_cli_run(cli, expected, run):
    """The TF1 session loader (TF-Serving's family) gives the Keras model's outputs."""
    returncode, _, stderr, outdir = cli[run]
    assert returncode == 0, stderr[-3000:]
    which = run.split("-")[0]
    actual = {k: np.load(outdir / f"{k}.npy") for k in expected[which]}
    assert_outputs_equal(actual, expected[which])


def test_bad_input_message_reaches_the_session_loader(cli):
    returncode, _, stderr, _ = cli["encoder-serving_uint8-bad"]
    assert returncode != 0
    assert "`images` must have shape [batch, height, width, 3]" in stderr


def test_bytes_equal_float_on_the_decoded_pixels(exported):
    """Each image of a request may have its own size; PNG is lossless, JPEG is compared with
    its own decoded pixels."""
    loaded = tf.saved_model.load(exported["encoder_path"])
    images = [uint8_images(1, 44, 40, seed=2)[0], uint8_images(1, 30, 50, seed=3)[0]]
    pngs = [tf.io.encode_png(i) for i in images]
    jpegs = [tf.io.encode_jpeg(i, quality=80) for i in images]
    from_png = loaded.signatures["serving_bytes"](image_bytes=tf.stack(pngs))["embedding"]
    from_jpeg = loaded.signatures["serving_bytes"](image_bytes=tf.stack(jpegs))["embedding"]
    for k, image in enumerate(images):
        decoded = tf.io.decode_jpeg(jpegs[k], channels=3)
        for source, pixels in ((from_png, image), (from_jpeg, decoded)):
            floats = tf.cast(pixels, tf.float32)[None] / 255.0
            direct = loaded.signatures["serving_default"](images=floats)["embedding"]
            np.testing.assert_allclose(source[k], direct[0], atol=1e-6)
    assert np.abs(from_png - from_jpeg).max() > 1e-4  # JPEG is lossy: the check can fail.


@pytest.mark.parametrize(
    "signature, value, message",
    [
        ("serving_default", np.zeros((36, 36, 3), "float32"), "must have shape [batch, height, width, 3]"),
        ("serving_uint8", np.zeros((2, 36, 36, 4), "uint8"), "must have shape [batch, height, width, 3]"),
        ("serving_default", np.full((1, 36, 36, 3), 255.0, "float32"), "must be in [0, 1]"),
        ("serving_bytes", np.array([[b"x"]]), "1-D batch of encoded images"),
        ("serving_bytes", np.array([b"not an image"]), "Unknown image file format"),
    ],
)
def test_bad_input_fails_with_a_readable_message(exported, signature, value, message):
    loaded = tf.saved_model.load(exported["encoder_path"])
    fn = loaded.signatures[signature]
    key = "image_bytes" if signature == "serving_bytes" else "images"
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        fn(**{key: tf.constant(value)})


def serve_uint8(path, images):
    """Calls a reloaded export's uint8 signature. (The loaded object owns the variables: keep it
    alive while calling, never `tf.saved_model.load(path).serving_uint8(x)` in one line.)"""
    loaded = tf.saved_model.load(path)
    return {k: v.numpy() for k, v in loaded.serving_uint8(images).items()}


def small_encoder(size=16):
    """Any Keras model from images to features exports (and traces fast)."""
    return keras.Sequential(
        [
            keras.Input((size, size, 3)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
        ]
    )


def test_version_layout_and_overwrite(tmp_path):
    encoder = small_encoder()
    images = uint8_images(2, 16, 16)
    path = str(tmp_path / "encoder" / "3")
    for bad in (str(tmp_path / "encoder"), str(tmp_path / "encoder" / "v1"), str(tmp_path / "e" / "01")):
        with pytest.raises(ValueError, match="must end in an integer version"):
            export_encoder(encoder, bad)
    randomize(encoder, seed=1)
    assert export_encoder(encoder, path) == path
    first = serve_uint8(path, images)["embedding"]
    np.testing.assert_allclose(first, encoder(images / 255.0), atol=ATOL, rtol=ATOL)  # 16 px: no crop

    randomize(encoder, seed=2)
    with pytest.raises(FileExistsError, match="encoder/4"):
        export_encoder(encoder, path + "/")
    np.testing.assert_array_equal(serve_uint8(path, images)["embedding"], first)

    export_encoder(encoder, path, overwrite=True)
    replaced = serve_uint8(path, images)["embedding"]
    np.testing.assert_allclose(replaced, encoder(images / 255.0), atol=ATOL, rtol=ATOL)
    assert np.abs(replaced - first).max() > 1e-3
    assert os.listdir(tmp_path / "encoder") == ["3"]  # no temporary folders left behind


def test_failed_write_keeps_the_previous_version(tmp_path):
    target = tmp_path / "model" / "1"
    target.mkdir(parents=True)
    (target / "saved_model.pb").write_text("previous")

    def broken(folder):
        tf.io.gfile.makedirs(folder)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_version(str(target), broken, overwrite=True)
    assert (target / "saved_model.pb").read_text() == "previous"
    assert os.listdir(tmp_path / "model") == ["1"]


def test_bare_encoder_of_variable_size_centre_crops_to_image_size(tmp_path):
    encoder = ResNet(depth=18, width_multiplier=0.125, cifar_stem=True)  # (None, None, 3)
    with pytest.raises(ValueError, match="`image_size` is required"):
        export_encoder(encoder, str(tmp_path / "e" / "1"))
    with pytest.raises(ValueError, match="image sizes disagree"):
        fixed = ResNet(depth=18, width_multiplier=0.125, cifar_stem=True, input_shape=(16, 16, 3))
        export_encoder(fixed, str(tmp_path / "e" / "1"), image_size=20)
    randomize(encoder)
    path = export_encoder(encoder, str(tmp_path / "e" / "1"), image_size=40)
    images = uint8_images(2, 60, 52)
    expected = encoder(CenterCropResize(40)(images), training=False)  # crop 0.875 of 52, resize
    actual = serve_uint8(path, images)["embedding"]
    np.testing.assert_allclose(actual, expected, atol=ATOL, rtol=ATOL)
    assert actual.shape == (2, encoder.output_dim)


@pytest.mark.large  # 15 s; export and two replicas each have default-suite tests
def test_two_replica_trained_encoder_exports_and_reloads(two_replicas, tmp_path):
    images = uint8_images(8, 16, 16, seed=4)
    with two_replicas.scope():
        model = tiny_model(size=16, num_classes=None)
        model.augment = SimCLRAugment(16, color_distort=False, blur=False)  # traces faster
        model.compile(optimizer=keras.optimizers.SGD(0.01))
    ds = tf.data.Dataset.from_tensor_slices(images).batch(8, drop_remainder=True)
    model.fit(ds, epochs=1, verbose=0)
    norms = [layer for layer in model.encoder.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.synchronized for layer in norms)
    means = [w.numpy() for w in model.encoder.weights if w.name == "moving_mean"]
    assert np.abs(means[0]).max() > 0  # the training step moved the statistics being exported

    path = export_model(model, str(tmp_path / "simclr" / "1"))
    # Reloaded outside the strategy; compared with the in-memory model in inference mode.
    assert_outputs_equal(serve_uint8(path, images), expected_outputs(model, images))


def test_mixed_precision_outputs_are_float32(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    encoder = small_encoder()
    images = uint8_images(2, 16, 16)
    assert encoder(images / 255.0).dtype == "float16"
    embedding = serve_uint8(export_encoder(encoder, str(tmp_path / "e" / "1")), images)["embedding"]
    assert embedding.dtype == np.float32
    np.testing.assert_allclose(embedding, encoder(images / 255.0), rtol=1e-2, atol=1e-3)


def test_endpoint_names_are_checked(tmp_path):
    encoder = ResNet(depth=18, width_multiplier=0.125, cifar_stem=True, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="must be a subset of"):
        export_encoder(encoder, str(tmp_path / "e" / "1"), endpoints=["block_group9"])
    plain = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D()])
    with pytest.raises(ValueError, match="needs an encoder with `endpoints_model"):
        export_encoder(plain, str(tmp_path / "e" / "1"), endpoints=True)
    assert not os.path.exists(tmp_path / "e")


def test_keras_file_round_trip_matches_the_saved_model(exported, expected, tmp_path):
    path = str(tmp_path / "simclr.keras")
    assert save_keras(exported["model"], path) == path
    restored = keras.saving.load_model(path)
    assert_outputs_equal(expected_outputs(restored, exported["images"]), expected["model"])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_keras(exported["model"], path)
    with pytest.raises(ValueError, match="must end in '.keras'"):
        save_keras(exported["model"], str(tmp_path / "simclr.h5"))
    assert os.listdir(tmp_path) == ["simclr.keras"]
