"""Loading google-research/simclr checkpoints (`simclr_tf.load_official`, `simclr_tf.convert`).

The default tests rewrite each reference checkpoint from its record in tests/data/official/ (its
keys, shapes, object graph and seeded values, see tests/helpers/official.py) and compare the
converted models with the outputs the reference's own code computed from those values. The
`large` test regenerates everything with the reference code when its throwaway environment
exists (SIMCLR_REFERENCE_VENV, SIMCLR_REFERENCE_DIR) and compares every endpoint in full.
"""

import os
import subprocess

import keras
import numpy as np
import pytest

import simclr_tf
from simclr_tf.official import is_official, load_official
from tests.helpers import official as helpers

TOLERANCE = 1e-4  # max relative error per endpoint, the bar
R50 = ["r50_1x_sk0", "r50_1x_sk1", "r50_1x_sk1_ft"]


def _layouts(rec):
    return sorted(rec["layouts"])


def _check(variant, layout_name, tmp_path):
    rec = helpers.record(variant)
    layout = rec["layouts"][layout_name]
    path = helpers.write_checkpoint(layout, str(tmp_path), layout_name)
    official = load_official(path, from_projection_layer=rec["flags"]["ft_proj_selector"])
    source = "tf1" if layout_name == "tf1" else "tf2"
    errors = helpers.summary_errors(official, rec, source)
    assert set(errors) >= {"final_avg_pool", "proj_head_output", "logits_sup"}
    assert max(errors.values()) <= TOLERANCE, errors
    # Every model tensor used once: the rest are optimizer state and counters.
    info = official.info
    assert info["loaded_tensors"] + info["ignored"] == len(layout["keys"])
    return official, info


@pytest.mark.parametrize("layout_name", ["checkpoint", "saved_model", "tf1"])
def test_resnet18_every_layout_matches_reference_outputs(layout_name, tmp_path):
    official, info = _check("r18_1x_sk0", layout_name, tmp_path)
    assert (info["depth"], info["width_multiplier"], info["sk_ratio"]) == (18, 1, 0.0)
    assert (info["num_classes"], info["projection_layers"], info["projection_dim"]) == (10, 3, 128)
    assert isinstance(official.encoder, simclr_tf.ResNet)
    assert isinstance(official.projection_head, simclr_tf.ProjectionHead)
    assert isinstance(official.classifier, simclr_tf.Classifier)


@pytest.mark.parametrize("layout_name", ["saved_model", "checkpoint"])
def test_resnet18_resnet_d_stem_and_shortcuts_match_reference_outputs(layout_name, tmp_path):
    # sk_ratio > 0 in basic blocks: the three-conv stem and average-pool shortcuts of the SK
    # models, at the size of an R18 (the selective kernels themselves: the R50 tests). The TF1
    # code cannot build this model (see scripts/official_reference.py).
    _, info = _check("r18_1x_sk1", layout_name, tmp_path)
    assert (info["depth"], info["sk_ratio"]) == (18, 0.0625)


@pytest.mark.large
@pytest.mark.parametrize("variant", R50)
def test_resnet50_every_layout_matches_reference_outputs(variant, tmp_path):
    rec = helpers.record(variant)
    for layout_name in _layouts(rec):
        _, info = _check(variant, layout_name, tmp_path / layout_name)
        assert (info["depth"], info["sk_ratio"]) == (50, rec["flags"]["sk_ratio"])
        assert info["from_projection_layer"] == rec["flags"]["ft_proj_selector"]


def test_projection_layer_is_never_guessed_from_the_path(tmp_path):
    # R18: projection layers 0, 1 and 2 are all 512 wide, so the head's shape cannot tell.
    rec = helpers.record("r18_1x_sk0")
    folder = tmp_path / "simclrv2" / "finetuned_10pct" / "r18"
    path = helpers.write_checkpoint(rec["layouts"]["tf1"], str(folder), "tf1")
    expected = r"cannot tell.*layers \[0, 1, 2\].*finetuned_\{1,10,100\}pct/\*: 1"
    with pytest.raises(ValueError, match=expected):
        load_official(path)
    official = load_official(path, from_projection_layer=0)
    assert official.info["projection_layer_from"] == "given"
    with pytest.raises(ValueError, match="from_projection_layer"):
        load_official(path, from_projection_layer=4)
    # Evaluations need no supervised head, hence no projection layer.
    official = load_official(path, classifier=False)
    assert official.classifier is None and official.info["ignored"] == 244
    with pytest.raises(ValueError, match="projection layer 3 gives 128 features"):
        load_official(path, from_projection_layer=3)


