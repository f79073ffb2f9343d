"""SimCLR(micro_batch_size=M): the chunked (gradient-caching) step against the plain step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.tiny import FixedViews, images_and_labels, small_encoder
from simclr_tf.models import grad_cache
from simclr_tf.models.projection_head import ProjectionHead
from simclr_tf.models.simclr import SimCLR


def small_model(micro_batch_size=0, num_classes=4, synchronized=False):
    encoder = small_encoder(16, synchronized)
    model = SimCLR(
        encoder=encoder,
        projection_head=ProjectionHead(num_layers=2, output_dim=8,
                                       synchronized_batch_norm=synchronized),
        augment=FixedViews(16),
        temperature=0.5,
        num_classes=num_classes,
        micro_batch_size=micro_batch_size,
    )
    model.build((None, 16, 16, 3))
    return model


def twin(model, micro_batch_size, **kwargs):
    """A model of the same weights, micro-batched differently."""
    other = small_model(micro_batch_size, **kwargs)
    other.set_weights(model.get_weights())
    return other


def freeze_batch_norm(model):
    """Inference-mode BN (Keras: a non-trainable BN layer normalises with its moving stats)."""
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def step_gradients(model, data, jit=False):
    """(loss, gradients, moving statistics) of one training step, without applying it; the
    lists follow the variables' order, the same in twin models (their paths differ)."""
    model.compile(optimizer=keras.optimizers.SGD(0.1))

    @tf.function(jit_compile=jit)
    def step():
        if model.micro_batch_size:
            loss, _, _, grads, variables = grad_cache.loss_and_gradients(model, data)
        else:
            with tf.GradientTape() as tape:
                loss, _, probe_terms = model._step(data, training=True)
                scaled = model._scaled_loss(loss)
            variables = model._trainable_for(probe_terms)
            grads = tape.gradient(scaled, variables)
        return loss, grads

    loss, grads = step()
    variables = model.trainable_variables  # the data has labels: every variable trains
    assert len(grads) == len(variables)
    return float(loss), [g.numpy() for g in grads], moving_stats(model)


def moving_stats(model):
    return [v.numpy() for v in model.non_trainable_variables if "moving" in v.name]


def assert_gradients_close(expected, actual, rtol):
    assert len(expected) == len(actual)
    for i, (want, got) in enumerate(zip(expected, actual)):
        error = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert error <= rtol, f"variable {i}: relative error {error:.2e}"


def data(n=8):
    images, labels = images_and_labels(n)
    return tf.constant(images), tf.constant(labels)


@pytest.mark.parametrize("jit", [False, True])
def test_without_batch_norm_statistics_equals_the_plain_step(jit):
    """Inference-mode BN: loss and every gradient (encoder, head, probe) as the whole batch."""
    # float64 network, but the loss and its gradient with respect to the projections are float32:
    # the head's kernel gradients sum terms that nearly cancel (the normalised loss), so the
    # order of summation alone moves them by up to ~3e-5 relative (seen over 8 initialisations;
    # XLA's threads vary that order per run). A chunk dropped or scaled wrongly is off by O(1).
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("float64")
    plain = small_model(0)
    freeze_batch_norm(plain)
    chunked = twin(plain, 2)
    freeze_batch_norm(chunked)
    # Both under the same compiler: XLA's fusions round differently from the graph's kernels.
    loss, grads, _ = step_gradients(plain, data(), jit=jit)
    chunked_loss, chunked_grads, _ = step_gradients(chunked, data(), jit=jit)
    assert len(grads) == 6  # 2 convs, 2 head kernels, the probe's 2
    np.testing.assert_allclose(chunked_loss, loss, rtol=1e-6)
    assert_gradients_close(grads, chunked_grads, rtol=2e-4)


def test_one_chunk_is_the_plain_step_exactly():
    plain = small_model(0)
    chunked = twin(plain, 8)
    loss, grads, stats = step_gradients(plain, data())
    chunked_loss, chunked_grads, chunked_stats = step_gradients(chunked, data())
    assert chunked_loss == loss
    for want, got in zip(grads, chunked_grads):
        np.testing.assert_array_equal(got, want)
    assert len(stats) == 8  # 4 BN layers (2 encoder, 2 head), mean and variance
    for want, got in zip(stats, chunked_stats):  # updated once, as the plain step does
        np.testing.assert_array_equal(got, want)


