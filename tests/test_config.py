"""`simclr_tf.config`: the defaults a run gets without a config file are the reference's
(google-research/simclr `tf2/run.py` flags, SimCLR v2 on ImageNet), and the derived values and
checks. The `tf_configs/*.py` files are tested in tests/test_configs.py; how each key reaches the
objects built from it, in tests/test_builders.py.
"""

import pytest

from simclr_tf.config import (
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
    # The key may sit beside the other loss options (`loss.temperature`) or at the top level.
    temperature = config.loss.get("temperature", None)
    assert (temperature if temperature is not None else config.temperature) == 0.1


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
