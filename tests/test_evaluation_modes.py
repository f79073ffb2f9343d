"""Label fractions, loading what an evaluation starts from, and the modes' checks and data
(ImageNet's 1 % subset under tfds mock data); the modes end to end are in
test_evaluation_commands.py. The pretraining run they start from is conftest's
`pretrain_workdir`."""

import os

import numpy as np
import pytest
from helpers.tiny import tiny_config

from simclr_tf.callbacks.checkpoint import ResumableCheckpoint
from simclr_tf.protocols.exported import ExportedEncoder
from simclr_tf.protocols.label_fractions import labelled_dataset, stratified_fraction
from simclr_tf.evaluation.modes import run_mode
from simclr_tf.evaluation.pretrained import load_pretrained


def test_stratified_fraction_keeps_each_class_share_and_is_seeded():
    labels = np.repeat(np.arange(4), [100, 50, 7, 1])
    keep = stratified_fraction(labels, 0.1, seed=3)
    assert np.all(np.diff(keep) > 0)  # sorted, no repeats
    counts = np.bincount(labels[keep], minlength=4)
    np.testing.assert_array_equal(counts, [10, 5, 1, 1])  # round(0.1 n), at least one per class
    np.testing.assert_array_equal(keep, stratified_fraction(labels, 0.1, seed=3))
    assert not np.array_equal(keep, stratified_fraction(labels, 0.1, seed=4))
    np.testing.assert_array_equal(stratified_fraction(labels, 1.0), np.arange(len(labels)))
    for bad in (0.0, 1.5, True, "0.1"):
        with pytest.raises(ValueError, match="label_fraction` must be a number in"):
            stratified_fraction(labels, bad)


def test_imagenet_fractions_are_the_official_subsets():
    assert labelled_dataset("imagenet2012", 0.01) == ("imagenet2012_subset/1pct", None)
    assert labelled_dataset("imagenet2012", 0.1) == ("imagenet2012_subset/10pct", None)
    assert labelled_dataset("imagenet2012_subset/10pct", 1.0) == ("imagenet2012_subset/10pct", None)
    assert labelled_dataset("imagenet2012", 0.5) == ("imagenet2012", 0.5)
    assert labelled_dataset("cifar10", 1.0) == ("cifar10", None)
    assert labelled_dataset("cifar10", 0.01) == ("cifar10", 0.01)
    with pytest.raises(ValueError, match="already is a label subset"):
        labelled_dataset("imagenet2012_subset/1pct", 0.5)


