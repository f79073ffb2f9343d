"""Distillation (SimCLRv2 sec. 2.3): the loss against numpy, the labelled term, and a student that
comes to agree with its teacher on the embedded data."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.tiny import small_encoder
from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.data import load_embedded_arrays
from simclr_tf.models.classifier import Classifier
from simclr_tf.protocols.distill import Distiller, distill, distillation_loss
from simclr_tf.protocols.finetune import evaluate_classifier, fine_tune
from simclr_tf.models.resnet import ResNet


def tiny_classifier(width=0.125, num_classes=10, image_size=16):
    return Classifier(
        ResNet(
            depth=18,
            width_multiplier=width,
            cifar_stem=True,
            input_shape=(image_size, image_size, 3),
        ),
        num_classes,
        SimCLRAugment(image_size, color_distort=False, blur=False, seed=0),
    )


def small_classifier(num_classes=10, image_size=16):
    return Classifier(
        small_encoder(image_size),
        num_classes,
        SimCLRAugment(image_size, color_distort=False, blur=False, seed=0),
    )


def numpy_log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_distillation_loss_matches_numpy_and_its_gradient(rng):
    teacher = rng.normal(size=(6, 5)).astype(np.float32) * 3
    student = rng.normal(size=(6, 5)).astype(np.float32) * 3
    for tau in (0.5, 1.0, 2.0):
        targets = np.exp(numpy_log_softmax(teacher / tau))
        expected = -(targets * numpy_log_softmax(student / tau)).sum(-1)
        np.testing.assert_allclose(distillation_loss(teacher, student, tau), expected, rtol=1e-5)
        # d/ds = (softmax(s / tau) - softmax(t / tau)) / tau; nothing reaches the teacher.
        t, s = tf.constant(teacher), tf.constant(student)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([t, s])
            loss = tf.reduce_sum(distillation_loss(t, s, tau))
        expected_grad = (np.exp(numpy_log_softmax(student / tau)) - targets) / tau
        np.testing.assert_allclose(tape.gradient(loss, s), expected_grad, rtol=1e-4, atol=1e-6)
        assert tape.gradient(loss, t) is None
    with pytest.raises(ValueError, match="temperature` must be > 0"):
        distillation_loss(teacher, student, 0.0)


def test_labelled_term_masks_unlabelled_examples(rng):
    distiller = Distiller(tiny_classifier(num_classes=4), tiny_classifier(num_classes=4), alpha=0.5)
    logits = rng.normal(size=(5, 4)).astype(np.float32)
    labels = np.array([2, -1, 0, -1, 3])
    log_probs = numpy_log_softmax(logits)
    expected = -np.mean([log_probs[0, 2], log_probs[2, 0], log_probs[4, 3]])
    assert float(distiller._labelled_loss(labels, logits)) == pytest.approx(expected, rel=1e-5)
    assert float(distiller._labelled_loss(np.full(5, -1), logits)) == 0.0


def test_distiller_config_round_trip():
    distiller = Distiller(tiny_classifier(num_classes=3), tiny_classifier(num_classes=3), 2.0, 0.7)
    config = distiller.get_config()
    clone = Distiller.from_config(config)
    assert (clone.temperature, clone.alpha) == (2.0, 0.7)
    assert clone.get_config() == config and not clone.teacher.trainable


def test_distiller_checks_its_arguments():
    with pytest.raises(ValueError, match="same classes"):
        Distiller(tiny_classifier(num_classes=3), tiny_classifier(num_classes=4))
    with pytest.raises(ValueError, match=r"`alpha` must be in \[0, 1\]"):
        Distiller(tiny_classifier(), tiny_classifier(), alpha=1.5)
    with pytest.raises(ValueError, match="temperature` must be > 0"):
        Distiller(tiny_classifier(), tiny_classifier(), temperature=-1.0)


# two trainings; the default suite distils in
# test_distillation_with_the_labelled_loss_and_a_different_input_size
@pytest.mark.large
def test_distillation_makes_a_smaller_student_agree_with_its_teacher():
    (x, y), (xt, yt) = load_embedded_arrays("train"), load_embedded_arrays("test")
    x, y, xt, yt = x[::10], y[::10], xt[::4], yt[::4]
    keras.utils.set_random_seed(0)
    teacher = tiny_classifier(width=0.125)
    fine_tune(
        teacher,
        (x, y),
        epochs=4,
        batch_size=64,
        optimizer="momentum",
        base_learning_rate=0.4,
        learning_rate_scaling="linear",
    )
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    assert evaluate_classifier(teacher, (xt, yt))["top1"] > 0.3  # measured 0.43

    student = tiny_classifier(width=0.0625)  # half the teacher's width: big-to-small
    start = Distiller(student, teacher)
    start.compile()
    before = start.evaluate(xt, yt, batch_size=250, return_dict=True, verbose=0)["agreement"]
    # Unlabelled images only: the teacher's soft labels are the only targets.
    distiller = distill(student, teacher, x, epochs=4, batch_size=64, base_learning_rate=0.4)
    after = distiller.evaluate(xt, yt, batch_size=250, return_dict=True, verbose=0)
    assert after["agreement"] > before + 0.2  # measured 0.00 -> 0.45
    # The reported scores are the student's and teacher's own predictions'.
    s = np.argmax(student.predict(xt, batch_size=250, verbose=0), axis=1)
    t = np.argmax(teacher.predict(xt, batch_size=250, verbose=0), axis=1)
    assert after["agreement"] == pytest.approx(np.mean(s == t), abs=1e-6)
    assert after["top1"] == pytest.approx(np.mean(s == yt), abs=1e-6)
    # It learnt the task without a label, through the teacher: measured 0.18 (chance 0.1), and
    # no further from the teacher's accuracy than their disagreement allows.
    assert after["top1"] > 0.12
    assert abs(after["top1"] - np.mean(t == yt)) <= 1 - after["agreement"] + 1e-6
    for a, b in zip(teacher_weights, teacher.get_weights()):  # the teacher is fixed
        np.testing.assert_array_equal(a, b)


def test_distillation_with_the_labelled_loss_and_a_different_input_size():
    x, y = load_embedded_arrays("train")
    x, y = x[:128], y[:128].copy()
    y[::2] = -1  # half the images unlabelled
    # The loss's mechanics: two-conv encoders (ResNets distil in docs/evaluation.md's example).
    teacher = small_classifier(image_size=24)
    teacher.head.kernel.assign(tf.random.normal(teacher.head.kernel.shape, seed=4))
    student = small_classifier()
    history = distill(student, teacher, (x, y), epochs=1, batch_size=32, alpha=0.5).history.history
    # loss = 0.5 * distillation + 0.5 * cross-entropy of the labelled half (> 0 at the start).
    assert np.isfinite(history["loss"]).all()
    assert history["loss"][0] > 0.5 * history["distill_loss"][0] + 0.1
