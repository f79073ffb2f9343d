"""NT-Logistic and margin triplet (paper Table 2) against naive numpy loops, with semi-hard
mining, across replicas, and the loss selection of `SimCLR(loss=...)`."""

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.losses import contrastive_loss_and_metrics
from simclr_tf.losses.alternatives import (
    get_contrastive_loss,
    margin_triplet_loss,
    margin_triplet_loss_and_metrics,
    nt_logistic_loss,
    nt_logistic_loss_and_metrics,
    semi_hard_negatives,
)


def _log_sigmoid(x):
    return -np.log1p(np.exp(-x))


def numpy_semi_hard(sims, positive_col):
    """One anchor: the closest negative farther than the positive, else the farthest one."""
    pos = sims[positive_col]
    negatives = [k for k in range(len(sims)) if k != positive_col]
    farther = [k for k in negatives if sims[k] < pos]
    if farther:
        return max(farther, key=lambda k: sims[k])
    return min(negatives, key=lambda k: sims[k])


def numpy_loss(z1, z2, pair_loss, semi_hard, hidden_norm=True):
    """Anchor by anchor: view-1 anchors against view-2 candidates, then the reverse."""
    z1, z2 = z1.astype(np.float64), z2.astype(np.float64)
    if hidden_norm:
        z1 = z1 / np.linalg.norm(z1, axis=1, keepdims=True)
        z2 = z2 / np.linalg.norm(z2, axis=1, keepdims=True)
    n = len(z1)
    total = 0.0
    for anchors, candidates in ((z1, z2), (z2, z1)):
        for i in range(n):
            sims = np.array([anchors[i] @ candidates[k] for k in range(n)])
            if semi_hard:
                terms = [pair_loss(sims[i], sims[numpy_semi_hard(sims, i)])]
            else:
                terms = [pair_loss(sims[i], sims[k]) for k in range(n) if k != i]
            total += np.mean(terms)
    return total / n  # mean over anchors i of loss_a[i] + loss_b[i]


def _logistic(t):
    return lambda pos, neg: -_log_sigmoid(pos / t) - _log_sigmoid(-neg / t)


def _margin(m):
    return lambda pos, neg: max(neg - pos + m, 0.0)


def _views(rng, n, d):
    return (rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(n, d)).astype(np.float32))


@pytest.mark.parametrize("semi_hard", [False, True])
@pytest.mark.parametrize("n,d,t", [(2, 3, 0.1), (6, 5, 0.5), (12, 16, 0.2)])
def test_nt_logistic_equals_numpy(rng, semi_hard, n, d, t):
    z1, z2 = _views(rng, n, d)
    expected = numpy_loss(z1, z2, _logistic(t), semi_hard)
    got = nt_logistic_loss(z1, z2, temperature=t, semi_hard=semi_hard).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("semi_hard", [False, True])
@pytest.mark.parametrize("n,d,m", [(2, 3, 0.0), (6, 5, 0.4), (12, 16, 1.6)])
def test_margin_triplet_equals_numpy(rng, semi_hard, n, d, m):
    z1, z2 = _views(rng, n, d)
    expected = numpy_loss(z1, z2, _margin(m), semi_hard)
    got = margin_triplet_loss(z1, z2, margin=m, semi_hard=semi_hard).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_without_normalisation(rng):
    z1, z2 = _views(rng, 5, 4)
    z1, z2 = 0.3 * z1, 0.3 * z2
    expected = numpy_loss(z1, z2, _logistic(0.5), True, hidden_norm=False)
    got = nt_logistic_loss(z1, z2, temperature=0.5, hidden_norm=False, semi_hard=True)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


def test_semi_hard_selection_by_hand():
    # Positive column 1 at 0.5. Row 0: negatives 0.9 (harder), 0.4 and 0.1 (farther): 0.4 wins.
    # Row 1: every negative is closer than the positive (0.2): the farthest, 0.3, is the fallback.
    sims = tf.constant([[0.9, 0.5, 0.4, 0.1], [0.8, 0.3, 0.2, 0.9]])
    labels = tf.constant([1, 2])
    np.testing.assert_array_equal(semi_hard_negatives(sims, labels).numpy(), [2, 1])
    # A tie with the positive is not "farther": row 0 has only 0.5 == positive, then 0.1.
    sims = tf.constant([[0.5, 0.5, 0.1, 0.7]])
    np.testing.assert_array_equal(semi_hard_negatives(sims, tf.constant([1])).numpy(), [2])


def test_margin_semi_hard_counts_only_within_the_margin():
    # Orthogonal unit vectors: every negative similarity 0, positive 1. Margin 0.4: no semi-hard
    # negative lies within the margin (0 < 1 - 0.4), so the loss is 0; margin 1.6: 0.6 each.
    z = np.eye(4, dtype=np.float32)
    assert margin_triplet_loss(z, z, margin=0.4, semi_hard=True).numpy() == 0.0
    np.testing.assert_allclose(margin_triplet_loss(z, z, margin=1.6, semi_hard=True), 1.2, rtol=1e-6)


