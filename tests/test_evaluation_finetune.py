"""Fine-tuning (SimCLRv2): the classifier's graph from projection layer k, freezing after block b,
the optimiser's exclusions, serialization, global BN and two workers."""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_case import assert_same_updates, run_keras_saving_test

from helpers.tiny import images_and_labels, small_encoder

from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.data import load_embedded_arrays
from simclr_tf.models.classifier import Classifier
from simclr_tf.models.classifier_builder import build_classifier, fine_tune_augment
from simclr_tf.optimizers.l2 import build_optimizer
from simclr_tf.protocols.finetune import evaluate_classifier, fine_tune
from simclr_tf.protocols.linear_eval import frozen_batch_norm_in_training_mode
from simclr_tf.models.batch_norm import BatchNormalization, resolve_synchronized
from simclr_tf.models.projection_head import ProjectionHead
from simclr_tf.models.resnet import ResNet
from simclr_tf.models.simclr import SimCLR
from simclr_tf.optimizers.lars import LARS


def tiny_simclr(head_layers=3, seed=0):
    keras.utils.set_random_seed(seed)
    model = SimCLR(
        encoder=ResNet(depth=18, width_multiplier=0.125, cifar_stem=True, input_shape=(16, 16, 3)),
        projection_head=ProjectionHead(num_layers=head_layers, output_dim=16),
        augment=SimCLRAugment(16, color_jitter_strength=0.5, blur=False, seed=0),
    )
    model.build((None, 16, 16, 3))
    # Non-trivial BN statistics and gammas in the head, so copies and outputs are checked.
    rng = np.random.default_rng(seed)
    for norm in model.projection_head.batch_norm_layers:
        norm.set_weights(
            [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in norm.get_weights()]
        )
    return model


def group_weights(encoder, k):
    return {
        v.path: v.numpy().copy() for layer in encoder.block_group_layers(k) for v in layer.weights
    }


@pytest.fixture(scope="module")
def labelled():
    x, y = load_embedded_arrays("train")
    return x[::40], y[::40]  # 250 images, 25 per class


def test_from_projection_layer_1_builds_the_expected_graph():
    model = tiny_simclr(head_layers=3)
    head = model.projection_head
    classifier = build_classifier(model, 7, from_projection_layer=1)

    kinds = [type(layer).__name__ for layer in classifier.projection.layers]
    assert kinds == ["Dense", "BatchNormalization", "ReLU"]  # layer 1 only; layers 2, 3 absent
    for target, source in zip(
        classifier.projection.layers[:2], (head.dense_layers[0], head.batch_norm_layers[0])
    ):
        for a, b in zip(target.get_weights(), source.get_weights()):
            np.testing.assert_array_equal(a, b)
    encoder_vars = len(classifier.encoder.trainable_variables)
    assert len(classifier.trainable_variables) == encoder_vars + 3 + 2  # dense; gamma, beta; head
    assert len(classifier.weights) == len(classifier.encoder.weights) + 5 + 2

    images = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    logits = classifier(images)
    assert logits.shape == (6, 7) and not np.any(logits.numpy())  # zero-initialised head
    views = model.augment(images, training=False)
    expected = head.all_outputs(model.encoder(views, training=False), training=False)[1]
    np.testing.assert_allclose(classifier.features(views), expected, rtol=1e-5, atol=1e-6)

    # Every trainable variable is on the path to the loss: no "Gradients do not exist".
    classifier.head.kernel.assign(tf.random.normal(classifier.head.kernel.shape, seed=1))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(classifier(images, training=True) ** 2)
    gradients = tape.gradient(loss, classifier.trainable_variables)
    assert all(g is not None for g in gradients)


def test_projection_layers_0_and_last():
    model = tiny_simclr(head_layers=2)
    assert build_classifier(model, 3, from_projection_layer=0).projection is None
    last = build_classifier(model, 3, from_projection_layer=2)
    kinds = [type(layer).__name__ for layer in last.projection.layers]
    assert kinds == ["Dense", "BatchNormalization", "ReLU", "Dense", "BatchNormalization"]
    views = tf.random.uniform((4, 16, 16, 3), seed=2)
    np.testing.assert_allclose(
        last.features(views), model.projection_head(model.encoder(views)), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"from_projection_layer` must be an integer in \[0, 2\]"):
        build_classifier(model, 3, from_projection_layer=3)
    with pytest.raises(ValueError, match=r"in \[0, 0\]"):
        build_classifier(model.encoder, 3, from_projection_layer=1, augment=model.augment)


