"""Every tf_configs/*.py loads, resolves its derived values and builds its model (at tiny size);
the recipes are the reference's; the linear-evaluation recipe trains as the README's."""

import glob
import importlib.util
import os

import numpy as np
import pytest

from simclr_tf import builders
from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.config import check_epochs, config_keys, default_config, resolve
from simclr_tf.models.classifier import Classifier
from simclr_tf.protocols.finetune import fine_tune
from simclr_tf.protocols.recipe import OptimizerSettings
from simclr_tf.evaluation.modes import _training_kwargs
from simclr_tf.models.resnet import ResNet
from simclr_tf.optimizers import LARS, SGDWithL2


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Configs whose get_config takes an argument (`--config=FILE.py:ARG`): one entry per value.
CONFIG_ARGS = {"imagenet_finetune.py": ("1pct", "10pct")}
CONFIGS = sorted(
    f"{path}:{arg}" if os.path.basename(path) in CONFIG_ARGS else path
    for path in glob.glob(os.path.join(ROOT, "tf_configs", "*.py"))
    for arg in CONFIG_ARGS.get(os.path.basename(path), (None,))
)
# Training-set sizes (tfds metadata) for the derived values; the embedded set's is its own.
SIZES = {"cifar10": 50000, "imagenet2012": 1281167, "stl10": 105000, "embedded_fashion_mnist": 10000,
         "dir:": 1000}  # folder.py: the folder comes from the command line


def load(path, module=False):
    """A config file's config, as config_flags loads it (by path; `FILE.py:ARG` passes ARG to
    its get_config), or the module."""
    path, colon, arg = path.partition(".py:")
    path = path if colon else path[:-3]
    spec = importlib.util.spec_from_file_location(os.path.basename(path), path + ".py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded if module else loaded.get_config(*([arg] if colon else []))


def config_id(path):
    """A test id: `cifar10_r18`, `imagenet_finetune:1pct`."""
    return os.path.basename(path).replace(".py", "")


def test_every_config_is_listed():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"cifar10_r18.py", "imagenet_linear_eval.py", "imagenet_v1.py"} <= names
    assert {"imagenet_finetune_1pct.py", "imagenet_finetune_10pct.py",
            "imagenet_finetune.py:1pct", "imagenet_finetune.py:10pct"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=config_id)