def test_ema_copy_loads_on_request(tmp_path):
    rec = helpers.record("r18_1x_sk0")
    layout = rec["layouts"]["tf1"]
    path = helpers.write_checkpoint(layout, str(tmp_path), "tf1")
    values = helpers.values(layout)
    trained = load_official(path, from_projection_layer=0)
    ema = load_official(path, from_projection_layer=0, weights="ema")
    assert (trained.info["weights"], ema.info["weights"]) == ("model", "ema")
    first = "base_model/conv2d/kernel"
    np.testing.assert_array_equal(trained.encoder.get_layer("stem_1_conv").kernel, values[first])
    np.testing.assert_array_equal(
        ema.encoder.get_layer("stem_1_conv").kernel, values["ema_model/" + first]
    )
    head = "head_contrastive/nl_0/dense/kernel"
    np.testing.assert_array_equal(
        ema.projection_head.dense_layers[0].kernel, values["ema_model/" + head]
    )
    sup = "head_supervised/linear_layer/dense/kernel"
    np.testing.assert_array_equal(ema.classifier.head.kernel, values["ema_model/" + sup])
    # Every tensor accounted for: the other copy counts as ignored.
    assert ema.info["loaded_tensors"] + ema.info["ignored"] == len(layout["keys"])
    assert ema.info["loaded_tensors"] == trained.info["loaded_tensors"]
    # A tensor without an EMA copy (a head trained without EMA) keeps its trained value.
    drop = ["ema_model/" + sup, "ema_model/head_supervised/linear_layer/dense/bias"]
    path = helpers.write_checkpoint(layout, str(tmp_path / "no_ema_head"), "tf1", drop=drop)
    ema = load_official(path, from_projection_layer=0, weights="ema")
    np.testing.assert_array_equal(ema.classifier.head.kernel, values[sup])
    np.testing.assert_array_equal(
        ema.encoder.get_layer("stem_1_conv").kernel, values["ema_model/" + first]
    )
    saved = helpers.write_checkpoint(
        rec["layouts"]["saved_model"], str(tmp_path / "sm"), "saved_model"
    )
    with pytest.raises(ValueError, match="holds no EMA copy"):
        load_official(saved, weights="ema")
    with pytest.raises(ValueError, match="`weights` must be one of"):
        load_official(path, weights="average")


def test_untrained_projection_head_warns(tmp_path, caplog):
    # The TF2 SimCLRv1 SavedModels carry a projection head that v1 never published: its batch
    # norms keep their initial statistics.
    layout = helpers.record("r18_1x_sk0")["layouts"]["tf1"]
    values = helpers.values(layout)
    extra = {}
    for key, value in values.items():
        if key.startswith("head_contrastive/") and key.endswith(("moving_mean", "moving_variance")):
            extra[key] = np.full_like(value, 1.0 if key.endswith("variance") else 0.0)
    path = helpers.write_checkpoint(layout, str(tmp_path / "untrained"), "tf1", extra=extra)
    with caplog.at_level("WARNING"):
        official = load_official(path, classifier=False)
    assert official.info["projection_head_trained"] is False
    assert "never trained" in caplog.text
    path = helpers.write_checkpoint(layout, str(tmp_path / "trained"), "tf1")
    assert load_official(path, classifier=False).info["projection_head_trained"] is True


# === Bad inputs ===


def test_shard_file_names_stand_for_their_checkpoint(tmp_path):
    rec = helpers.record("r18_1x_sk0")
    path = helpers.write_checkpoint(rec["layouts"]["tf1"], str(tmp_path), "tf1")
    for name in (path + ".index", path + ".data-00000-of-00001"):
        info = load_official(name, classifier=False).info
        assert info["source"] == name and info["loaded_tensors"] == 119


