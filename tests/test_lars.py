"""LARS: hand-computed step, five steps against a numpy port of the reference, exclusions."""

import keras
import numpy as np
import pytest

from simclr_tf.optimizers.lars import LARS


def numpy_lars(w, grads, lr, momentum=0.9, eta=0.001, wd=0.0, decay=True, adapt=True, nesterov=False):
    """Independent port of google-research/simclr tf2/lars_optimizer.py (classic momentum)."""
    w = w.astype(np.float64).copy()
    m = np.zeros_like(w)
    for g in grads:
        g = g.astype(np.float64)
        if decay and wd:
            g = g + wd * w
        trust = 1.0
        if adapt:
            wn, gn = np.linalg.norm(w), np.linalg.norm(g)
            trust = eta * wn / gn if wn > 0 and gn > 0 else 1.0
        m = momentum * m + lr * trust * g
        w = w - (momentum * m + lr * trust * g if nesterov else m)
    return w


def run_keras(w0, grads, **kwargs):
    var = keras.Variable(w0)
    opt = LARS(**kwargs)
    for g in grads:
        opt.apply([keras.ops.convert_to_tensor(g)], [var])
    return var.numpy(), opt


def test_one_step_by_hand():
    w0 = np.array([[3.0, 4.0]], np.float32)  # |w| = 5
    g = np.array([[0.6, 0.8]], np.float32)  # |g| = 1
    # g' = g + 0.1 * w = [0.9, 1.2], |g'| = 1.5; trust = 0.001 * 5 / 1.5; m = lr * trust * g'
    w1, _ = run_keras(w0, [g], learning_rate=2.0, weight_decay=0.1)
    trust = 0.001 * 5.0 / 1.5
    np.testing.assert_allclose(w1, w0 - 2.0 * trust * np.array([[0.9, 1.2]]), rtol=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_five_steps_match_reference_port(rng, nesterov):
    w0 = rng.normal(size=(4, 3)).astype(np.float32)
    grads = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(5)]
    got, _ = run_keras(w0, grads, learning_rate=0.7, weight_decay=1e-3, nesterov=nesterov)
    want = numpy_lars(w0, grads, lr=0.7, wd=1e-3, nesterov=nesterov)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_1d_variables_neither_decayed_nor_adapted(rng):
    b0 = rng.normal(size=(5,)).astype(np.float32)
    grads = [rng.normal(size=(5,)).astype(np.float32) for _ in range(3)]
    got, _ = run_keras(b0, grads, learning_rate=0.1, weight_decay=0.5)
    want = numpy_lars(b0, grads, lr=0.1, wd=0.5, decay=False, adapt=False)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    adapted, _ = run_keras(b0, grads, learning_rate=0.1, weight_decay=0.5, exclude_1d=False)
    assert not np.allclose(adapted, got)


def test_excluded_variables_by_identity_and_name(rng):
    w0 = rng.normal(size=(3, 2)).astype(np.float32)
    grads = [rng.normal(size=(3, 2)).astype(np.float32) for _ in range(3)]
    want = numpy_lars(w0, grads, lr=0.1, wd=0.5, decay=False, adapt=False)
    var = keras.Variable(w0)
    opt = LARS(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[var])
    opt.exclude_from_layer_adaptation(var_list=[var])
    for g in grads:
        opt.apply([keras.ops.convert_to_tensor(g)], [var])
    np.testing.assert_allclose(var.numpy(), want, rtol=1e-6)

    dense = keras.layers.Dense(2, name="probe")
    dense.build((None, 3))
    dense.kernel.assign(w0)
    named = LARS(learning_rate=0.1, weight_decay=0.5, exclude_from_weight_decay_names=["probe"])
    for g in grads:
        named.apply([keras.ops.convert_to_tensor(g)], [dense.kernel])
    np.testing.assert_allclose(dense.kernel.numpy(), want, rtol=1e-6)


def test_zero_weights_use_trust_one():
    w1, _ = run_keras(np.zeros((2, 2), np.float32), [np.ones((2, 2), np.float32)], learning_rate=0.1)
    np.testing.assert_allclose(w1, -0.1 * np.ones((2, 2)), rtol=1e-6)


def test_config_round_trip_and_errors():
    opt = LARS(learning_rate=0.2, momentum=0.8, eta=0.002, weight_decay=1e-4, nesterov=True,
               exclude_from_weight_decay_names=["probe"])
    config = opt.get_config()
    clone = LARS.from_config(config)
    assert clone.get_config() == config
    for key, value in [("momentum", 0.8), ("eta", 0.002), ("weight_decay", 1e-4), ("nesterov", True)]:
        assert config[key] == value
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(restored, LARS) and restored.weight_decay == 1e-4
    with pytest.raises(ValueError, match="momentum"):
        LARS(momentum=1.0)
    with pytest.raises(ValueError, match="eta"):
        LARS(eta=0.0)
