"""`simclr_tf.config`: the defaults a run gets without a config file are the reference's
(google-research/simclr `tf2/run.py` flags, SimCLR v2 on ImageNet), and the derived values and
checks. The `tf_configs/*.py` files are tested in tests/test_configs.py; how each key reaches the
objects built from it, in tests/test_builders.py.
"""

import json
import os
import textwrap

import pytest

from simclr_tf.config import (
    DEPRECATED_KEYS,
    apply_deprecated_keys,
    check_data,
    check_epochs,
    config_keys,
    data_options,
    default_config,
    resolve,
)

# The reference's defaults (docs: differences.md for where ours differ on purpose).
REFERENCE = {
    "dataset": "imagenet2012",
    "image_size": 224,
    "batch_size": 4096,
    "epochs": 100,
    "warmup_epochs": 10,
    "precision": "float32",
    "model.depth": 50,
    "model.width_multiplier": 1.0,
    "model.sk_ratio": 0.0,
    "model.se_ratio": 0.0,
    "model.cifar_stem": None,  # the rule: image_size <= 32
    "model.head_mode": "nonlinear",
    "model.head_num_layers": 3,
    "model.head_output_dim": 128,
    "model.synchronized_batch_norm": True,
    "model.probe_from_projection_layer": 0,
    "model.micro_batch_size": 0,
    "augment.color_jitter_strength": 1.0,
    "augment.blur": True,
    "augment.brightness_mode": "simclrv2",
    "augment.blur_min_radius": 0,
    "augment.transforms": "",
    "augment.asymmetric": False,
    "hidden_norm": True,
    "loss.name": "nt_xent",
    "loss.temperature": 0.1,
    "loss.semi_hard": False,
    "optimizer.name": "lars",
    "optimizer.base_learning_rate": 0.3,
    "optimizer.learning_rate_scaling": "linear",
    "optimizer.momentum": 0.9,
    "optimizer.weight_decay": 1e-6,
    "eval.epochs": 90,
    "eval.base_learning_rate": 0.1,
    "eval.learning_rate_scaling": "linear",
    "eval.optimizer": "momentum",
    "eval.momentum": 0.9,
    "eval.warmup_epochs": 0,
    "eval.standardize_features": False,
    "eval.from_projection_layer": 0,
    "eval.fine_tune_after_block": -1,
    "data.skip_corrupt": False,
    "data.canvas_size": None,
}


def _get(config, dotted):
    for part in dotted.split("."):
        config = config[part]
    return config


@pytest.mark.parametrize("key", REFERENCE)
def test_defaults_are_the_reference(key):
    value = _get(default_config(), key)
    assert value == REFERENCE[key] and type(value) is type(REFERENCE[key]), f"{key}={value!r}"


def test_default_temperature_is_the_reference():
    config = default_config()
    # Beside the other loss options; the former top-level key is an unset placeholder.
    assert config.loss.temperature == 0.1 and type(config.loss.temperature) is float
    assert config.temperature is None
    assert DEPRECATED_KEYS == {"temperature": "loss.temperature"}
    assert apply_deprecated_keys(config).loss.temperature == 0.1  # nothing to move


# === The deprecated top-level `temperature`: every way a config arrives ===

_SMALL = "c.image_size = 32\nc.model.depth = 18\nc.model.width_multiplier = 0.0625\n"


def _config_file(tmp_path, body):
    """A config file as a user's: the defaults at a size that builds fast, plus `body`."""
    path = tmp_path / "my_config.py"
    path.write_text(
        "from simclr_tf.config import default_config\n\n\ndef get_config():\n"
        "    c = default_config()\n" + textwrap.indent(_SMALL + body, "    ")
        + "    return c\n"
    )
    return str(path)


def _parse(monkeypatch, argv):
    """Parses the training command's flags; returns the clean-up to call after."""
    from absl import flags

    monkeypatch.setattr("sys.argv", argv)  # config_flags reads the overrides from sys.argv
    flags.FLAGS(argv)

    def clean_up():
        flags.FLAGS.unparse_flags()
        # config_flags defines a flag per override; a second parse of the same one would be a
        # DuplicateFlagError.
        for name in [n for n in flags.FLAGS if n.startswith("config.")]:
            delattr(flags.FLAGS, name)

    return clean_up


