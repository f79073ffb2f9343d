"""Linear evaluation and kNN on the embedded data: from a pretrained model, an encoder and an
exported encoder; both ways of training the head leave the encoder bit-identical."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers.tiny import tiny_config

from simclr_tf.augment.simclr_augment import SimCLRAugment
from simclr_tf.data import load_embedded_arrays
from simclr_tf.models.classifier_builder import build_classifier
from simclr_tf.protocols.exported import ExportedEncoder
from simclr_tf.protocols.features import extract_dataset_features, extract_features
from simclr_tf.protocols.knn import knn_accuracy
from simclr_tf.protocols.finetune import fine_tune
from simclr_tf.protocols.linear_eval import frozen_batch_norm_in_training_mode, linear_evaluation
from simclr_tf.evaluation.modes import check_mode_config
from simclr_tf.export import export_encoder
from simclr_tf.models.projection_head import ProjectionHead
from simclr_tf.models.resnet import ResNet
from simclr_tf.models.simclr import SimCLR
from simclr_tf.optimizers.lars import LARS

CHANCE = 0.1  # ten balanced classes


def tiny_simclr():
    return SimCLR(
        encoder=ResNet(depth=18, width_multiplier=0.125, cifar_stem=True, input_shape=(16, 16, 3)),
        projection_head=ProjectionHead(num_layers=2, output_dim=32),
        augment=SimCLRAugment(16, color_jitter_strength=0.5, blur=False, seed=0),
        temperature=0.2,
    )


@pytest.fixture(scope="module")
def data():
    (x, y), (xt, yt) = load_embedded_arrays("train"), load_embedded_arrays("test")
    return (x[::10], y[::10]), (xt[::4], yt[::4])  # 1,000 / 500 images, stratified by design


@pytest.fixture(scope="module")
def pretrained_weights(data, tmp_path_factory):
    """A tiny SimCLR pretrained for 3 epochs on 1,000 embedded images (about 7 s)."""
    keras.utils.set_random_seed(0)
    model = tiny_simclr()
    model.compile(optimizer=LARS(0.5, weight_decay=1e-4))
    images = tf.data.Dataset.from_tensor_slices(data[0][0]).shuffle(1000, seed=0)
    model.fit(images.batch(128, drop_remainder=True), epochs=3, verbose=0)
    path = str(tmp_path_factory.mktemp("pretrained") / "tiny.weights.h5")
    model.save_weights(path)
    return path


@pytest.fixture
def pretrained(pretrained_weights):
    model = tiny_simclr()
    model.build((None, 16, 16, 3))
    model.load_weights(pretrained_weights)
    return model


def snapshot(layer):
    """Every variable, BN moving statistics included, by path."""
    return {v.path: v.numpy().copy() for v in layer.weights}


def assert_unchanged(before, layer):
    after = snapshot(layer)
    assert before.keys() == after.keys()
    changed = [k for k in before if not np.array_equal(before[k], after[k])]
    assert not changed, changed


def test_cached_linear_evaluation_beats_chance_and_leaves_the_encoder_untouched(pretrained, data):
    train, test = data
    moving = [v for v in pretrained.encoder.non_trainable_weights if "moving" in v.path]
    assert moving, "the encoder's BN statistics should be among the snapshot"
    before = snapshot(pretrained.encoder)
    result = linear_evaluation(pretrained, train, test, num_classes=10, epochs=30)
    assert result["top1"] > 4 * CHANCE  # measured 0.59
    assert result["top5"] > result["top1"]
    assert_unchanged(before, pretrained.encoder)


def test_augmented_linear_evaluation_is_the_reference_protocol(pretrained, data):
    train, test = data
    before = snapshot(pretrained.encoder)
    classifier = build_classifier(pretrained, 10, fine_tune_after_block=4)
    # Only the zero-initialised head trains; the frozen encoder's BN ignores `training`.
    assert [v.path for v in classifier.trainable_variables] == [
        "classifier/head_supervised/kernel",
        "classifier/head_supervised/bias",
    ]
    assert not np.any(classifier.head.kernel.numpy())
    views = tf.random.uniform((8, 16, 16, 3), seed=1)
    np.testing.assert_array_equal(
        classifier.features(views, training=True), classifier.features(views, training=False)
    )

    result = linear_evaluation(pretrained, train, test, 10, batch_size=64, epochs=10, augment=True)
    assert result["top1"] > 3 * CHANCE  # measured 0.50
    assert_unchanged(before, pretrained.encoder)
    assert pretrained.encoder.trainable  # the classifier froze its own copy


def moving_statistics(encoder):
    return {v.path: v.numpy().copy() for v in encoder.weights if "moving" in v.path}


def test_bn_training_uses_batch_statistics_and_updates_the_moving_averages(pretrained, data):
    """`eval.bn_training=True`, the reference's TF2 linear evaluation: the frozen encoder's batch
    norm normalises each training batch with its own statistics and updates its moving averages,
    exactly as an unfrozen copy in training mode does; no weight of the encoder changes."""
    train, test = data
    frozen = build_classifier(pretrained, 10, fine_tune_after_block=4)
    unfrozen = build_classifier(pretrained, 10)  # its own copy, trainable: Keras' training mode
    # Every BN layer of the ResNet-18: the stem's, 2 in each of 8 blocks, 4 projection shortcuts.
    assert frozen_batch_norm_in_training_mode(frozen.encoder) == 21
    assert [v.path for v in frozen.trainable_variables] == [
        "classifier/head_supervised/kernel",
        "classifier/head_supervised/bias",
    ]
    before = moving_statistics(frozen.encoder)
    views = tf.random.uniform((32, 16, 16, 3), seed=2)
    inference = frozen.features(views, training=False).numpy()
    batch_stats = frozen.features(views, training=True).numpy()
    expected = unfrozen.features(views, training=True).numpy()
    scale = np.abs(expected).max()
    np.testing.assert_allclose(batch_stats, expected, rtol=0, atol=1e-5 * scale)
    assert np.abs(batch_stats - inference).max() > 0.05 * scale  # not the pretraining statistics
    after = moving_statistics(frozen.encoder)
    for path, value in moving_statistics(unfrozen.encoder).items():
        mine = path.replace(unfrozen.encoder.name, frozen.encoder.name, 1)
        np.testing.assert_allclose(after[mine], value, rtol=1e-5, atol=1e-6)
    assert all(not np.allclose(after[k], before[k]) for k in before)

    # Training the head: the moving averages move, the encoder's weights do not.
    weights = {v.path: v.numpy().copy() for v in frozen.encoder.weights if "moving" not in v.path}
    fine_tune(frozen, train, 1, batch_size=64, optimizer="momentum", base_learning_rate=0.1,
              learning_rate_scaling="linear")
    for v in frozen.encoder.weights:
        if "moving" in v.path:
            assert not np.allclose(v.numpy(), after[v.path]), v.path
        else:
            np.testing.assert_array_equal(v.numpy(), weights[v.path], err_msg=v.path)

    before = snapshot(pretrained.encoder)
    result = linear_evaluation(
        pretrained, train, test, 10, batch_size=64, epochs=10, augment=True, bn_training=True
    )
    assert result["top1"] > 3 * CHANCE  # measured 0.40 (0.44 with bn_training=False)
    assert_unchanged(before, pretrained.encoder)  # it trained a copy
    with pytest.raises(ValueError, match="bn_training=True` trains the head through"):
        linear_evaluation(pretrained, train, test, 10, bn_training=True)


def test_bn_training_needs_frozen_layers_that_something_trains_through():
    config = tiny_config(checkpoint="runs/demo", bn_training=True)
    config.mode = "linear_eval"
    with pytest.raises(ValueError, match="eval.bn_training=True` runs frozen layers"):
        check_mode_config(config)  # cached features: computed once, nothing to update
    config.eval.augment = True
    check_mode_config(config)
    config.mode = "finetune"
    with pytest.raises(ValueError, match="eval.bn_training=True` runs frozen layers"):
        check_mode_config(config)  # fine_tune_after_block=-1: nothing frozen
    config.eval.fine_tune_after_block = 2
    check_mode_config(config)


def test_linear_evaluation_from_an_encoder_and_an_exported_encoder(pretrained, data, tmp_path):
    train, test = data
    expected = extract_features(pretrained, test[0])
    # Tolerances relative to the features' scale (26 here, and it grows with pretraining):
    # float32 sums in another order differ by up to ~1e-6 of it in any element, small ones
    # included (measured 4e-7), while a wrong export (bilinear for bicubic, 1/256 for 1/255,
    # batch statistics for moving averages) is off by more than 4e-3 of it.
    scale = float(np.abs(expected).max())
    # An encoder alone takes images as they are: the evaluation transform first.
    views = pretrained.augment(test[0], training=False)
    np.testing.assert_allclose(
        extract_features(pretrained.encoder, views), expected, rtol=1e-5, atol=1e-5 * scale
    )

    path = export_encoder(pretrained, str(tmp_path / "encoder" / "1"))
    exported = ExportedEncoder(path)
    assert exported.output_dim == pretrained.encoder.output_dim
    np.testing.assert_allclose(
        extract_features(exported, test[0]), expected, rtol=1e-4, atol=1e-4 * scale
    )
    float_images = test[0][:16].astype(np.float32) / 255.0  # the float signature agrees too
    np.testing.assert_allclose(exported(float_images), expected[:16], rtol=1e-4, atol=1e-4 * scale)

    from_model = linear_evaluation(pretrained, train, test, 10, epochs=10)
    from_path = linear_evaluation(path, train, test, 10, epochs=10)
    assert abs(from_model["top1"] - from_path["top1"]) <= 0.01
    with pytest.raises(ValueError, match="cached features only"):
        linear_evaluation(exported, train, test, 10, epochs=1, augment=True)
    with pytest.raises(ValueError, match="saved_model.pb"):
        ExportedEncoder(str(tmp_path))


def test_knn_on_pretrained_embeddings_beats_random_init(pretrained, data):
    (x, y), (xt, yt) = data
    dataset = tf.data.Dataset.from_tensor_slices((xt, yt)).batch(128)
    test_features, labels = extract_dataset_features(pretrained, dataset)  # keeps the partial batch
    np.testing.assert_array_equal(labels, yt)
    np.testing.assert_allclose(
        test_features, extract_features(pretrained, xt), rtol=1e-5, atol=1e-5
    )
    accuracy = knn_accuracy(
        extract_features(pretrained, x), y, test_features, yt, 10, k=200, temperature=0.1
    )

    keras.utils.set_random_seed(0)
    random_init = tiny_simclr()
    random_init.build((None, 16, 16, 3))
    baseline = knn_accuracy(
        extract_features(random_init, x), y, extract_features(random_init, xt), yt, 10
    )
    assert accuracy > 4 * CHANCE and accuracy > baseline  # measured 0.50 vs 0.31
