"""`simclr_tf.builders`: every config key it reads reaches the object it builds.

Each key of `config.augment`, `config.model`, `config.loss` and `config.optimizer` is set to a
value other than its default, and the built augmentation, encoder, head, pretrainer or
optimiser is checked for it (and, for the augmentation, its drawn parameters). A builder that
drops a key builds the default silently, which only a non-default value shows (dropping
`augment.blur`, so that the CIFAR configs' `blur = False` trained with blur, once survived the
whole suite). `test_every_key_is_covered` fails when a key is added to these blocks without a
test here.
"""

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf import builders
from simclr_tf.augment import ComposedAugment, SimCLRAugment
from simclr_tf.config import default_config, resolve
from simclr_tf.optimizers import LARS
from simclr_tf.optimizers.l2 import AdamWithL2, SGDWithL2
from tests.test_configs import CONFIGS, config_id, load


def _config(layer):
    return {k: v for k, v in layer.get_config().items() if k != "name"}


def small_config():
    """The defaults, at a size that builds in well under a second."""
    config = default_config()
    config.image_size = 32
    config.model.depth = 18
    config.model.width_multiplier = 0.0625
    return config


def _draw(augment, size=16, n=512):
    return augment.get_random_transformation(tf.zeros([n, size, size, 3]), seed=[1, 2])


# key, non-default value, check of the built SimCLRAugment (attributes and drawn parameters).
AUGMENT = [
    ("color_jitter_strength", 0.3, lambda a: a.color_distortion.strength == 0.3
     and np.abs(_draw(a)["color"]["hue"].numpy()).max() <= 0.2 * 0.3 + 1e-6
     and np.abs(_draw(a)["color"]["hue"].numpy()).max() > 0.2 * 0.25),
    ("blur", False, lambda a: not a.blur and "blur" not in _draw(a)),
    ("brightness_mode", "simclrv1", lambda a: a.color_distortion.brightness_mode == "simclrv1"
     and _draw(a)["color"]["brightness"].numpy().min() < -0.5),  # additive: U[-0.8, 0.8]
    ("blur_min_radius", 2, lambda a: a.gaussian_blur.min_kernel_radius == 2),
]
MODEL = [  # key, value, (built object, its config key, expected)
    ("depth", 18, ("encoder", "depth", 18)),  # small_config's own values (cheap to build)
    ("width_multiplier", 0.0625, ("encoder", "width_multiplier", 0.0625)),
    ("sk_ratio", 0.0625, ("encoder", "sk_ratio", 0.0625)),
    ("se_ratio", 0.25, ("encoder", "se_ratio", 0.25)),
    ("cifar_stem", False, ("encoder", "cifar_stem", False)),  # 32 px would choose True
    ("synchronized_batch_norm", False, ("encoder", "synchronized_batch_norm", False)),
    ("synchronized_batch_norm", False, ("projection_head", "synchronized_batch_norm", False)),
    ("head_mode", "linear", ("projection_head", "mode", "linear")),
    ("head_num_layers", 2, ("projection_head", "num_layers", 2)),
    ("head_output_dim", 64, ("projection_head", "output_dim", 64)),
    ("probe", False, ("model", "num_classes", None)),
    ("probe_from_projection_layer", 1, ("model", "probe_from_projection_layer", 1)),
    ("micro_batch_size", 4, ("model", "micro_batch_size", 4)),
]
LOSS = [  # the block's settings, the `loss` the pretrainer gets
    ({"name": "nt_logistic"}, {"name": "nt_logistic", "semi_hard": False}),
    ({"name": "nt_logistic", "semi_hard": True}, {"name": "nt_logistic", "semi_hard": True}),
    ({"name": "margin_triplet", "margin": 1.6},
     {"name": "margin_triplet", "semi_hard": False, "margin": 1.6}),
    ({"name": "margin_triplet", "semi_hard": True, "margin": 0.1},
     {"name": "margin_triplet", "semi_hard": True, "margin": 0.1}),
]