def test_fine_tuning_changes_the_encoder_except_frozen_blocks(labelled):
    model = tiny_simclr()
    original = {k: group_weights(model.encoder, k) for k in range(5)}
    classifier = build_classifier(model, 10, fine_tune_after_block=2)
    before = {k: group_weights(classifier.encoder, k) for k in range(5)}
    history = fine_tune(
        classifier, labelled, epochs=3, batch_size=50, optimizer="lars", base_learning_rate=0.05
    )
    assert history.history["loss"][-1] < history.history["loss"][0]
    after = {k: group_weights(classifier.encoder, k) for k in range(5)}
    for k in (0, 1, 2):  # frozen: weights and BN statistics bit-identical
        assert all(np.array_equal(before[k][p], after[k][p]) for p in before[k]), k
    for k in (3, 4):
        changed = [p for p in before[k] if not np.array_equal(before[k][p], after[k][p])]
        assert any(p.endswith("kernel") for p in changed) and any(
            "moving_mean" in p for p in changed
        ), k
    # `copy_weights=True` (default): the pretrained model is untouched and still trainable.
    for k in range(5):
        assert all(
            np.array_equal(original[k][p], v) for p, v in group_weights(model.encoder, k).items()
        )
    assert all(layer.trainable for layer in model.encoder.layers)


def test_bn_training_updates_the_frozen_groups_statistics_not_their_weights(labelled):
    """`eval.bn_training=True` with `fine_tune_after_block=b`, as the reference (TF1 and TF2):
    the frozen groups' batch norm normalises with batch statistics and updates its moving
    averages while their weights stay bit-identical; the other groups train as before."""
    classifier = build_classifier(tiny_simclr(), 10, fine_tune_after_block=1)
    # The stem's BN and group 1's five (2 blocks x 2, the projection shortcut).
    assert frozen_batch_norm_in_training_mode(classifier.encoder) == 6
    before = {k: group_weights(classifier.encoder, k) for k in range(5)}
    trainable = {v.path for v in classifier.trainable_variables}
    assert not trainable & {p for k in (0, 1) for p in before[k]}
    assert {p for p in before[2] if "moving" not in p} <= trainable
    views = tf.random.uniform((16, 16, 16, 3), seed=3)
    assert not np.allclose(  # group 1 now sees batch statistics in training mode
        classifier.features(views, training=True), classifier.features(views, training=False)
    )
    before = {k: group_weights(classifier.encoder, k) for k in range(5)}
    fine_tune(
        classifier, labelled, epochs=1, batch_size=50, optimizer="lars", base_learning_rate=0.05
    )
    after = {k: group_weights(classifier.encoder, k) for k in range(5)}
    for k in (0, 1):
        for path, value in before[k].items():
            if "moving" in path:
                assert not np.allclose(value, after[k][path]), path
            else:
                np.testing.assert_array_equal(value, after[k][path], err_msg=path)
    assert any(not np.array_equal(before[3][p], after[3][p]) for p in before[3] if "kernel" in p)


def test_fine_tuning_everything_learns():
    """`fine_tune_after_block=-1` trains the whole encoder and the head learns (the recipe's
    mechanics, so the two-conv encoder; the ResNet's freezing is the test above)."""
    x, y = load_embedded_arrays("train")
    keras.utils.set_random_seed(0)
    model = SimCLR(
        encoder=small_encoder(16),
        projection_head=ProjectionHead(num_layers=2, output_dim=16),
        augment=SimCLRAugment(16, color_jitter_strength=0.5, blur=False, seed=0),
    )
    model.build((None, 16, 16, 3))
    classifier = build_classifier(model, 10, fine_tune_after_block=-1)
    kernels = [v.numpy().copy() for v in classifier.encoder.weights if len(v.shape) == 4]
    fine_tune(
        classifier,
        (x[::20], y[::20]),
        epochs=10,
        batch_size=50,
        optimizer="momentum",
        base_learning_rate=0.4,
        learning_rate_scaling="linear",
    )
    after = [v.numpy() for v in classifier.encoder.weights if len(v.shape) == 4]
    assert len(kernels) == 2 and all(not np.array_equal(a, b) for a, b in zip(kernels, after))
    x, y = load_embedded_arrays("test")
    result = evaluate_classifier(classifier, (x[::8], y[::8]))
    assert result["num_examples"] == 250
    # From random initialisation, 120 steps: measured 0.39 top-1 (chance 0.1).
    assert result["top1"] > 0.2 and result["top5"] >= result["top1"]