def test_training_batch_norm_equals_a_per_chunk_reference():
    """Training-mode BN normalises each chunk by itself; the moving statistics are updated once
    per chunk in order (the no-gradient pass's updates are undone)."""
    chunked = small_model(4)
    reference = twin(chunked, 0)
    chunked_loss, chunked_grads, chunked_stats = step_gradients(chunked, data())

    @tf.function
    def reference_step():
        # Plain autodiff through one forward pass per chunk of 4 images (both views each).
        views, labels = reference._prepare(data())
        view1, view2 = tf.split(views, 2)
        with tf.GradientTape() as tape:
            parts = [reference._forward(tf.concat([view1[s:s + 4], view2[s:s + 4]], 0), True)[0]
                     for s in (0, 4)]
            joined = {
                key: tf.concat([p[key][:4] for p in parts] + [p[key][4:] for p in parts], 0)
                for key in ("projection", "probe_logits")}
            loss, _, probe_terms = reference._loss(
                joined["projection"], joined["probe_logits"], labels)
        variables = reference._trainable_for(probe_terms)
        return loss, tape.gradient(loss, variables)

    reference.compile(optimizer=keras.optimizers.SGD(0.1))
    loss, grads = reference_step()
    grads = [g.numpy() for g in grads]
    np.testing.assert_allclose(chunked_loss, float(loss), rtol=1e-6)
    assert_gradients_close(grads, chunked_grads, rtol=1e-5)
    stats = moving_stats(reference)
    assert len(stats) == 8  # 4 BN layers (2 encoder, 2 head), mean and variance
    for want, got in zip(stats, chunked_stats):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    # ... and they moved (not, e.g., restored to their initial values)
    assert not np.allclose(chunked_stats[0], 0.0)


def test_two_replicas_equal_one_device(two_replicas):
    """2 replicas x 2 chunks of 2 images with synchronized BN == one device, 2 chunks of 4, on
    the batch ordered so each chunk holds the same images (NT-Xent does not depend on order):
    the chunk's BN statistics are then the same, as are loss, update and moving statistics."""
    # A fixed initialisation: the synchronized statistics (E[x^2] - E[x]^2 in float32) against
    # the fused kernel's are well conditioned for it; an unlucky random one can leave a channel
    # whose update differs by ~0.5 % between the two paths (seen once, on another CPU).
    keras.utils.set_random_seed(0)
    images, labels = images_and_labels(8)
    order = [0, 1, 4, 5, 2, 3, 6, 7]

    def fit_once(model, images, labels):
        init = [w.numpy() for w in model.trainable_weights]
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8, drop_remainder=True)
        history = model.fit(ds, epochs=1, verbose=0).history
        deltas = [w.numpy() - v for w, v in zip(model.trainable_weights, init)]
        return history, deltas, moving_stats(model)

    single = small_model(4)
    init = single.get_weights()
    one, one_deltas, one_stats = fit_once(single, images[order], labels[order])
    with two_replicas.scope():
        double = small_model(2, synchronized=True)
        double.set_weights(init)
    two, two_deltas, two_stats = fit_once(double, images, labels)
    for key in ("loss", "contrast_loss", "probe_loss", "contrast_acc"):
        np.testing.assert_allclose(two[key], one[key], rtol=1e-5, err_msg=key)
    for a, b in zip(one_deltas, two_deltas):
        # float32 sums over a split batch and a collective: agree to ~1e-5 of the largest
        # update (a wrong replica scaling or chunking differs by a factor)
        np.testing.assert_allclose(b, a, atol=1e-4 * max(np.abs(a).max(), 1e-6))
    assert len(one_stats) == len(two_stats) == 8
    for want, got in zip(one_stats, two_stats):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_mixed_precision_loss_scaling_matches_the_plain_step():
    keras.mixed_precision.set_global_policy("mixed_float16")
    images, labels = images_and_labels(8)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8, drop_remainder=True)
    plain = small_model(0)
    freeze_batch_norm(plain)
    chunked = twin(plain, 4)
    freeze_batch_norm(chunked)
    init = [w.numpy() for w in plain.trainable_weights]
    deltas, losses = [], []
    for model in (plain, chunked):
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        losses.append(model.fit(ds, epochs=1, verbose=0).history["loss"][0])
        deltas.append([w.numpy() - v for w, v in zip(model.trainable_weights, init)])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-2)  # float16 activations
    for a, b in zip(*deltas):  # float16 activations: agree to their precision, not 1e-5
        np.testing.assert_allclose(b, a, atol=2e-2 * max(np.abs(a).max(), 1e-6))


def test_bad_micro_batch_sizes_are_clear_errors():
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="micro_batch_size"):
            small_model(bad)
    model = small_model(3)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    images, labels = images_and_labels(8)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8, drop_remainder=True)
    with pytest.raises(ValueError, match=r"multiple of `micro_batch_size`.*replica=8, "
                                         r"micro_batch_size=3"):
        model.fit(ds, epochs=1, verbose=0)


def test_config_and_saving_keep_micro_batch_size(tmp_path):
    model = small_model(2)
    assert model.get_config()["micro_batch_size"] == 2
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.micro_batch_size == 2
