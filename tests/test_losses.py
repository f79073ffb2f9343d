"""NT-Xent against a naive numpy loop, across replicas, and its metrics."""

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.losses import contrastive_loss_and_metrics, nt_xent_loss


def numpy_nt_xent(z1, z2, temperature, hidden_norm=True):
    """The paper's definition, one anchor at a time: returns (reference-scale loss, acc)."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    if hidden_norm:
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    losses = []
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        sims = np.array([z[i] @ z[k] / temperature for k in range(2 * n)])
        others = [k for k in range(2 * n) if k != i]  # the positive and the 2N-2 negatives
        assert len(others) == 2 * n - 1
        log_denominator = np.log(np.sum(np.exp(sims[others])))
        losses.append(log_denominator - sims[positive])
    paper_l = np.mean(losses)  # the paper's L: mean over all 2N anchors
    cross = (z[:n] @ z[n:].T) / temperature
    acc = np.mean(np.argmax(cross, axis=1) == np.arange(n))
    return 2.0 * paper_l, acc


@pytest.mark.parametrize("n,d,temperature", [(2, 3, 0.1), (5, 8, 0.5), (16, 32, 0.2)])
def test_equals_naive_numpy_loop(rng, n, d, temperature):
    z1 = rng.normal(size=(n, d)).astype(np.float32)
    z2 = rng.normal(size=(n, d)).astype(np.float32)
    expected, acc = numpy_nt_xent(z1, z2, temperature)
    out = contrastive_loss_and_metrics(z1, z2, temperature=temperature)
    np.testing.assert_allclose(out["loss"].numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(out["contrast_acc"].numpy(), acc)
    np.testing.assert_allclose(nt_xent_loss(z1, z2, temperature).numpy(), expected, rtol=1e-5)


def test_without_normalisation(rng):
    z1 = rng.normal(size=(4, 5)).astype(np.float32) * 0.3
    z2 = rng.normal(size=(4, 5)).astype(np.float32) * 0.3
    expected, _ = numpy_nt_xent(z1, z2, 0.5, hidden_norm=False)
    got = nt_xent_loss(z1, z2, temperature=0.5, hidden_norm=False).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_entropy_and_perfect_alignment():
    z = np.eye(4, dtype=np.float32)
    out = contrastive_loss_and_metrics(z, z, temperature=0.05)
    assert out["contrast_acc"].numpy() == 1.0
    assert out["contrast_entropy"].numpy() < 1e-3  # all mass on the positive
    uniform = contrastive_loss_and_metrics(np.ones((4, 3), np.float32), np.ones((4, 3), np.float32))
    np.testing.assert_allclose(uniform["contrast_entropy"].numpy(), np.log(4.0), rtol=1e-4)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_inputs_give_float32_loss(rng, dtype):
    z1 = rng.normal(size=(6, 8)).astype(np.float32)
    z2 = rng.normal(size=(6, 8)).astype(np.float32)
    low = contrastive_loss_and_metrics(tf.cast(z1, dtype), tf.cast(z2, dtype), 0.1)
    assert low["loss"].dtype == tf.float32 and np.isfinite(low["loss"].numpy())
    ref = nt_xent_loss(tf.cast(tf.cast(z1, dtype), tf.float32), tf.cast(tf.cast(z2, dtype), tf.float32), 0.1)
    np.testing.assert_allclose(low["loss"].numpy(), ref.numpy(), rtol=1e-6)


def test_two_replicas_equal_one(two_replicas, rng):
    """Loss and gradients with the batch split over 2 replicas equal the full-batch ones."""
    n, d = 8, 6
    z1 = rng.normal(size=(n, d)).astype(np.float32)
    z2 = rng.normal(size=(n, d)).astype(np.float32)
    w = tf.Variable(np.eye(d, dtype=np.float32) + 0.1)

    with tf.GradientTape() as tape:
        loss = nt_xent_loss(z1 @ w, z2 @ w, temperature=0.2)
    expected_grad = tape.gradient(loss, w).numpy()

    with two_replicas.scope():
        wd = tf.Variable(w.numpy())

    def step(a, b):
        with tf.GradientTape() as tape:
            local = nt_xent_loss(tf.matmul(a, wd), tf.matmul(b, wd), temperature=0.2)
            scaled = local / 2.0  # as SimCLR.train_step: replica gradients are summed
        return local, tape.gradient(scaled, wd)

    ds = tf.data.Dataset.from_tensor_slices((z1, z2)).batch(n)
    a, b = next(iter(two_replicas.experimental_distribute_dataset(ds)))
    local_losses, grads = two_replicas.run(tf.function(step), args=(a, b))
    losses = two_replicas.experimental_local_results(local_losses)
    np.testing.assert_allclose(np.mean([l.numpy() for l in losses]), loss.numpy(), rtol=1e-5)
    summed = two_replicas.reduce(tf.distribute.ReduceOp.SUM, grads, axis=None)
    np.testing.assert_allclose(summed.numpy(), expected_grad, rtol=1e-4, atol=1e-6)


def test_bad_inputs():
    z = np.ones((1, 4), np.float32)
    with pytest.raises(ValueError, match="at least 2 images"):
        nt_xent_loss(z, z)
    with pytest.raises(ValueError, match="temperature"):
        nt_xent_loss(np.ones((2, 4), np.float32), np.ones((2, 4), np.float32), temperature=0.0)
    with pytest.raises(ValueError, match="batch, dim"):
        nt_xent_loss(np.ones((2, 4, 1), np.float32), np.ones((2, 4, 1), np.float32))