def test_head_is_kept_out_of_weight_decay_and_trust_ratio():
    classifier = build_classifier(tiny_simclr(), 10, head_weight_decay=1e-4)
    kernel = next(v for v in classifier.encoder.trainable_variables if len(v.shape) == 4)
    lars = LARS(0.1, weight_decay=1e-4)
    classifier.compile(optimizer=lars)
    for variable in classifier.head.trainable_variables:
        assert not lars.uses_weight_decay(variable) and not lars.uses_layer_adaptation(variable)
    assert lars.uses_weight_decay(kernel) and lars.uses_layer_adaptation(kernel)
    sgd = build_optimizer("momentum", 0.1, weight_decay=1e-4)
    assert sgd.nesterov
    classifier.compile(optimizer=sgd)
    assert not sgd.uses_weight_decay(classifier.head.kernel) and sgd.uses_weight_decay(kernel)
    assert sgd.uses_weight_decay(classifier.head.bias)  # the reference's L2 term covers it
    gamma = next(v for v in classifier.encoder.trainable_variables if v.path.endswith("gamma"))
    assert not sgd.uses_weight_decay(gamma)  # batch norm is never decayed
    # The head's own decay: weight_decay * l2_loss(kernel), as the reference adds it.
    classifier.head.kernel.assign(tf.ones_like(classifier.head.kernel))
    expected = 1e-4 * float(tf.nn.l2_loss(classifier.head.kernel))
    assert float(tf.add_n(classifier.losses)) == pytest.approx(expected, rel=1e-6)


def test_classifier_saves_and_reloads_with_its_freezing(tmp_path):
    classifier = build_classifier(
        tiny_simclr(head_layers=2), 5, from_projection_layer=1, fine_tune_after_block=2
    )
    classifier.head.kernel.assign(tf.random.normal(classifier.head.kernel.shape, seed=3))
    images = np.random.default_rng(1).integers(0, 256, (4, 20, 20, 1), dtype=np.uint8)
    restored = run_keras_saving_test(classifier, images, tmp_path, atol=1e-5)
    assert isinstance(restored, Classifier)
    assert len(restored.trainable_variables) == len(classifier.trainable_variables)
    assert restored.get_config()["fine_tune_after_block"] == 2


def test_bad_arguments_are_clear_errors():
    model = tiny_simclr(head_layers=2)
    with pytest.raises(ValueError, match="fine_tune_after_block` must be one of"):
        build_classifier(model, 10, fine_tune_after_block=5)
    with pytest.raises(ValueError, match="num_classes` must be an integer >= 2"):
        build_classifier(model, 1)
    with pytest.raises(ValueError, match="`optimizer` must be one of"):
        build_optimizer("sgd", 0.1)
    with pytest.raises(ValueError, match="pass `augment=`"):
        fine_tune_augment(None)
    with pytest.raises(ValueError, match=r"num_examples` \(or `steps_per_epoch`\) is required"):
        fine_tune(build_classifier(model, 10), tf.data.Dataset.range(3), epochs=1)
    augment = fine_tune_augment(model.augment)
    assert (augment.color_distort, augment.blur, augment.crop, augment.flip) == (
        False,
        False,
        True,
        True,
    )


def replica_classifier(seed=0):
    """A small classifier for the replica invariance: the two-conv encoder, projection layer 1
    of a 2-layer head with non-trivial BN weights, a deterministic input transform (resize
    only: both runs see the same views)."""
    keras.utils.set_random_seed(seed)
    model = SimCLR(
        encoder=small_encoder(16, synchronized=resolve_synchronized(None)),
        projection_head=ProjectionHead(num_layers=2, output_dim=16),
        augment=SimCLRAugment(16, crop=False, flip=False, color_distort=False, blur=False),
    )
    model.build((None, 16, 16, 3))
    rng = np.random.default_rng(seed)
    for norm in model.projection_head.batch_norm_layers:
        norm.set_weights(
            [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in norm.get_weights()]
        )
    return build_classifier(model, 4, from_projection_layer=1, copy_weights=False)


