"""A published SavedModel decides its projection layer and checks its conversion (selector.py,
selfcheck.py, `convert`'s self-check).

The fixtures give the recorded R18 SavedModel layout the reference's callable
`__call__(inputs, trainable)` (tests/helpers/official_saved_model.py): once with a supervised
head that reads projection layer 1, once layer 0. For an R18 with a 3-layer head, layers 0, 1
and 2 are all 512 wide, so only the function can tell them apart.
"""

import os
import shutil

import numpy as np
import pytest

from simclr_tf.convert import convert
from simclr_tf.official import load_official, selfcheck
from tests.helpers import official as helpers


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """{layer: SavedModel folder whose function reads that projection layer}, each under a
    release path that names the other choice, so that a path-based guess would be wrong."""
    layout = helpers.record("r18_1x_sk0")["layouts"]["saved_model"]
    root = tmp_path_factory.mktemp("saved_models")
    return {
        1: helpers.write_saved_model_with_function(layout, str(root / "pretrained" / "r18"), 1),
        0: helpers.write_saved_model_with_function(
            layout, str(root / "finetuned_100pct" / "r18"), 0
        ),
    }


@pytest.mark.parametrize("layer", [0, 1])
def test_the_function_decides_the_projection_layer(saved_models, layer):
    official = load_official(saved_models[layer])
    assert official.info["from_projection_layer"] == layer
    assert "SavedModel's own function" in official.info["projection_layer_from"]
    images = selfcheck.probe_images(seed=1)
    expected = selfcheck.SavedModelFunction(saved_models[layer])(images)["logits_sup"]
    got = official.classifier.logits(images, training=False)
    assert selfcheck.relative_error(got, expected) <= selfcheck.TOLERANCE


def test_convert_self_check_passes_and_reports_every_endpoint(saved_models, tmp_path):
    info = convert(saved_models[1], str(tmp_path), image_size=64, outputs=["simclr"])
    errors = info["self_check"]
    assert set(errors) == {
        "initial_conv", "initial_max_pool", "block_group1", "block_group2", "block_group3",
        "block_group4", "final_avg_pool", "proj_head_input", "proj_head_output", "logits_sup",
    }
    assert max(errors.values()) <= selfcheck.TOLERANCE, errors
    assert info["from_projection_layer"] == 1
    assert os.path.exists(tmp_path / "simclr.keras") and os.path.exists(tmp_path / "official.json")


def test_convert_self_check_fails_on_a_wrong_projection_layer(saved_models, tmp_path):
    with pytest.raises(ValueError, match=r"Self-check failed.*\['logits_sup'\].*logits_sup \d"):
        convert(saved_models[1], str(tmp_path), image_size=64, from_projection_layer=0)
    assert not os.listdir(tmp_path)  # nothing written


def test_no_layer_reproduces_a_foreign_function(saved_models, tmp_path):
    from simclr_tf.official.layout import parse_layout
    from simclr_tf.official.reader import CheckpointTensors

    layout = helpers.record("r18_1x_sk0")["layouts"]["saved_model"]
    kernel_key = parse_layout(CheckpointTensors(saved_models[1])).supervised.keys["kernel"]
    kernel = helpers.values(layout)[kernel_key]
    path = helpers.write_checkpoint(
        layout, str(tmp_path), "saved_model", extra={kernel_key: kernel[::-1].copy()}
    )
    shutil.copy(os.path.join(saved_models[1], "saved_model.pb"), path)
    with pytest.raises(ValueError, match=r"no projection layer reproduces.*layer 0 \d.*layer 1"):
        load_official(path)


def test_a_saved_model_without_its_function(tmp_path):
    layout = helpers.record("r18_1x_sk0")["layouts"]["saved_model"]
    path = helpers.write_checkpoint(layout, str(tmp_path / "in"), "saved_model")  # empty .pb
    with pytest.raises(ValueError, match="cannot tell.*function cannot be called"):
        load_official(path)
    out = str(tmp_path / "out")
    with pytest.raises(ValueError, match="Cannot self-check.*self_check=False"):
        convert(path, out, image_size=64, from_projection_layer=0, outputs=["simclr"])
    info = convert(
        path, out, image_size=64, from_projection_layer=0, outputs=["simclr"], self_check=False
    )
    assert info["self_check"] is None and set(info["files"]) == {"simclr"}


def test_relative_error_is_max_abs_over_max_abs():
    expected = np.array([[1.0, -4.0], [2.0, 0.5]])
    assert selfcheck.relative_error(expected + [[0.0, 0.0], [0.5, 0.0]], expected) == 0.125
    assert selfcheck.relative_error(expected[:1], expected) == float("inf")
