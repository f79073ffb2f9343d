"""`--config.mode=supervised`: the same encoder and augmentation trained with cross-entropy,
and the config's augmentation choice (`augment.transforms`, `augment.asymmetric`)."""

import json
import os

import numpy as np
import pytest

from simclr_tf import builders
from simclr_tf.augment import ComposedAugment, SimCLRAugment
from simclr_tf.data import load_arrays
from simclr_tf.study.budgets import base_config


def test_build_augment_from_config():
    config = base_config("tiny")
    assert isinstance(builders.build_augment(config), SimCLRAugment)
    config.augment.transforms = "crop, color,sobel"
    config.augment.asymmetric = True
    augment = builders.build_augment(config)
    assert isinstance(augment, ComposedAugment)
    assert augment.transforms == ("crop", "color", "sobel") and augment.asymmetric
    assert augment.image_size == config.image_size
    config.augment.transforms = ""
    with pytest.raises(ValueError, match="augment.asymmetric"):
        builders.build_augment(config)


def test_supervised_mode_trains_and_evaluates(tmp_path):
    from simclr_tf.supervised import train_supervised

    config = base_config("tiny")
    config.mode = "supervised"
    config.augment.transforms = "crop,color"
    classifier, results = train_supervised(config, str(tmp_path))
    # The same augmentation as pretraining would use, in front of the same encoder.
    assert isinstance(classifier.augment, ComposedAugment)
    assert classifier.augment.transforms == ("crop", "color")
    assert classifier.encoder.get_config() == builders.build_encoder(config).get_config()
    assert all(layer.trainable for layer in classifier.encoder.layers)
    with open(tmp_path / "results.json") as f:
        written = json.load(f)
    assert written["mode"] == "supervised"
    assert written["num_examples"] == 2000  # the whole colour_shapes test split
    # The reported scores are the saved classifier's own predictions on that split (labels out
    # of order, another model's or a subset's predictions give other numbers).
    x, y = load_arrays(config.dataset, "test", image_size=config.image_size)
    predicted = np.argmax(classifier.predict(x, batch_size=500, verbose=0), axis=1)
    assert written["top1"] == pytest.approx(np.mean(predicted == y), abs=1e-6)
    assert os.path.exists(tmp_path / "history.csv")
    config.optimizer.name = "sgd"
    with pytest.raises(ValueError, match="optimizer.name='sgd'"):
        train_supervised(config, str(tmp_path / "other"))