def _command_config(monkeypatch, path, *overrides):
    """The config the training command runs: the file, its overrides, the alias applied."""
    from simclr_tf import train

    clean_up = _parse(monkeypatch, ["train", f"--config={path}", "--workdir=unused", *overrides])
    try:
        return train.command_config()
    finally:
        clean_up()


def _model_temperature(config):
    from simclr_tf import builders

    return builders.build_pretrainer(config).temperature


def _deprecations(caplog):
    return [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]


def test_new_temperature_key_reaches_the_model(tmp_path, monkeypatch, caplog):
    config = _command_config(monkeypatch, _config_file(tmp_path, "c.loss.temperature = 0.3\n"))
    assert (config.loss.temperature, config.temperature) == (0.3, None)
    assert _model_temperature(config) == 0.3
    config = _command_config(monkeypatch, _config_file(tmp_path, ""), "--config.loss.temperature=0.4")
    assert _model_temperature(config) == 0.4
    assert not _deprecations(caplog)


def test_old_temperature_key_in_a_config_file_means_the_new_one(tmp_path, monkeypatch, caplog):
    config = _command_config(monkeypatch, _config_file(tmp_path, "c.temperature = 0.3\n"))
    assert (config.loss.temperature, config.temperature) == (0.3, None)
    assert _model_temperature(config) == 0.3
    (warning,) = _deprecations(caplog)
    assert "`temperature` is deprecated: use `loss.temperature`" in warning
    assert "\n" not in warning
    # Both set in the file to the same value: no conflict.
    same = _config_file(tmp_path, "c.temperature = 0.3\nc.loss.temperature = 0.3\n")
    assert _command_config(monkeypatch, same).loss.temperature == 0.3


def test_old_temperature_override_means_the_new_one(tmp_path, monkeypatch, caplog):
    plain = _config_file(tmp_path, "")
    config = _command_config(monkeypatch, plain, "--config.temperature=0.5")
    assert (config.loss.temperature, config.temperature) == (0.5, None)
    assert _model_temperature(config) == 0.5
    assert len(_deprecations(caplog)) == 1
    # The command line beats the file, whichever key each uses (the configs in tf_configs set
    # the new key; `--config.temperature` on them still changes it).
    new_in_file = _config_file(tmp_path, "c.loss.temperature = 0.3\n")
    assert _command_config(monkeypatch, new_in_file, "--config.temperature=0.5").loss.temperature == 0.5
    old_in_file = _config_file(tmp_path, "c.temperature = 0.3\n")
    config = _command_config(monkeypatch, old_in_file, "--config.loss.temperature=0.4")
    assert (config.loss.temperature, config.temperature) == (0.4, None)
    assert "temperature=0.3 ignored" in _deprecations(caplog)[-1]


def test_old_temperature_key_in_a_saved_config_json_means_the_new_one(tmp_path, caplog):
    """An older run's config.json (top-level `temperature`, no `loss.temperature`), as the
    evaluation modes reload it to rebuild its checkpoint's model."""
    from simclr_tf.evaluation.pretrained import run_config

    saved = default_config().to_dict()
    del saved["loss"]["temperature"]
    saved.update(temperature=0.7, image_size=32)
    saved["model"].update(depth=18, width_multiplier=0.0625)
    (tmp_path / "config.json").write_text(json.dumps({"config": saved, "derived": {}}))
    weights = os.path.join(tmp_path, "checkpoints", "ckpt-000002", "model.weights.h5")
    config = run_config(weights, None)
    assert _model_temperature(config) == 0.7
    assert (config.loss.temperature, config.temperature) == (0.7, None)
    assert len(_deprecations(caplog)) == 1
    # A config.json of today's schema (`temperature` null) loads as written.
    saved = default_config().to_dict()
    saved["loss"]["temperature"] = 0.3
    saved.update(image_size=32)
    saved["model"].update(depth=18, width_multiplier=0.0625)
    (tmp_path / "config.json").write_text(json.dumps({"config": saved, "derived": {}}))
    assert _model_temperature(run_config(weights, None)) == 0.3