def test_global_batch_norm_and_a_step_under_two_replicas(two_replicas):
    """Fine-tuning (LARS, the default recipe) for two steps at global batch 8: one device and
    two logical-CPU replicas at 4 each end with the same weights and BN moving statistics. The
    zero-initialised head makes the first step train only the head (and update the BN
    statistics); the second reaches the encoder through it."""
    images, labels = images_and_labels(16, size=16)
    single = replica_classifier()
    init = [w.numpy().copy() for w in single.weights]
    with two_replicas.scope():
        double = replica_classifier()
    norms = [layer for layer in double._flatten_layers() if isinstance(layer, BatchNormalization)]
    assert len(norms) == 3 and all(layer.synchronized for layer in norms)
    for variable, value in zip(double.weights, init):
        variable.assign(value)

    # A dataset in a fixed order: the arrays path's seeded shuffle is not guaranteed to give the
    # same order once the strategy distributes the dataset (measured: it does not).
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8, drop_remainder=True)
    recipe = dict(optimizer="lars", base_learning_rate=1.0)  # updates well above float32 noise
    h1 = fine_tune(single, data.repeat(), epochs=1, batch_size=8, num_examples=16, **recipe)
    h2 = fine_tune(double, data.repeat(), epochs=1, batch_size=8, num_examples=16, **recipe)

    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)
    assert_same_updates(single.weights, double.weights, init)
    moved = sum(not np.array_equal(a.numpy(), v0) for a, v0 in zip(single.weights, init))
    assert moved == len(init), "every variable (kernels and BN statistics) should have moved"


WORKER = """
import os, sys
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import numpy as np, tensorflow as tf
from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.models.classifier import Classifier
from simclr_tf.protocols.distill import distill
from simclr_tf.protocols.finetune import fine_tune
from simclr_tf.models.resnet import ResNet

strategy = tf.distribute.MultiWorkerMirroredStrategy()
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (32, 16, 16, 3), dtype=np.uint8)
labels = rng.integers(0, 4, 32).astype(np.int32)
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA

def classifier():
    encoder = ResNet(depth=18, width_multiplier=0.125, cifar_stem=True, input_shape=(16, 16, 3))
    return Classifier(encoder, 4, SimCLRAugment(16, color_distort=False, blur=False, seed=0))

with strategy.scope():
    teacher, student = classifier(), classifier()
labelled = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8, drop_remainder=True)
loss = fine_tune(teacher, labelled.repeat().with_options(options), 1, batch_size=8,
                 steps_per_epoch=2).history["loss"]
unlabelled = tf.data.Dataset.from_tensor_slices(images).batch(8, drop_remainder=True)
distilled = distill(student, teacher, unlabelled.repeat().with_options(options), 1, batch_size=8,
                    steps_per_epoch=2).history.history["loss"]
np.savez(sys.argv[1], loss=np.ravel(loss), distilled=np.ravel(distilled),
         **{f"w{i}": w for i, w in enumerate(student.get_weights())})
"""


@pytest.mark.large
def test_fine_tuning_and_distillation_under_two_workers(tmp_path):
    """MultiWorkerMirroredStrategy with uint8 (images, labels): Keras 3.15's build and log
    handling need the workarounds of `Classifier` and `Distiller` (tensorflow/tensorflow#72388)."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env["PYTHONPATH"] = root
    procs, outs = [], []
    for index in range(2):
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        outs.append(str(tmp_path / f"worker{index}.npz"))
        procs.append(subprocess.Popen(
            [sys.executable, str(script), outs[-1]], env={**env, "TF_CONFIG": json.dumps(task)},
            stderr=subprocess.PIPE,
        ))
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]
    first, second = np.load(outs[0]), np.load(outs[1])
    assert np.isfinite(first["loss"]).all() and np.isfinite(first["distilled"]).all()
    for key in first.files:  # the workers stay in sync
        np.testing.assert_array_equal(first[key], second[key])
