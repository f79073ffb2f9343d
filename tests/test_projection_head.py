"""Tests for the SimCLR projection head (simclr_tf.models.projection_head)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.models.projection_head import ProjectionHead
from tests.test_case import run_keras_saving_test, run_serialization_test

EPS = 1e-5


def _features(rng, batch=8, dim=16):
    return rng.normal(size=(batch, dim)).astype("float32")


def _randomise(head, rng):
    """Random BN parameters and statistics, so that centring and scaling are visible."""
    for bn in head.batch_norm_layers:
        bn.gamma.assign(rng.uniform(0.5, 1.5, bn.gamma.shape).astype("float32"))
        if bn.center:
            bn.beta.assign(rng.normal(size=bn.beta.shape).astype("float32"))
        bn.moving_mean.assign(rng.normal(size=bn.moving_mean.shape).astype("float32"))
        bn.moving_variance.assign(rng.uniform(0.5, 2, bn.moving_variance.shape).astype("float32"))


def _numpy_head(head, x, training):
    """Independent forward pass: Dense (no bias) -> BN [-> ReLU], list of every output."""
    outputs = [x]
    for dense, bn in zip(head.dense_layers, head.batch_norm_layers):
        h = outputs[-1] @ np.asarray(dense.kernel)
        if training:
            mean, var = h.mean(axis=0), h.var(axis=0)
        else:
            mean, var = np.asarray(bn.moving_mean), np.asarray(bn.moving_variance)
        h = (h - mean) / np.sqrt(var + EPS) * np.asarray(bn.gamma)
        if bn.center:
            h = np.maximum(h + np.asarray(bn.beta), 0.0)
        outputs.append(h)
    return outputs


@pytest.mark.parametrize(
    "kwargs, widths",
    [
        (dict(mode="nonlinear", num_layers=3), [16, 16, 16, 128]),
        (dict(mode="nonlinear", num_layers=2, output_dim=32), [16, 16, 32]),
        (dict(mode="nonlinear", num_layers=1, output_dim=8), [16, 8]),
        (dict(mode="nonlinear", num_layers=3, hidden_dim=24, output_dim=8), [16, 24, 24, 8]),
        (dict(mode="linear", num_layers=3, output_dim=8), [16, 8]),
        (dict(mode="none", output_dim=8), [16]),
    ],
)
@pytest.mark.parametrize("training", [False, True])
def test_outputs_match_numpy(rng, kwargs, widths, training):
    head = ProjectionHead(**kwargs)
    x = _features(rng)
    head(x)
    _randomise(head, rng)
    outputs = head.all_outputs(x, training=training)
    assert [o.shape for o in outputs] == [(8, w) for w in widths]
    expected = _numpy_head(head, x, training)
    assert len(expected) == len(outputs)
    for actual, reference in zip(outputs, expected):
        np.testing.assert_allclose(actual, reference, atol=1e-4, rtol=1e-4)
    np.testing.assert_array_equal(outputs[0], x)  # index 0 is the head's input
    np.testing.assert_allclose(head(x, training=training), outputs[-1], atol=1e-6)


def test_last_layer_has_no_relu_and_hidden_layers_do(rng):
    head = ProjectionHead(num_layers=3, output_dim=32)
    outputs = head.all_outputs(_features(rng, batch=64), training=True)
    assert min(float(np.min(o)) for o in outputs[1:-1]) >= 0.0
    assert float(np.min(outputs[-1])) < 0.0
    # BN(center=False) in training mode: each projection coordinate has batch mean 0.
    np.testing.assert_allclose(np.mean(outputs[-1], axis=0), 0.0, atol=1e-5)


def test_layer_structure_as_reference(rng):
    head = ProjectionHead(num_layers=3, output_dim=64)
    head(_features(rng, dim=256))
    assert [d.units for d in head.dense_layers] == [256, 256, 64]
    assert not any(d.use_bias for d in head.dense_layers)
    assert [bn.center for bn in head.batch_norm_layers] == [True, True, False]
    assert all(bn.scale for bn in head.batch_norm_layers)
    assert [bn.beta is None for bn in head.batch_norm_layers] == [False, False, True]
    assert all(bn.momentum == 0.9 and bn.epsilon == 1e-5 for bn in head.batch_norm_layers)
    # Kernels start from N(0, 0.01).
    kernel = np.asarray(head.dense_layers[0].kernel)
    assert abs(kernel.mean()) < 1e-3 and kernel.std() == pytest.approx(0.01, rel=0.05)
    linear = ProjectionHead(mode="linear", output_dim=64)
    linear(_features(rng))
    assert [bn.center for bn in linear.batch_norm_layers] == [False]
    none = ProjectionHead(mode="none")
    x = _features(rng)
    np.testing.assert_array_equal(none(x), x)
    assert none.weights == []


def test_symbolic_all_outputs():
    outputs = ProjectionHead(num_layers=2, output_dim=8).all_outputs(keras.Input((16,)))
    assert [tuple(o.shape) for o in outputs] == [(None, 16), (None, 16), (None, 8)]


def test_config_round_trip_and_keras_saving(rng, tmp_path):
    head = ProjectionHead(num_layers=2, output_dim=8, hidden_dim=12, batch_norm_decay=0.99)
    config = head.get_config()
    assert {k: config[k] for k in ("mode", "num_layers", "output_dim", "hidden_dim")} == {
        "mode": "nonlinear",
        "num_layers": 2,
        "output_dim": 8,
        "hidden_dim": 12,
    }
    assert config["batch_norm_decay"] == 0.99 and config["synchronized_batch_norm"] is None
    x = _features(rng)
    run_serialization_test(head, x)
    inputs = keras.Input((16,))
    model = keras.Model(inputs, ProjectionHead(num_layers=3, output_dim=8)(inputs))
    _randomise(model.layers[-1], rng)
    restored = run_keras_saving_test(model, x, tmp_path)
    assert isinstance(restored.layers[-1], ProjectionHead)


def test_synchronized_batch_norm_uses_global_statistics(two_replicas, rng):
    assert not any(bn.synchronized for bn in _built(ProjectionHead()).batch_norm_layers)
    head = ProjectionHead(mode="linear", output_dim=4)  # made outside, built inside the scope
    with two_replicas.scope():
        opted_out = _built(ProjectionHead(synchronized_batch_norm=False))
        _built(head)
    assert not any(bn.synchronized for bn in opted_out.batch_norm_layers)
    assert head.batch_norm_layers[0].synchronized
    assert head.get_config()["synchronized_batch_norm"] is None

    # Two replicas with very different halves of the batch: the moving statistics must be
    # those of the whole batch (momentum 0.9: 0.1 * batch statistic after one step).
    x = np.concatenate([_features(rng, 4), 5.0 + 3.0 * _features(rng, 4)])
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(8)
    batch = next(iter(two_replicas.experimental_distribute_dataset(dataset)))
    two_replicas.run(lambda b: head(b, training=True), args=(batch,))
    h = x @ np.asarray(head.dense_layers[0].kernel)
    bn = head.batch_norm_layers[0]
    np.testing.assert_allclose(bn.moving_mean, 0.1 * h.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance, 0.9 + 0.1 * h.var(axis=0), rtol=1e-4)


def _built(head, dim=16):
    head.build((None, dim))
    return head


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(mode="mlp"),
            r"`mode` must be one of \['nonlinear', 'linear', 'none'\]. Received: mode='mlp'",
        ),
        (dict(num_layers=0), "`num_layers` must be an integer >= 1. Received: num_layers=0"),
        (dict(num_layers=2.5), "num_layers=2.5"),
        (dict(output_dim=0), "`output_dim` must be an integer >= 1. Received: output_dim=0"),
        (dict(hidden_dim=-3), "`hidden_dim` must be None .* Received: hidden_dim=-3"),
        (dict(batch_norm_decay=1.5), "`batch_norm_decay` must be in"),
        (dict(synchronized_batch_norm=1), "`synchronized_batch_norm` must be None"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProjectionHead(**kwargs)


def test_unknown_feature_width_is_rejected():
    with pytest.raises(ValueError, match="known feature width"):
        ProjectionHead()(keras.Input((None,)))