def test_config_loads_resolves_and_builds(path):
    config = load(path)
    assert config_keys(config) == config_keys(default_config())  # no stray or missing key
    doc = load(path, module=True).__doc__
    assert "python -m simclr_tf.train" in doc and "Expected" in doc, "command and expectations"
    check_epochs(config)
    n = SIZES[config.dataset]
    if config.mode == "pretrain":
        derived = resolve(config, n)
        assert derived["total_steps"] == n * config.epochs // config.batch_size + 1
        assert 0 < derived["warmup_steps"] < derived["total_steps"]
        assert config.epochs * derived["steps_per_epoch"] >= derived["total_steps"] - 1
    else:
        e = config.eval
        n = int(n * e.label_fraction)
        settings = OptimizerSettings(
            e.optimizer, e.base_learning_rate, e.learning_rate_scaling, e.momentum, e.weight_decay,
            e.warmup_epochs,
        )
        optimizer, per_epoch = settings.scheduled_optimizer(e.batch_size, e.epochs, n)
        assert per_epoch == -(-n // e.batch_size)
        assert optimizer._learning_rate.total_steps == n * e.epochs // e.batch_size + 1
    # The model at tiny size: width 1/16, 32 px, the stem the full-size config would get. Configs
    # of one architecture share a build (the slow part), keyed by everything that shapes it.
    stem = builders.cifar_stem(config)
    assert stem == (config.image_size <= 32)
    config.model.width_multiplier = 0.0625
    config.model.cifar_stem = stem
    config.image_size = 32
    key = config.model.to_json()
    if key not in _BUILT:
        model = builders.build_pretrainer(config, num_classes=10)
        model.build((None, 32, 32, 3))
        _BUILT[key] = model
    model = _BUILT[key]
    outputs = model(np.zeros((2, 32, 32, 3), np.uint8))
    assert outputs["projection"].shape == (2, config.model.head_output_dim)
    assert len(model.projection_head.all_outputs(outputs["features"])) == (
        config.model.head_num_layers + 1
    )
    assert model.encoder.get_config()["cifar_stem"] == stem
    assert model.encoder.get_config()["depth"] == config.model.depth


_BUILT = {}


def test_reference_recipes():
    r18, v1, v2 = (
        load(os.path.join(ROOT, "tf_configs", f"{n}.py"))
        for n in ("cifar10_r18", "imagenet_v1", "imagenet_v2")
    )
    # The README's CIFAR-10 command leaves num_proj_layers at run.py's default, 3.
    assert r18.model.head_num_layers == 3 and r18.model.cifar_stem is None
    recipe = (r18.batch_size, r18.epochs, r18.loss.temperature, r18.optimizer.weight_decay)
    assert recipe == (512, 1000, 0.5, 1e-4)
    assert v1.augment.brightness_mode == "simclrv1" and v2.augment.brightness_mode == "simclrv2"
    for path in CONFIGS:
        assert load(path).precision == "float32", path  # the papers ran in float32


def _get(config, dotted):
    for part in dotted.split("."):
        config = config[part]
    return config


def test_finetune_configs_share_one_protocol(tmp_path, monkeypatch):
    """The 1 % and 10 % fine-tuning configs are `imagenet_finetune.py`'s two subsets: they
    differ in `eval.label_fraction` and `eval.epochs` only, and each named file is the shared
    file's config for its subset, also when config_flags loads it by a path relative to
    another directory."""
    from absl import flags
    from ml_collections import config_flags

    folder = os.path.join(ROOT, "tf_configs")
    one, ten = (load(os.path.join(folder, f"imagenet_finetune_{n}.py")) for n in ("1pct", "10pct"))
    assert (one.eval.label_fraction, one.eval.epochs) == (0.01, 60)
    assert (ten.eval.label_fraction, ten.eval.epochs) == (0.1, 30)
    differ = {key for key in config_keys(one) if _get(one, key) != _get(ten, key)}
    assert differ == {"eval.label_fraction", "eval.epochs"}
    # The protocol (the reference's full-network fine-tuning command).
    e = one.eval
    assert (one.mode, one.dataset, one.eval_split, one.model.head_num_layers) == (
        "finetune", "imagenet2012", "validation", 3)
    assert (e.from_projection_layer, e.fine_tune_after_block, e.batch_size, e.optimizer) == (
        1, -1, 1024, "lars")
    assert (e.base_learning_rate, e.learning_rate_scaling, e.weight_decay, e.warmup_epochs) == (
        0.005, "sqrt", 0.0, 0)
    shared = os.path.join(folder, "imagenet_finetune.py")
    for subset, named in (("1pct", one), ("10pct", ten)):
        assert load(f"{shared}:{subset}").to_dict() == named.to_dict()
    with pytest.raises(ValueError, match=r"imagenet_finetune.py:1pct or :10pct"):
        load(shared)
    # As the training command loads them: config_flags, by path, from elsewhere.
    monkeypatch.chdir(tmp_path)
    for subset, named in (("1pct", one), ("10pct", ten)):
        for path in (os.path.relpath(os.path.join(folder, f"imagenet_finetune_{subset}.py")),
                     os.path.relpath(shared) + f":{subset}"):
            values = flags.FlagValues()
            config_flags.DEFINE_config_file("config", None, "", flag_values=values)
            argv = ["train", f"--config={path}"]
            monkeypatch.setattr("sys.argv", argv)
            values(argv)
            assert values.config.to_dict() == named.to_dict(), path


@pytest.mark.parametrize(
    "name,batch,epochs,wd",
    [("cifar10_linear_eval", 512, 100, 0.0), ("imagenet_linear_eval", 4096, 90, 1e-6)],
)
def test_linear_eval_configs_are_the_readme_commands(name, batch, epochs, wd):
    config = load(os.path.join(ROOT, "tf_configs", f"{name}.py"))
    e = config.eval
    assert config.mode == "linear_eval" and e.augment  # through the encoder, crop + flip
    assert (e.batch_size, e.epochs, e.weight_decay, e.warmup_epochs) == (batch, epochs, wd, 0)
    kwargs = _training_kwargs(config)
    optimizer, _ = kwargs["optimizer_settings"].scheduled_optimizer(batch, epochs, 50000)
    assert isinstance(optimizer, SGDWithL2) and optimizer.nesterov and optimizer.momentum == 0.9
    assert optimizer.weight_decay == wd
    assert float(optimizer._learning_rate(0)) == pytest.approx(0.1 * batch / 256)


def test_linear_eval_recipe_first_step_by_hand():
    """One step of the reference's linear evaluation, by hand: the head starts at zero, so the
    logits are 0 and the softmax uniform; the gradient is F^T (1/C - onehot) / B; Nesterov's
    first step moves by -(1 + m) * lr * g with lr = 0.1 x B/256 (no warmup, cosine at step 0)."""
    rng = np.random.default_rng(0)
    batch, classes = 16, 4
    images = rng.integers(0, 256, (batch, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, classes, batch).astype(np.int32)
    encoder = ResNet(depth=18, width_multiplier=0.125, cifar_stem=True, input_shape=(16, 16, 3))
    # No crop or flip, so the features of the step are known (the frozen encoder: BN inference).
    augment = SimCLRAugment(16, crop=False, flip=False, color_distort=False, blur=False)
    classifier = Classifier(encoder, classes, augment, fine_tune_after_block=4)
    views = augment(images, training=True)
    features = classifier.features(views, training=True).numpy().astype(np.float64)
    fine_tune(classifier, (images, labels), epochs=1, batch_size=batch, optimizer="momentum",
              base_learning_rate=0.1, learning_rate_scaling="linear",
              compile_kwargs={"run_eagerly": True})  # one step: no graph to build
    assert isinstance(classifier.optimizer, SGDWithL2) and classifier.optimizer.nesterov
    residual = 1.0 / classes - np.eye(classes)[labels]
    lr = 0.1 * batch / 256
    np.testing.assert_allclose(
        classifier.head.kernel.numpy(), -1.9 * lr * features.T @ residual / batch, rtol=1e-4, atol=1e-7
    )
    np.testing.assert_allclose(
        classifier.head.bias.numpy(), -1.9 * lr * residual.mean(0), rtol=1e-4, atol=1e-7
    )
    assert int(classifier.optimizer.iterations.numpy()) == 1  # 16 // 16 + 1 = 2 scheduled, 1 run


def test_lars_configs_build_lars():
    config = load(os.path.join(ROOT, "tf_configs", "cifar10_r18.py"))
    derived = resolve(config, 50000)
    assert isinstance(builders.build_optimizer(config, derived), LARS)
    config.optimizer.name = "momentum"
    assert isinstance(builders.build_optimizer(config, derived), SGDWithL2)


def test_short_run_with_a_longer_warmup_is_a_usage_error_before_anything_is_written(
    tmp_path, monkeypatch
):
    """`--config.epochs=5` on a config with 10 warmup epochs: a usage error that names
    `warmup_epochs`, raised before the work directory exists (rather than a warmup silently
    cut to fit, which would end the run at the peak rate with no decay)."""
    from absl import app, flags

    from simclr_tf import train
    from simclr_tf.evaluation.modes import check_mode_config

    workdir = tmp_path / "run"
    argv = ["train", f"--config={ROOT}/tf_configs/cifar10_r18.py", f"--workdir={workdir}",
            "--config.epochs=5"]
    monkeypatch.setattr("sys.argv", argv)  # config_flags reads the overrides from sys.argv
    flags.FLAGS(argv)
    try:
        with pytest.raises(app.UsageError, match=r"`warmup_epochs`.*warmup_epochs=10"):
            train.main([])
    finally:
        flags.FLAGS.unparse_flags()
    assert not workdir.exists()
    config = load(os.path.join(ROOT, "tf_configs", "cifar10_r18.py"))
    config.optimizer.name = "sgd"
    with pytest.raises(ValueError, match="optimizer.name='sgd'"):
        check_epochs(config)
    # The evaluation modes check their own keys.
    config = load(os.path.join(ROOT, "tf_configs", "cifar10_linear_eval.py"))
    config.eval.checkpoint, config.eval.epochs, config.eval.warmup_epochs = "x", 2, 3
    with pytest.raises(ValueError, match=r"`eval.warmup_epochs`.*eval.warmup_epochs=3"):
        check_mode_config(config)
