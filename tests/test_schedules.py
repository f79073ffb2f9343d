"""Warmup + cosine schedule, learning-rate scaling and step counts, against the reference."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.optimizers.schedules import WarmupCosine, scale_learning_rate, steps_from_epochs


def reference_rate(step, peak, total, warmup):
    """tf2/model.py WarmUpAndCosineDecay, with tf.keras CosineDecay(peak, total - warmup)."""
    if step < warmup:
        return step / warmup * peak
    t = min(step - warmup, total - warmup)
    return 0.5 * peak * (1 + math.cos(math.pi * t / (total - warmup)))


@pytest.mark.parametrize("total,warmup", [(100, 10), (7, 3), (50, 0)])
def test_matches_reference_formula(total, warmup):
    schedule = WarmupCosine(peak_learning_rate=4.8, total_steps=total, warmup_steps=warmup)
    for step in sorted(
        {0, 1, warmup - 1, warmup, warmup + 1, total // 2, total - 1, total, 2 * total}
    ):
        if step < 0:
            continue
        np.testing.assert_allclose(
            float(schedule(step)), reference_rate(step, 4.8, total, warmup), rtol=1e-5, atol=1e-6
        )


def test_shape_of_the_curve():
    schedule = WarmupCosine(2.0, total_steps=40, warmup_steps=8)
    rates = np.array([float(schedule(s)) for s in range(45)])
    assert rates[0] == 0.0 and rates[8] == pytest.approx(2.0)
    assert np.all(np.diff(rates[:9]) > 0) and np.all(np.diff(rates[8:41]) < 0)
    np.testing.assert_allclose(rates[40:], 0.0, atol=1e-7)
    np.testing.assert_allclose(rates[24], 1.0, rtol=1e-6)  # halfway through the cosine


def test_in_a_graph_with_int64_iterations():
    schedule = WarmupCosine(1.0, total_steps=10, warmup_steps=4)
    step = tf.Variable(3, dtype=tf.int64)
    value = tf.function(lambda: schedule(step))()
    assert value.dtype == tf.float32
    np.testing.assert_allclose(value.numpy(), 0.75)


def test_no_warmup_and_serialisation():
    schedule = WarmupCosine(1.0, total_steps=10, warmup_steps=0, name="lr")
    assert float(schedule(0)) == pytest.approx(1.0)
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert isinstance(restored, WarmupCosine)
    assert (
        restored.get_config()
        == schedule.get_config()
        == {"peak_learning_rate": 1.0, "total_steps": 10, "warmup_steps": 0, "name": "lr"}
    )
    assert float(restored(5)) == pytest.approx(float(schedule(5)))


def test_scaling():
    assert scale_learning_rate(0.3, 4096) == pytest.approx(4.8)
    assert scale_learning_rate(1.0, 512) == pytest.approx(2.0)
    assert scale_learning_rate(0.075, 4096, "sqrt") == pytest.approx(4.8)
    with pytest.raises(ValueError, match="scaling='log'"):
        scale_learning_rate(0.3, 256, "log")
    with pytest.raises(ValueError, match="batch_size=0"):
        scale_learning_rate(0.3, 0)


def test_steps_from_epochs_as_the_reference():
    # ImageNet, batch 4096, 100 epochs, 10 warmup: 128116700 // 4096 + 1, 12811670 // 4096;
    # fit runs ceil(1281167 / 4096) = 313 steps per epoch, 31300 >= 31279.
    assert steps_from_epochs(1281167, 4096, 100) == (31279, 3127, 313)
    # CIFAR-10 README command: batch 512, 1000 epochs.
    assert steps_from_epochs(50000, 512, 1000) == (97657, 976, 98)
    assert steps_from_epochs(1000, 100, 2, warmup_epochs=0.5) == (21, 5, 10)
    steps = steps_from_epochs(1000, 100, 2, warmup_epochs=2)
    assert steps.total_steps == 21 and steps.warmup_steps == 20 and steps.steps_per_epoch == 10
    WarmupCosine(1.0, steps.total_steps, steps.warmup_steps)


def test_every_scheduled_step_runs_with_a_nonzero_rate():
    """fit's `epochs * steps_per_epoch` steps cover the schedule (the remainder runs at rate 0);
    when the batch divides the data only the final step (rate ~0) is left out."""
    for n, batch, epochs in [(50000, 512, 1000), (1281167, 4096, 100), (100, 32, 60), (320, 32, 3)]:
        steps = steps_from_epochs(n, batch, epochs, warmup_epochs=0)
        run = epochs * steps.steps_per_epoch
        schedule = WarmupCosine(1.0, steps.total_steps, steps.warmup_steps)
        if n % batch:
            assert steps.total_steps <= run < steps.total_steps + epochs
            assert float(schedule(steps.total_steps)) == 0.0
        else:
            assert run == steps.total_steps - 1
            # The one step not run (index `run`): peak * (pi / 2) ** 2 / (T - W) ** 2.
            rest = steps.total_steps - steps.warmup_steps
            assert float(schedule(run)) == pytest.approx(2.4674 / rest**2, rel=1e-2)


def test_warmup_longer_than_the_run_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"`warmup_epochs` in \[0, epochs\].*warmup_epochs=10"):
        steps_from_epochs(100, 10, 5, warmup_epochs=10)


def test_bad_arguments():
    with pytest.raises(ValueError, match="warmup_steps=20"):
        WarmupCosine(1.0, total_steps=10, warmup_steps=20)
    with pytest.raises(ValueError, match="total_steps=0"):
        WarmupCosine(1.0, total_steps=0)
    with pytest.raises(ValueError, match="peak_learning_rate=-1"):
        WarmupCosine(-1.0, total_steps=10)
    with pytest.raises(ValueError, match="batch_size=0"):
        steps_from_epochs(100, 0, 1)
    with pytest.raises(ValueError, match="epochs=0"):
        steps_from_epochs(100, 10, 0)