@pytest.mark.parametrize(
    "fn", [
        lambda a, b: nt_logistic_loss_and_metrics(a, b, 0.2, semi_hard=True),
        lambda a, b: margin_triplet_loss_and_metrics(a, b, 0.2, margin=0.8, semi_hard=True),
        lambda a, b: margin_triplet_loss_and_metrics(a, b, 0.2, margin=0.4),
    ],
)
def test_two_replicas_equal_one(two_replicas, rng, fn):
    """Loss, gradients and metrics with the batch split over 2 replicas equal the full batch."""
    n, d = 8, 6
    z1, z2 = _views(rng, n, d)
    w = tf.Variable(np.eye(d, dtype=np.float32) + 0.1)
    with tf.GradientTape() as tape:
        full = fn(z1 @ w, z2 @ w)
    expected_grad = tape.gradient(full["loss"], w).numpy()
    with two_replicas.scope():
        wd = tf.Variable(w.numpy())

    @tf.function
    def step(a, b):
        with tf.GradientTape() as tape:
            out = fn(tf.matmul(a, wd), tf.matmul(b, wd))
            scaled = out["loss"] / 2.0
        return out["loss"], out["contrast_acc"], out["labels"], tape.gradient(scaled, wd)

    ds = tf.data.Dataset.from_tensor_slices((z1, z2)).batch(n)
    a, b = next(iter(two_replicas.experimental_distribute_dataset(ds)))
    out = two_replicas.run(step, args=(a, b))
    losses, accs, labels, grads = (two_replicas.experimental_local_results(t) for t in out)
    np.testing.assert_allclose(np.mean(losses), full["loss"].numpy(), rtol=1e-5)
    np.testing.assert_allclose(np.mean(accs), full["contrast_acc"].numpy())
    np.testing.assert_array_equal(np.concatenate(labels), np.arange(n))
    np.testing.assert_allclose(grads[0].numpy() + grads[1].numpy(), expected_grad, rtol=1e-4, atol=1e-6)


def test_metrics_match_nt_xent(rng):
    """contrast_acc / entropy are NT-Xent's (the same cross-view logits)."""
    z1, z2 = _views(rng, 6, 5)
    ref = contrastive_loss_and_metrics(z1, z2, temperature=0.3)
    out = nt_logistic_loss_and_metrics(z1, z2, temperature=0.3)
    np.testing.assert_allclose(out["contrast_acc"], ref["contrast_acc"])
    np.testing.assert_allclose(out["contrast_entropy"], ref["contrast_entropy"], rtol=1e-6)


def test_compiles_with_xla(rng):
    z1, z2 = _views(rng, 4, 6)
    fn = tf.function(lambda a, b: margin_triplet_loss(a, b, 0.4, semi_hard=True), jit_compile=True)
    np.testing.assert_allclose(fn(z1, z2).numpy(), margin_triplet_loss(z1, z2, 0.4, semi_hard=True).numpy(), rtol=1e-6)


def test_get_contrastive_loss(rng):
    z1, z2 = _views(rng, 4, 3)
    assert get_contrastive_loss(None) is contrastive_loss_and_metrics
    assert get_contrastive_loss("nt_xent") is contrastive_loss_and_metrics
    fn = get_contrastive_loss({"name": "margin_triplet", "margin": 0.8, "semi_hard": True})
    np.testing.assert_allclose(
        fn(z1, z2, 0.1, True)["loss"], margin_triplet_loss(z1, z2, 0.8, semi_hard=True)
    )
    with pytest.raises(ValueError, match="Received: loss='hinge'"):
        get_contrastive_loss("hinge")
    with pytest.raises(ValueError, match="unknown \\['margin'\\]"):
        get_contrastive_loss({"name": "nt_logistic", "margin": 0.4})
    with pytest.raises(ValueError, match="margin=-1"):
        margin_triplet_loss(z1, z2, margin=-1)


def test_simclr_uses_the_selected_loss():
    """SimCLR(loss=...) computes exactly the selected function on its projections."""
    from helpers.tiny import FixedViews, images_and_labels, tiny_model
    from simclr_tf.models.simclr import SimCLR

    images, _ = images_and_labels(6)
    spec = {"name": "margin_triplet", "margin": 0.8, "semi_hard": True}
    model = tiny_model(augment=FixedViews(16), loss=spec)
    model.compile(optimizer="sgd")
    logs = model.test_step(tf.constant(images))  # views: identity, then flipped (FixedViews)
    views = FixedViews(16)
    both = tf.concat([views(images, training=True), views(images, training=True)], axis=0)
    z1, z2 = tf.split(model._forward(both, training=False)[0]["projection"], 2)
    expected = margin_triplet_loss(z1, z2, margin=0.8, semi_hard=True)
    np.testing.assert_allclose(logs["contrast_loss"], expected, rtol=1e-5)
    clone = SimCLR.from_config(model.get_config())
    assert clone.get_config()["loss"] == spec and clone.contrastive_loss == spec


def test_config_selects_the_loss():
    from simclr_tf import builders
    from simclr_tf.config import default_config

    config = default_config()
    assert builders.loss_spec(config) == "nt_xent"
    config.loss.name = "nt_logistic"
    config.loss.semi_hard = True
    assert builders.loss_spec(config) == {"name": "nt_logistic", "semi_hard": True}
    config.loss.name = "margin_triplet"
    config.loss.margin = 1.6
    assert builders.loss_spec(config) == {"name": "margin_triplet", "semi_hard": True, "margin": 1.6}
    config.loss.name = "nt_xent"
    with pytest.raises(ValueError, match="loss.semi_hard=True"):
        builders.loss_spec(config)
