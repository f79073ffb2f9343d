"""Warmup + cosine schedule and learning-rate scaling, against the reference's formulas."""

import math

import keras
import numpy as np
import pytest

from simclr_tf.optimizers.schedules import WarmupCosine, scale_learning_rate


def reference_rate(step, peak, total, warmup):
    if step < warmup:
        return step / warmup * peak
    t = min(step - warmup, total - warmup)
    return 0.5 * peak * (1 + math.cos(math.pi * t / (total - warmup)))


def test_matches_reference_formula():
    schedule = WarmupCosine(peak_learning_rate=4.8, total_steps=100, warmup_steps=10)
    for step in [0, 1, 5, 9, 10, 11, 50, 99, 100, 150]:
        np.testing.assert_allclose(
            float(schedule(step)), reference_rate(step, 4.8, 100, 10), rtol=1e-5, atol=1e-6
        )


def test_no_warmup_and_serialisation():
    schedule = WarmupCosine(1.0, total_steps=10, warmup_steps=0)
    assert float(schedule(0)) == pytest.approx(1.0)
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert restored.get_config() == schedule.get_config()


def test_scaling():
    assert scale_learning_rate(0.3, 4096) == pytest.approx(4.8)
    assert scale_learning_rate(0.075, 4096, "sqrt") == pytest.approx(4.8)
    with pytest.raises(ValueError, match="scaling"):
        scale_learning_rate(0.3, 256, "log")
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupCosine(1.0, total_steps=10, warmup_steps=20)