def test_remote_file_system_error_names_the_path(monkeypatch):
    import tensorflow as tf

    def denied(path):
        raise tf.errors.PermissionDeniedError(None, None, "Error executing an HTTP request: 403")

    monkeypatch.setattr(tf.io.gfile, "exists", denied)
    expected = r"Could not read 'gs://private/ckpt'.*PermissionDenied.*403"
    with pytest.raises(ValueError, match=expected):
        load_official("gs://private/ckpt")


def test_hub_module_folder_reads_as_tf1(tmp_path):
    # A TF1 hub/ module: saved_model.pb (TF1 signatures) and variables/ with TF1 names.
    from simclr_tf.convert import convert

    rec = helpers.record("r18_1x_sk0")
    hub = helpers.write_checkpoint(rec["layouts"]["tf1"], str(tmp_path / "hub"), "saved_model")
    official = load_official(hub, from_projection_layer=0)
    assert official.info["format"] == "TF1 checkpoint" and official.info["saved_model"] is None
    errors = helpers.summary_errors(official, rec, "tf1")
    assert max(errors.values()) <= TOLERANCE, errors
    info = convert(hub, str(tmp_path / "out"), image_size=64, from_projection_layer=0,
                   outputs=["simclr"])
    assert info["self_check"] is None  # its TF1 signatures are not the reference's function


def test_convert_outputs(tmp_path):
    from simclr_tf.convert import convert

    layout = helpers.record("r18_1x_sk0")["layouts"]["tf1"]
    with pytest.raises(ValueError, match=r"`outputs` must be a non-empty subset.*'bogus'"):
        convert(str(tmp_path / "not_read"), str(tmp_path / "out"), outputs=["simclr", "bogus"])
    drop = [k for k in layout["keys"] if k.startswith("head_supervised/")]
    path = helpers.write_checkpoint(layout, str(tmp_path / "ckpt"), "tf1", drop=drop)
    with pytest.raises(ValueError, match="has no supervised head: it cannot give a classifier"):
        convert(path, str(tmp_path / "a"), image_size=32, outputs=["classifier_saved_model"])
    # Without a supervised head the default serves the encoder.
    info = convert(path, str(tmp_path / "b"), image_size=32)
    assert set(info["files"]) == {"simclr", "encoder_saved_model"}


def test_missing_path_is_named(tmp_path):
    with pytest.raises(ValueError, match="does not exist.*nothing_here"):
        load_official(str(tmp_path / "nothing_here"))


def test_folder_without_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="Found no checkpoint in the folder"):
        load_official(str(tmp_path))


def test_not_a_simclr_checkpoint(tmp_path):
    import tensorflow as tf

    prefix = tf.train.Checkpoint(v=tf.Variable(np.ones((3, 3), "float32"))).write(
        str(tmp_path / "other")
    )
    with pytest.raises(ValueError, match="is not a google-research/simclr checkpoint"):
        load_official(prefix)
    assert not is_official(prefix)


def test_truncated_file(tmp_path):
    rec = helpers.record("r18_1x_sk0")
    path = helpers.write_checkpoint(rec["layouts"]["tf1"], str(tmp_path), "tf1")
    data = path + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    with pytest.raises(ValueError, match="truncated"):
        load_official(path)


def test_head_requested_that_the_checkpoint_lacks(tmp_path):
    layout = helpers.record("r18_1x_sk0")["layouts"]["tf1"]
    drop = [k for k in layout["keys"] if k.startswith(("head_contrastive/", "head_supervised/"))]
    path = helpers.write_checkpoint(layout, str(tmp_path), "tf1", drop=drop)
    official = load_official(path)
    assert official.projection_head is None and official.classifier is None
    with pytest.raises(ValueError, match="has no projection head"):
        load_official(path, require=["projection_head"])
    with pytest.raises(ValueError, match="has no supervised head"):
        load_official(path, require=["classifier"])


def test_missing_and_left_over_tensors_are_named(tmp_path):
    layout = helpers.record("r18_1x_sk0")["layouts"]["tf1"]
    path = helpers.write_checkpoint(
        layout, str(tmp_path / "a"), "tf1", drop=["base_model/batch_normalization_3/beta"]
    )
    with pytest.raises(ValueError, match="batch_normalization_3 has .*'gamma', 'moving_mean'"):
        load_official(path)
    path = helpers.write_checkpoint(
        layout, str(tmp_path / "b"), "tf1", extra={"base_model/dense/kernel": np.ones((2, 2))}
    )
    with pytest.raises(ValueError, match="fit no layer.*base_model/dense/kernel"):
        load_official(path)


