"""Harnesses shared by the layer and model tests (after keras-hub's tests/test_case.py)."""

import os

import keras
import numpy as np
import tensorflow as tf


def run_serialization_test(obj, input_data=None, atol=1e-6, call_kwargs=None):
    """get_config/from_config round trip: same config, and same outputs when input is given."""
    call_kwargs = call_kwargs or {}
    config = obj.get_config()
    clone = obj.__class__.from_config(config)
    assert clone.get_config() == config, "get_config() differs after from_config()"
    # keras.saving round trip exercises the registered names too.
    serialized = keras.saving.serialize_keras_object(obj)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert revived.get_config() == config
    if input_data is not None:
        a = obj(input_data, **call_kwargs)
        clone(input_data, **call_kwargs)
        clone.set_weights(obj.get_weights())
        b = clone(input_data, **call_kwargs)
        assert_nested_allclose(a, b, atol=atol)
    return clone


def run_keras_saving_test(model, input_data, tmp_path, atol=1e-6, call_kwargs=None):
    """`.keras` save and reload gives the same outputs."""
    call_kwargs = call_kwargs or {}
    expected = model(input_data, **call_kwargs)
    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    actual = restored(input_data, **call_kwargs)
    assert_nested_allclose(expected, actual, atol=atol)
    return restored


def assert_nested_allclose(a, b, atol=1e-6, rtol=1e-6):
    fa = tf.nest.flatten(a)
    fb = tf.nest.flatten(b)
    assert len(fa) == len(fb), f"structures differ: {len(fa)} vs {len(fb)} leaves"
    for x, y in zip(fa, fb):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y), atol=atol, rtol=rtol
        )


def assert_same_updates(weights_a, weights_b, initial, relative=2e-3):
    """Each variable's update (w - w0) equal on both sides, relative to its size.

    For invariance tests (one device vs two replicas): float32 sums over a split batch differ in
    the last bits, while per-replica BN statistics or a wrong loss scaling differ by a factor.
    """
    for a, b, v0 in zip(weights_a, weights_b, initial):
        delta_a, delta_b = a.numpy() - v0, b.numpy() - v0
        scale = max(np.abs(delta_a).max(), 1e-6)
        np.testing.assert_allclose(delta_a, delta_b, atol=relative * scale, err_msg=a.path)
