"""The reference's non-LARS optimisers: Nesterov momentum and Adam with a coupled L2 term.

References are independent: a numpy port of the update rules of TF2's Keras optimisers on
`g + wd * w` (the gradient of the reference's `weight_decay * tf.nn.l2_loss(w)` loss term), the
same L2 term built into a loss and differentiated by TensorFlow, and the reference's exclusion
rule (every trainable weight except batch norm's).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.optimizers import build_optimizer, exclude_from_decay
from simclr_tf.optimizers.l2 import AdamWithL2, SGDWithL2, batch_norm_variables
from simclr_tf.optimizers.schedules import WarmupCosine

from helpers.tiny import images_and_labels, tiny_model


def numpy_nesterov_l2(w, grads, lr, wd, momentum=0.9):
    """tf.keras SGD(nesterov=True) (`ResourceApplyKerasMomentum`) on g + wd * w."""
    w = w.astype(np.float64).copy()
    v = np.zeros_like(w)
    for step, g in enumerate(grads):
        rate = lr(step) if callable(lr) else lr
        g = g.astype(np.float64) + wd * w
        v = momentum * v - rate * g
        w = w + momentum * v - rate * g
    return w


def numpy_adam_l2(w, grads, lr, wd, b1=0.9, b2=0.999, eps=1e-7, decoupled=False):
    """tf.keras Adam (epsilon-hat form) on g + wd * w; `decoupled` is AdamW, for contrast."""
    w = w.astype(np.float64).copy()
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        if decoupled:
            w = w - lr * wd * w
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        w = w - alpha * m / (np.sqrt(v) + eps)
    return w


def run(optimizer, w0, grads):
    var = keras.Variable(w0)
    for g in grads:
        optimizer.apply([tf.constant(g)], [var])
    return var.numpy()


def test_nesterov_l2_matches_numpy_and_differs_from_decoupled(rng):
    w0 = rng.normal(size=(4, 3)).astype(np.float32)
    grads = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(5)]
    schedule = WarmupCosine(0.8, total_steps=6, warmup_steps=2)
    lr = lambda s: float(schedule(s))  # noqa: E731
    got = run(SGDWithL2(schedule, momentum=0.9, weight_decay=0.05), w0, grads)
    np.testing.assert_allclose(got, numpy_nesterov_l2(w0, grads, lr, 0.05), rtol=1e-5, atol=1e-6)
    # Keras' own decay (decoupled) is a different update: the test can tell them apart.
    keras_sgdw = run(
        keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, weight_decay=0.05), w0, grads
    )
    assert np.abs(keras_sgdw - got).max() > 1e-3


def test_l2_term_equals_the_reference_loss_term(rng):
    """Same trajectory as the reference: plain Nesterov SGD on loss + wd * l2_loss(w)."""
    w0 = rng.normal(size=(3, 5)).astype(np.float32)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    wd = 0.1

    def loss_fn(w):
        return tf.reduce_mean(tf.square(tf.matmul(x, w) - 1.0))

    ours, ref = keras.Variable(w0), tf.Variable(w0)
    opt = SGDWithL2(0.05, momentum=0.9, weight_decay=wd)
    ref_opt = keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True)
    for _ in range(4):
        with tf.GradientTape() as tape:
            loss = loss_fn(ours.value)
        opt.apply([tape.gradient(loss, ours.value)], [ours])
        with tf.GradientTape() as tape:
            loss = loss_fn(ref) + wd * tf.nn.l2_loss(ref)
        ref_opt.apply([tape.gradient(loss, ref)], [ref])
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-5, atol=1e-7)


def test_adam_l2_is_adam_plus_l2_not_adamw(rng):
    w0 = rng.normal(size=(6,)).astype(np.float32)
    grads = [rng.normal(size=(6,)).astype(np.float32) for _ in range(5)]
    got = run(AdamWithL2(0.01, weight_decay=0.5), w0, grads)
    np.testing.assert_allclose(got, numpy_adam_l2(w0, grads, 0.01, 0.5), rtol=1e-5, atol=1e-6)
    adamw = numpy_adam_l2(w0, grads, 0.01, 0.5, decoupled=True)
    assert np.abs(adamw - got).max() > 1e-3


def test_build_optimizer_names_and_serialisation():
    sgd = build_optimizer("momentum", 0.1, momentum=0.9, weight_decay=1e-6)
    assert isinstance(sgd, SGDWithL2) and sgd.nesterov and sgd.weight_decay == 1e-6
    assert isinstance(build_optimizer("adam", 0.1, weight_decay=1e-4), AdamWithL2)
    with pytest.raises(ValueError, match="optimizer='sgd'"):
        build_optimizer("sgd", 0.1)
    with pytest.raises(ValueError, match="weight_decay=-1"):
        SGDWithL2(0.1, weight_decay=-1)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(sgd))
    assert isinstance(restored, SGDWithL2)
    assert (restored.weight_decay, restored.nesterov, restored.momentum) == (1e-6, True, 0.9)


def _sgd_step(model, images, labels, weight_decay, bias=0.25):
    """One fit step with SGDWithL2(weight_decay); returns (weights before, updates), in order."""
    model.probe.bias.assign(np.full(model.probe.bias.shape, bias, np.float32))
    before = [v.numpy() for v in model.trainable_variables]
    # Eager: one step needs no graph, and the exclusions are decided just the same.
    model.compile(optimizer=SGDWithL2(0.5, momentum=0.9, weight_decay=weight_decay), run_eagerly=True)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(len(images))
    model.fit(ds, epochs=1, verbose=0)
    return before, [v.numpy() - w for v, w in zip(model.trainable_variables, before)]


def test_simclr_decays_everything_but_batch_norm_and_the_probe_once():
    """The reference's `add_weight_decay` under momentum: L2 on every trainable weight except
    batch norm's, the supervised head (kernel and bias) once. With the same data, weights and
    views, the update with decay minus the one without is exactly -(1 + m) * lr * wd * w0 on
    the first Nesterov step for decayed variables, and 0 for the others."""
    images, labels = images_and_labels(8)
    wd, lr, m = 0.1, 0.5, 0.9
    plain = tiny_model(num_classes=4, probe_weight_decay=0.0)
    plain.build(images.shape)
    decayed = tiny_model(num_classes=4, probe_weight_decay=wd)
    decayed.build(images.shape)
    decayed.set_weights(plain.get_weights())
    w0, base = _sgd_step(plain, images, labels, 0.0)
    _, step = _sgd_step(decayed, images, labels, wd)
    bn = {id(v) for v in batch_norm_variables(decayed)}
    variables = decayed.trainable_variables
    ids = {id(v) for v in variables}
    assert bn and id(decayed.probe.kernel) in ids and id(decayed.probe.bias) in ids
    checked = {"bn": 0, "decayed": 0}
    for v, w, a, b in zip(variables, w0, step, base):
        excluded = id(v) in bn
        expected = np.zeros_like(w) if excluded else -(1 + m) * lr * wd * w
        np.testing.assert_allclose(a - b, expected, atol=2e-5, err_msg=v.path)
        checked["bn" if excluded else "decayed"] += 1
    assert checked["bn"] >= 4 and checked["decayed"] >= 4, checked


def test_classifier_head_kernel_has_its_own_l2_and_bias_is_decayed():
    from simclr_tf.augment.simclr_augment import SimCLRAugment
    from simclr_tf.evaluation import build_classifier

    model = tiny_model()
    model.build((None, 16, 16, 3))
    augment = SimCLRAugment(16, color_distort=False, blur=False)
    classifier = build_classifier(
        model, 4, from_projection_layer=1, augment=augment, head_weight_decay=0.1
    )
    optimizer = SGDWithL2(0.1, weight_decay=0.1)
    classifier.compile(optimizer=optimizer)
    kernel, bias = classifier.head.kernel, classifier.head.bias
    assert not optimizer.uses_weight_decay(kernel)  # its regulariser already decays it
    assert optimizer.uses_weight_decay(bias)
    assert len(classifier.losses) == 1  # the kernel's L2 term, once
    bn = batch_norm_variables(classifier)
    assert len(bn) > 2 and not any(optimizer.uses_weight_decay(v) for v in bn)
    projection_kernels = [v for v in classifier.projection.trainable_variables if len(v.shape) == 2]
    assert projection_kernels and all(optimizer.uses_weight_decay(v) for v in projection_kernels)


def test_exclusions_reach_lars_and_skip_keras_optimizers():
    from simclr_tf.optimizers.lars import LARS

    model = tiny_model(num_classes=4)
    model.build((None, 16, 16, 3))
    lars = LARS(0.1, weight_decay=1e-4)
    probe = model.probe.trainable_variables
    exclude_from_decay(lars, model, own_l2=[model.probe.kernel], supervised_head=probe)
    assert not any(lars.uses_weight_decay(v) or lars.uses_layer_adaptation(v) for v in probe)
    keras_sgd = keras.optimizers.SGD(0.1, weight_decay=1e-4)
    exclude_from_decay(keras_sgd, model)  # no additive exclusions there: left alone