def test_load_pretrained_accepts_every_form(pretrain_workdir, tmp_path):
    _, ckpt = ResumableCheckpoint(os.path.join(pretrain_workdir, "checkpoints")).latest()
    from_workdir = load_pretrained(pretrain_workdir)
    assert from_workdir.encoder.width_multiplier == 0.125  # from the run's config.json
    for model in (load_pretrained(ckpt), load_pretrained(os.path.join(ckpt, "model.weights.h5"))):
        for a, b in zip(model.weights, from_workdir.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    export = os.path.join(pretrain_workdir, "export", "encoder", "1")
    assert isinstance(load_pretrained(export), ExportedEncoder)

    # A weights file away from its run needs the config that built it.
    alone = str(tmp_path / "alone.weights.h5")
    from_workdir.save_weights(alone)
    with pytest.raises(ValueError, match="No config.json found"):
        load_pretrained(alone)
    config = tiny_config()
    np.testing.assert_array_equal(
        load_pretrained(alone, config).encoder.weights[0].numpy(),
        from_workdir.encoder.weights[0].numpy(),
    )
    config.model.width_multiplier = 0.25
    with pytest.raises(ValueError, match="does not fit the model of its config"):
        load_pretrained(alone, config)
    with pytest.raises(ValueError, match="eval.checkpoint` must be a pretraining work directory"):
        load_pretrained(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="eval.checkpoint` is required"):
        load_pretrained("")


def test_mode_errors(pretrain_workdir, tmp_path):
    config = tiny_config()
    config.mode = "evaluate"
    with pytest.raises(ValueError, match="`mode` must be 'pretrain' or one of"):
        run_mode(config, str(tmp_path / "a"))
    config.mode = "linear_eval"
    with pytest.raises(ValueError, match="needs --config.eval.checkpoint"):
        run_mode(config, str(tmp_path / "b"))
    config.eval.checkpoint = pretrain_workdir
    config.eval.optimizer = "sgd"
    with pytest.raises(ValueError, match="eval.optimizer` must be one of"):
        run_mode(config, str(tmp_path / "b"))
    config.eval.optimizer = "lars"
    config.mode = "finetune"
    config.eval.checkpoint = os.path.join(pretrain_workdir, "export", "encoder", "1")
    with pytest.raises(ValueError, match="an exported encoder or a classifier cannot be"):
        run_mode(config, str(tmp_path / "c"))
    config.mode = "distill"
    with pytest.raises(ValueError, match="needs --config.distill.teacher"):
        run_mode(config, str(tmp_path / "d"))
    config.distill.teacher = pretrain_workdir  # a pretraining run is no teacher
    with pytest.raises(ValueError, match="distill.teacher` must be a finetune work directory"):
        run_mode(config, str(tmp_path / "d"))


def test_imagenet_one_percent_reads_the_official_subset(pretrain_workdir, tmp_path, monkeypatch):
    """ImageNet at label_fraction=0.01 fine-tunes on tfds' imagenet2012_subset/1pct and tests on
    imagenet2012's validation split (fake examples with the real feature specs)."""
    import tensorflow_datasets as tfds

    from simclr_tf.evaluation import splits

    read = []
    get_source = splits.data.get_source
    def recording(name, split, *args, **kwargs):
        read.append((name, split))
        return get_source(name, split, *args, **kwargs)

    monkeypatch.setattr(splits.data, "get_source", recording)
    config = tiny_config(checkpoint=pretrain_workdir, label_fraction=0.01, epochs=1, batch_size=8)
    config.mode, config.dataset, config.eval_split = "finetune", "imagenet2012", "validation"
    config.num_train_examples = 16  # mock data has no split sizes
    with tfds.testing.mock_data(num_examples=16):
        results = run_mode(config, str(tmp_path / "imagenet"))
    assert read == [("imagenet2012_subset/1pct", "train"), ("imagenet2012", "validation")]
    assert results["num_examples"] == 16 and 0.0 <= results["top1"] <= results["top5"] <= 1.0


@pytest.mark.parametrize("mode, switched", [("linear_eval", 21), ("finetune", 6)])
def test_bn_training_reaches_the_frozen_layers_of_both_modes(
    pretrain_workdir, tmp_path, monkeypatch, mode, switched
):
    """`eval.bn_training=True` switches the frozen batch norm of the network each mode trains:
    the whole encoder's 21 layers in linear_eval, the stem's and group 1's 6 in finetune with
    `fine_tune_after_block=1` (tests/test_evaluation_linear.py checks what switching does)."""
    import tensorflow_datasets as tfds

    from simclr_tf.evaluation import modes

    calls = []
    switch = modes.frozen_batch_norm_in_training_mode
    monkeypatch.setattr(
        modes, "frozen_batch_norm_in_training_mode", lambda encoder: calls.append(switch(encoder))
    )
    config = tiny_config(checkpoint=pretrain_workdir, epochs=1, batch_size=8, augment=True,
                         fine_tune_after_block=1, bn_training=True)
    config.mode, config.dataset, config.eval_split = mode, "imagenet2012", "validation"
    config.num_train_examples = 16  # mock data has no split sizes
    with tfds.testing.mock_data(num_examples=16):
        results = run_mode(config, str(tmp_path / mode))
    assert calls == [switched]
    assert 0.0 <= results["top1"] <= results["top5"] <= 1.0
    if mode == "linear_eval":
        assert "batch norm in training mode" in results["protocol"]