@pytest.mark.parametrize("key,value,check", AUGMENT, ids=[a[0] for a in AUGMENT])
def test_augment_keys_reach_the_layer(key, value, check):
    config = small_config()
    assert default_config().augment[key] != value
    config.augment[key] = value
    augment = builders.build_augment(config)
    assert isinstance(augment, SimCLRAugment)
    assert check(augment)
    # Nothing else changes: the layer built by hand with that one argument.
    direct = SimCLRAugment(32, seed=config.seed, **{key: value})
    assert _config(augment) == _config(direct)


def test_default_config_builds_the_reference_augmentation():
    augment = builders.build_augment(default_config())
    assert _config(augment) == _config(SimCLRAugment.imagenet(seed=0))


def test_seed_and_image_size_reach_the_layer():
    config = small_config()
    config.seed, config.image_size = 7, 24
    augment = builders.build_augment(config)
    assert augment.image_size == 24
    images = tf.random.stateless_uniform([4, 32, 32, 3], seed=[1, 1])
    np.testing.assert_array_equal(augment(images), SimCLRAugment(24, seed=7)(images))
    assert not np.allclose(SimCLRAugment(24, seed=8)(images), SimCLRAugment(24, seed=7)(images))


@pytest.mark.parametrize("path", CONFIGS, ids=config_id)
def test_each_config_file_trains_with_its_augmentation(path):
    """The shipped configs, CIFAR's `blur = False` and colour strength 0.5 among them."""
    config = load(path)
    augment = builders.build_augment(config)
    a = config.augment
    if a.transforms:
        assert isinstance(augment, ComposedAugment)
        return
    assert (augment.blur, augment.color_jitter_strength, augment.brightness_mode) == (
        a.blur, a.color_jitter_strength, a.brightness_mode
    )
    assert augment.blur_min_radius == a.blur_min_radius
    assert ("blur" in _draw(augment)) == a.blur


def test_composed_augment_keys_reach_the_layer():
    config = small_config()
    config.seed = 3
    config.augment.transforms = "crop, color,blur"
    config.augment.asymmetric = True
    config.augment.color_jitter_strength = 0.3
    config.augment.blur_min_radius = 2
    augment = builders.build_augment(config)
    direct = ComposedAugment(
        32, transforms=("crop", "color", "blur"), asymmetric=True, color_jitter_strength=0.3,
        blur_min_radius=2, seed=3,
    )
    assert _config(augment) == _config(direct)
    assert augment.stages["color"].strength == 0.3
    assert augment.stages["blur"].min_kernel_radius == 2
    # A key the composed stages have no option for fails rather than being dropped.
    config.augment.brightness_mode = "simclrv1"
    with pytest.raises(ValueError, match=r"brightness_mode='simclrv1', augment.transforms="):
        builders.build_augment(config)


@pytest.mark.parametrize("key,value,expected", MODEL, ids=[f"{m[0]}-{m[2][0]}" for m in MODEL])
def test_model_keys_reach_the_pretrainer(key, value, expected):
    config = small_config()
    assert default_config().model[key] != value
    config.model[key] = value
    model = builders.build_pretrainer(config, num_classes=10)
    target, name, wanted = expected
    built = {"model": model, "encoder": model.encoder, "projection_head": model.projection_head}
    built = built[target]
    assert built.get_config()[name] == wanted
    assert getattr(built, name) == wanted
    if target == "encoder":  # the training command's and the evaluation modes' encoder too
        assert builders.build_encoder(config).get_config()[name] == wanted


def test_cifar_stem_rule_and_override():
    config = small_config()
    assert builders.build_encoder(config).cifar_stem  # None at 32 px: the reference's rule
    config.image_size = 64
    assert not builders.build_encoder(config).cifar_stem
    config.model.cifar_stem = True
    assert builders.build_encoder(config).cifar_stem


