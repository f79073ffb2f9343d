"""NT-Xent against a naive numpy loop, across replicas, and its metrics."""

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.losses import contrastive_loss_and_metrics, nt_xent_loss


def numpy_nt_xent(z1, z2, temperature, hidden_norm=True):
    """The paper's definition, one anchor at a time: (reference-scale loss, acc, entropy)."""
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
        top = np.max(sims[others])  # log-sum-exp, stable for large logits
        log_denominator = top + np.log(np.sum(np.exp(sims[others] - top)))
        losses.append(log_denominator - sims[positive])
    paper_l = np.mean(losses)  # the paper's L: mean over all 2N anchors
    cross = (z[:n] @ z[n:].T) / temperature
    acc = np.mean(np.argmax(cross, axis=1) == np.arange(n))
    p = np.exp(cross - cross.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    log_p = np.log(np.where(p > 0, p, 1.0))  # 0 log 0 = 0
    entropy = np.mean(-np.sum(p * log_p, axis=1))
    return 2.0 * paper_l, acc, entropy


def _views(rng, n, d, scale=1.0):
    return (
        (rng.normal(size=(n, d)) * scale).astype(np.float32),
        (rng.normal(size=(n, d)) * scale).astype(np.float32),
    )


@pytest.mark.parametrize("n,d,temperature", [(2, 3, 0.1), (5, 8, 0.5), (16, 32, 0.2)])
def test_equals_naive_numpy_loop(rng, n, d, temperature):
    z1, z2 = _views(rng, n, d)
    expected, acc, entropy = numpy_nt_xent(z1, z2, temperature)
    out = contrastive_loss_and_metrics(z1, z2, temperature=temperature)
    np.testing.assert_allclose(out["loss"].numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(out["contrast_acc"].numpy(), acc)
    np.testing.assert_allclose(out["contrast_entropy"].numpy(), entropy, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nt_xent_loss(z1, z2, temperature).numpy(), expected, rtol=1e-5)
    assert out["logits_ab"].shape == (n, n)
    np.testing.assert_array_equal(out["labels"].numpy(), np.arange(n))


def test_without_normalisation(rng):
    z1, z2 = _views(rng, 4, 5, scale=0.3)
    expected, _, _ = numpy_nt_xent(z1, z2, 0.5, hidden_norm=False)
    got = nt_xent_loss(z1, z2, temperature=0.5, hidden_norm=False).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_loss_is_symmetric_in_the_views(rng):
    z1, z2 = _views(rng, 6, 4)
    np.testing.assert_allclose(
        nt_xent_loss(z1, z2, 0.2).numpy(), nt_xent_loss(z2, z1, 0.2).numpy(), rtol=1e-6
    )


def test_entropy_and_perfect_alignment():
    z = np.eye(4, dtype=np.float32)
    out = contrastive_loss_and_metrics(z, z, temperature=0.05)
    assert out["contrast_acc"].numpy() == 1.0
    assert out["contrast_entropy"].numpy() < 1e-3  # all mass on the positive
    ones = np.ones((4, 3), np.float32)
    uniform = contrastive_loss_and_metrics(ones, ones)
    np.testing.assert_allclose(uniform["contrast_entropy"].numpy(), np.log(4.0), rtol=1e-5)
    # Every logit equal: the loss is 2 * log(2N - 1), the chance level of each anchor.
    np.testing.assert_allclose(uniform["loss"].numpy(), 2 * np.log(7.0), rtol=1e-5)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_inputs_give_float32_loss(rng, dtype):
    # Large unnormalised values and a small temperature: logits far beyond float16's range.
    z1, z2 = _views(rng, 6, 8, scale=30.0)
    low = contrastive_loss_and_metrics(
        tf.cast(z1, dtype), tf.cast(z2, dtype), 0.05, hidden_norm=False
    )
    assert low["loss"].dtype == tf.float32 and low["logits_ab"].dtype == tf.float32
    as_f32 = [tf.cast(tf.cast(z, dtype), tf.float32).numpy() for z in (z1, z2)]
    expected, _, _ = numpy_nt_xent(*as_f32, 0.05, hidden_norm=False)
    assert np.isfinite(low["loss"].numpy())
    np.testing.assert_allclose(low["loss"].numpy(), expected, rtol=1e-5)


def test_compiles_with_xla(rng):
    """TPUs compile the step with XLA; jit_compile on CPU is the proxy."""
    z1, z2 = _views(rng, 4, 6)
    fn = tf.function(lambda a, b: nt_xent_loss(a, b, 0.2), jit_compile=True)
    np.testing.assert_allclose(fn(z1, z2).numpy(), numpy_nt_xent(z1, z2, 0.2)[0], rtol=1e-5)


def _distributed(strategy, z1, z2, fn, batch):
    ds = tf.data.Dataset.from_tensor_slices((z1, z2)).batch(batch)
    a, b = next(iter(strategy.experimental_distribute_dataset(ds)))
    out = strategy.run(fn, args=(a, b))
    return tf.nest.map_structure(lambda t: strategy.experimental_local_results(t), out), a


def test_two_replicas_equal_one(two_replicas, rng):
    """Loss, gradients and metrics with the batch split over 2 replicas equal the full batch."""
    n, d = 8, 6
    z1, z2 = _views(rng, n, d)
    w = tf.Variable(np.eye(d, dtype=np.float32) + 0.1)
    with tf.GradientTape() as tape:
        full = contrastive_loss_and_metrics(z1 @ w, z2 @ w, temperature=0.2)
    expected_grad = tape.gradient(full["loss"], w).numpy()

    with two_replicas.scope():
        wd = tf.Variable(w.numpy())

    @tf.function
    def step(a, b):
        with tf.GradientTape() as tape:
            out = contrastive_loss_and_metrics(tf.matmul(a, wd), tf.matmul(b, wd), temperature=0.2)
            scaled = out["loss"] / 2.0  # the contract: replica gradients are summed
        grad = tape.gradient(scaled, wd)
        return out["loss"], out["contrast_acc"], out["contrast_entropy"], out["labels"], grad

    (losses, accs, entropies, labels, grads), _ = _distributed(two_replicas, z1, z2, step, n)
    np.testing.assert_allclose(np.mean(losses), full["loss"].numpy(), rtol=1e-5)
    np.testing.assert_allclose(np.mean(accs), full["contrast_acc"].numpy())
    np.testing.assert_allclose(np.mean(entropies), full["contrast_entropy"].numpy(), rtol=1e-5)
    np.testing.assert_array_equal(np.concatenate(labels), np.arange(n))  # offset by replica
    np.testing.assert_allclose(
        grads[0].numpy() + grads[1].numpy(), expected_grad, rtol=1e-4, atol=1e-6
    )


@pytest.mark.parametrize("in_function", [True, False])
def test_uneven_replica_batches(two_replicas, rng, in_function):
    """A partial last batch of 7 splits 4 + 3: the positives' offsets follow the real rows."""
    z1, z2 = _views(rng, 7, 5)
    expected, _, _ = numpy_nt_xent(z1, z2, 0.3)

    def step(a, b):
        out = contrastive_loss_and_metrics(a, b, temperature=0.3)
        return out["loss"], out["labels"]

    (losses, labels), a = _distributed(
        two_replicas, z1, z2, tf.function(step) if in_function else step, 7
    )
    sizes = [len(t) for t in two_replicas.experimental_local_results(a)]
    assert sizes == [4, 3]
    np.testing.assert_array_equal(np.concatenate(labels), np.arange(7))
    weighted = sum(s * l.numpy() for s, l in zip(sizes, losses)) / 7
    np.testing.assert_allclose(weighted, expected, rtol=1e-5)


def test_bad_inputs():
    one = np.ones((1, 4), np.float32)
    with pytest.raises(ValueError, match="at least 2 images"):
        nt_xent_loss(one, one)
    two = np.ones((2, 4), np.float32)
    for bad in (0.0, -0.5):
        with pytest.raises(ValueError, match=f"temperature={bad}"):
            nt_xent_loss(two, two, temperature=bad)
    with pytest.raises(ValueError, match="batch, dim"):
        nt_xent_loss(np.ones((2, 4, 1), np.float32), np.ones((2, 4, 1), np.float32))
    with pytest.raises(ValueError, match="same shape"):
        nt_xent_loss(two, np.ones((3, 4), np.float32))


def test_bad_inputs_with_dynamic_shapes():
    spec = tf.TensorSpec((None, 4), tf.float32)
    fn = tf.function(
        lambda a, b, t: nt_xent_loss(a, b, t),
        input_signature=[spec, spec, tf.TensorSpec((), tf.float32)],
    )
    one = tf.ones((1, 4))
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 2 images"):
        fn(one, one, tf.constant(0.1))
    two = tf.random.normal((2, 4), seed=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="temperature"):
        fn(two, two, tf.constant(0.0))
    assert np.isfinite(fn(two, two, tf.constant(0.1)).numpy())