def test_conflicting_temperature_keys_are_an_error_naming_both(tmp_path, monkeypatch):
    from absl import app

    from simclr_tf import train

    match = r"`temperature` is the deprecated name of `loss.temperature`.*temperature=0.5.*" \
        r"loss.temperature=0.3"
    both = _config_file(tmp_path, "c.temperature = 0.5\nc.loss.temperature = 0.3\n")
    with pytest.raises(ValueError, match=match):
        _command_config(monkeypatch, both)
    plain = _config_file(tmp_path, "")
    with pytest.raises(ValueError, match=match):
        _command_config(monkeypatch, plain, "--config.temperature=0.5", "--config.loss.temperature=0.3")
    config = default_config()
    config.temperature, config.loss.temperature = 0.5, 0.3
    with pytest.raises(ValueError, match=match):
        apply_deprecated_keys(config)
    with pytest.raises(ValueError, match=match):
        _model_temperature(config)
    # The training command: a usage error, before the work directory exists.
    workdir = tmp_path / "run"
    clean_up = _parse(monkeypatch, ["train", f"--config={plain}", f"--workdir={workdir}",
                                    "--config.temperature=0.5", "--config.loss.temperature=0.3"])
    try:
        with pytest.raises(app.UsageError, match=match):
            train.main([])
    finally:
        clean_up()
    assert not workdir.exists()


def test_resolve_derives_steps_and_learning_rate():
    config = default_config()
    derived = resolve(config, 1281167, num_replicas=8)
    # tf2/model.py: examples * epochs // batch + 1 steps, warmup a floor division.
    assert (derived["total_steps"], derived["warmup_steps"], derived["steps_per_epoch"]) == (
        31279, 3127, 313
    )
    assert derived["learning_rate"] == pytest.approx(0.3 * 4096 / 256)  # 4.8
    assert (derived["num_replicas"], derived["per_replica_batch"]) == (8, 512)
    config.optimizer.learning_rate_scaling = "sqrt"
    config.optimizer.base_learning_rate = 0.075
    assert resolve(config, 1281167)["learning_rate"] == pytest.approx(4.8)  # SimCLRv2's rule
    # Derived, not stored: a new batch size moves every derived value with it.
    config.batch_size = 1024
    derived = resolve(config, 50000)
    assert derived["total_steps"] == 50000 * 100 // 1024 + 1
    assert derived["learning_rate"] == pytest.approx(0.075 * 1024**0.5)
    with pytest.raises(ValueError, match="batch size"):
        resolve(config, 1000)


def test_check_epochs_names_the_keys():
    config = default_config()
    check_epochs(config)
    config.warmup_epochs = 200
    with pytest.raises(ValueError, match=r"`epochs`.*warmup_epochs=200"):
        check_epochs(config)
    config.warmup_epochs = 10
    config.optimizer.name = "sgd"
    with pytest.raises(ValueError, match="optimizer.name"):
        check_epochs(config)
    config.mode = "linear_eval"  # the evaluation modes check their own keys
    check_epochs(config)
    config.eval.warmup_epochs = 91
    with pytest.raises(ValueError, match=r"`eval.epochs`"):
        check_epochs(config)


def test_check_data():
    config = default_config()
    check_data(config)
    config.dataset = "dir:"
    with pytest.raises(ValueError, match="dir:/path"):
        check_data(config)
    config.dataset = "dir:/images"
    config.data.canvas_size = -1
    with pytest.raises(ValueError, match="canvas_size=-1"):
        check_data(config)
    config.data.canvas_size = 0
    check_data(config)


def test_data_options_leave_defaults_out():
    config = default_config()
    assert data_options(config) == {}  # the embedded set keeps its in-memory path
    config.data_dir = "/data"
    config.data.skip_corrupt = True
    config.data.canvas_size = 384
    assert data_options(config) == {"data_dir": "/data", "skip_corrupt": True, "canvas_size": 384}


def test_config_keys_are_dotted_and_sorted():
    keys = config_keys(default_config())
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    assert {"model.depth", "augment.blur", "data.canvas_size", "eval.knn_k", "seed"} <= set(keys)
    assert not any(key in ("model", "augment", "eval", "data") for key in keys)  # leaves only