def test_non_default_model_builds_what_it_says():
    """A built network, not only its config: the head's widths and depth, the probe's input."""
    config = small_config()
    config.model.head_mode = "nonlinear"
    config.model.head_num_layers = 2
    config.model.head_output_dim = 24
    config.model.probe_from_projection_layer = 1
    model = builders.build_pretrainer(config, num_classes=5)
    outputs = model(np.zeros((2, 32, 32, 3), np.uint8))
    assert outputs["projection"].shape == (2, 24)
    assert outputs["probe_logits"].shape == (2, 5)
    assert len(model.projection_head.all_outputs(outputs["features"])) == 3
    assert model.probe.kernel.shape[0] == outputs["features"].shape[-1]  # hidden width = input


def test_objective_keys_reach_the_pretrainer():
    config = small_config()
    config.loss.temperature = 0.5  # beside the other loss options
    config.hidden_norm = False
    config.optimizer.weight_decay = 1e-4
    model = builders.build_pretrainer(config, num_classes=10)
    assert (model.temperature, model.hidden_norm) == (0.5, False)
    assert model.probe_weight_decay == 1e-4  # the probe's L2 term, as the reference's head
    assert (model.get_config()["temperature"], model.get_config()["hidden_norm"]) == (0.5, False)
    # The deprecated top-level key still reaches the model (tests/test_config.py: the alias).
    config = small_config()
    config.temperature = 0.2
    assert builders.build_pretrainer(config).temperature == 0.2
    assert (config.loss.temperature, config.temperature) == (0.2, None)


@pytest.mark.parametrize("settings,expected", LOSS, ids=lambda x: str(x))
def test_loss_keys_reach_the_pretrainer(settings, expected):
    config = small_config()
    config.loss.update(settings)
    model = builders.build_pretrainer(config)
    assert model.contrastive_loss == expected
    assert model.get_config()["loss"] == expected


@pytest.mark.parametrize("name,cls", [("lars", LARS), ("momentum", SGDWithL2), ("adam", AdamWithL2)])
def test_optimizer_keys_reach_the_optimizer(name, cls):
    config = small_config()
    config.batch_size = 1024
    config.epochs, config.warmup_epochs = 20, 3
    config.optimizer.name = name
    config.optimizer.momentum = 0.8
    config.optimizer.weight_decay = 1e-4
    config.optimizer.base_learning_rate = 0.5
    config.optimizer.learning_rate_scaling = "sqrt"
    resolved = resolve(config, 50000)
    optimizer = builders.build_optimizer(config, resolved)
    assert type(optimizer) is cls
    assert optimizer.weight_decay == pytest.approx(1e-4)
    if name != "adam":  # the reference's Adam has no momentum key (beta_1 stays 0.9)
        assert optimizer.momentum == pytest.approx(0.8)
        assert optimizer.nesterov == (name == "momentum")
    schedule = optimizer._learning_rate.get_config()
    assert schedule["peak_learning_rate"] == pytest.approx(0.5 * 1024**0.5)  # sqrt scaling
    assert schedule["total_steps"] == resolved["total_steps"] == 50000 * 20 // 1024 + 1
    assert schedule["warmup_steps"] == resolved["warmup_steps"] > 0


def test_every_key_is_covered():
    """Every key of the blocks the builders read has a non-default test above (or is read
    elsewhere, as said here)."""
    config = default_config()
    covered = {
        "augment": {key for key, _, _ in AUGMENT} | {"transforms", "asymmetric"},
        "model": {key for key, _, _ in MODEL},
        "loss": {key for settings, _ in LOSS for key in settings} | {"temperature"},
        "optimizer": {"name", "momentum", "weight_decay", "base_learning_rate",
                      "learning_rate_scaling"},
    }
    for block, keys in covered.items():
        missing = set(config[block]) - keys
        assert not missing, f"config.{block} keys without a builder test: {sorted(missing)}"