# === The command and eval.checkpoint ===


def test_eval_checkpoint_accepts_an_official_checkpoint(tmp_path):
    from simclr_tf.evaluation import load_pretrained

    rec = helpers.record("r18_1x_sk0")
    path = helpers.write_checkpoint(rec["layouts"]["saved_model"], str(tmp_path), "saved_model")
    assert is_official(path)
    model = load_pretrained(path)
    assert isinstance(model, simclr_tf.SimCLR)
    images = helpers.reference_script().images(65)
    expected = helpers.reference_script().decode(
        rec["outputs"]["tf2"]["proj_head_input"]["samples"]
    )
    got = helpers.reference_script().summarize(model.encoder(images, training=False))["samples"]
    assert helpers.relative_error(got, expected) <= TOLERANCE


@pytest.mark.large
def test_convert_writes_loadable_files(tmp_path):
    from simclr_tf.convert import convert
    from simclr_tf.evaluation import load_pretrained

    rec = helpers.record("r18_1x_sk0")
    layout = rec["layouts"]["checkpoint"]
    path = helpers.write_checkpoint(layout, str(tmp_path / "ckpt"), "checkpoint")
    out = str(tmp_path / "converted")
    outputs = ["simclr", "classifier", "encoder_saved_model"]
    info = convert(os.path.dirname(path), out, image_size=64, from_projection_layer=0,
                   outputs=outputs)
    assert info["depth"] == 18 and set(info["files"]) == set(outputs)
    assert info["self_check"] is None  # a training checkpoint has no function to compare
    images = helpers.reference_script().images(65)
    expected = load_official(path, classifier=False).encoder(images, training=False)
    for source in (out, os.path.join(out, "simclr.keras"), path):
        model = load_pretrained(source)
        assert isinstance(model, simclr_tf.SimCLR)
        np.testing.assert_allclose(model.encoder(images, training=False), expected, atol=1e-6)
    classifier = keras.saving.load_model(os.path.join(out, "classifier.keras"))
    assert classifier.num_classes == 10


@pytest.mark.large
def test_live_reference_parity(tmp_path):
    """Every endpoint in full, against the reference code itself (its throwaway environment)."""
    venv = os.environ.get("SIMCLR_REFERENCE_VENV")
    reference = os.environ.get("SIMCLR_REFERENCE_DIR")
    if not (venv and reference and os.path.isdir(venv) and os.path.isdir(reference)):
        pytest.skip(
            "needs the reference's Keras 2 environment: SIMCLR_REFERENCE_VENV (a venv with "
            "tensorflow-cpu and tf-keras 2.21) and SIMCLR_REFERENCE_DIR (a google-research/simclr "
            "checkout); see scripts/official_reference.py"
        )
    variants = os.environ.get("SIMCLR_REFERENCE_VARIANTS", "r50_1x_sk0,r50_1x_sk1")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run(
        [
            os.path.join(venv, "bin", "python"), helpers.SCRIPT, f"--reference={reference}",
            f"--output={tmp_path}", f"--variants={variants}", "--tf1",
        ],
        check=True, env=env, capture_output=True,
    )
    for variant in variants.split(","):
        folder = tmp_path / variant
        selector = 1 if variant.endswith("_ft") else 0
        for name in ("checkpoint", "saved_model", "tf1"):
            if not (folder / name).exists():
                continue
            official = load_official(str(folder / name), from_projection_layer=selector)
            npz = "reference_tf1.npz" if name == "tf1" else "reference.npz"
            ref = dict(np.load(folder / npz))
            images = np.load(folder / "reference.npz")["images"]
            ends = helpers.outputs(official, images)
            for endpoint, value in ref.items():
                if endpoint == "images":
                    continue
                error = helpers.relative_error(ends[endpoint], value)
                print(f"{variant} {name} {endpoint} {error:.2e}")
                assert error <= TOLERANCE, (variant, name, endpoint, error)
