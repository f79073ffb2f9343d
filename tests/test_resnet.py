"""Tests for the SimCLR ResNet encoder family (simclr_tf.models.resnet)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.models.resnet import ENDPOINT_NAMES, ResNet, scaled_width
from simclr_tf.models.selective_kernel import SelectiveKernelConv2D
from simclr_tf.models.squeeze_excite import SqueezeExcite
from tests.test_case import run_keras_saving_test, run_serialization_test

TINY = 0.125  # width multiplier of the small test encoders: 8 stem channels


def _images(rng, size=32, batch=2):
    return rng.random((batch, size, size, 3)).astype("float32")


def _batch_norms(model):
    """Every BatchNormalization of the encoder, including those inside selective kernels."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        if isinstance(layer, SelectiveKernelConv2D):
            found += [layer.stream_bn, layer.mix_bn]
    return found


# --- Shapes ------------------------------------------------------------------------------------


# The reference's residual blocks per group (`block_group1..4`).
BLOCKS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3],
          152: [3, 8, 36, 3], 200: [3, 24, 36, 3]}


@pytest.mark.parametrize(
    "depth, expected_dim",
    [(18, 64), (34, 64), (50, 256), (101, 256), (152, 256), (200, 256)],
)
def test_output_shape_and_blocks_for_each_depth(rng, depth, expected_dim):
    # width 1/8: basic blocks end with 512/8 channels, bottlenecks with 4 * 512/8.
    encoder = ResNet(depth=depth, width_multiplier=TINY, cifar_stem=True, input_shape=(8, 8, 3))
    features = encoder(_images(rng, size=8), training=False)
    assert features.shape == (2, expected_dim)
    assert encoder.output_dim == expected_dim
    assert encoder.count_params() == reference_param_count(depth, TINY, cifar_stem=True)
    assert features.dtype == "float32"
    # The layer counts per group, seen as residual additions.
    for k, count in enumerate(BLOCKS[depth], start=1):
        adds = [layer for layer in encoder.block_group_layers(k) if layer.name.endswith("_add")]
        assert len(adds) == count, (depth, k)


def test_cifar_stem_endpoint_sizes(rng):
    encoder = ResNet(depth=18, width_multiplier=TINY, cifar_stem=True, input_shape=(32, 32, 3))
    stem_conv = encoder.get_layer("stem_1_conv")
    assert stem_conv.kernel_size == (3, 3) and stem_conv.strides == (1, 1)
    assert not any(isinstance(l, keras.layers.MaxPooling2D) for l in encoder.layers)
    maps = encoder.endpoints_model()(_images(rng))
    assert set(maps) == set(ENDPOINT_NAMES)
    expected = {
        "initial_conv": (2, 32, 32, 8),
        "initial_max_pool": (2, 32, 32, 8),
        "block_group1": (2, 32, 32, 8),
        "block_group2": (2, 16, 16, 16),
        "block_group3": (2, 8, 8, 32),
        "block_group4": (2, 4, 4, 64),
        "final_avg_pool": (2, 64),
    }
    assert {k: tuple(v.shape) for k, v in maps.items()} == expected


def test_standard_stem_endpoint_sizes_and_shared_weights(rng):
    encoder = ResNet(depth=50, width_multiplier=TINY, input_shape=(64, 64, 3))
    endpoints = encoder.endpoints_model(["initial_conv", "initial_max_pool", "block_group4"])
    x = _images(rng, size=64)
    maps = endpoints(x)
    assert maps["initial_conv"].shape == (2, 32, 32, 8)
    assert maps["initial_max_pool"].shape == (2, 16, 16, 8)
    assert maps["block_group4"].shape == (2, 2, 2, 256)
    assert encoder.count_params() == reference_param_count(50, TINY)
    # The endpoints model shares the encoder's variables: a change shows in both.
    gamma = encoder.get_layer("block_group4_block3_3_bn").gamma
    gamma.assign(np.full(gamma.shape, 0.5, "float32"))
    pooled = np.mean(keras.ops.convert_to_numpy(endpoints(x)["block_group4"]), axis=(1, 2))
    np.testing.assert_allclose(encoder(x), pooled, atol=1e-5)
    with pytest.raises(ValueError, match="names"):
        encoder.endpoints_model(["logits_sup"])


def test_fractional_width_rounding():
    encoder = ResNet(depth=18, width_multiplier=0.3, cifar_stem=True, input_shape=(8, 8, 3))
    # round half up of 64 * 0.3 = 19.2, 128 * 0.3 = 38.4, 256 * 0.3 = 76.8, 512 * 0.3 = 153.6
    widths = [encoder.get_layer(f"block_group{k}").output.shape[-1] for k in range(1, 5)]
    assert widths == [19, 38, 77, 154]
    assert [scaled_width(64, w) for w in (1, 2, 3, 4, 0.25, 0.5, 0.001)] == [
        64,
        128,
        192,
        256,
        16,
        32,
        1,
    ]
    assert scaled_width(10, 0.25) == 3  # 2.5 rounds up


# --- Reference details -------------------------------------------------------------------------


def test_conv_initialiser_and_batch_norm_settings():
    encoder = ResNet(depth=50, width_multiplier=TINY)
    conv = encoder.get_layer("block_group1_block1_1_conv")
    init = conv.kernel_initializer
    assert isinstance(init, keras.initializers.VarianceScaling)
    assert (init.scale, init.mode, init.distribution) == (1.0, "fan_in", "truncated_normal")
    assert not conv.use_bias
    for bn in _batch_norms(encoder):
        assert bn.momentum == 0.9 and bn.epsilon == 1e-5 and bn.center and bn.scale
    big = ResNet(depth=50, width_multiplier=1).get_layer("block_group4_block1_2_conv").kernel
    fan_in = 3 * 3 * 512
    # Truncated normal scaled to variance 1 / fan_in.
    assert np.std(keras.ops.convert_to_numpy(big)) == pytest.approx(np.sqrt(1 / fan_in), rel=0.02)


@pytest.mark.parametrize("size", [64, 65])
def test_strided_convs_use_fixed_padding(rng, size):
    """The reference pads kernel-1 in total, (k-1)//2 in front, whatever the input size."""
    encoder = ResNet(depth=18, width_multiplier=TINY, input_shape=(size, size, 3))
    x = _images(rng, size=size)
    conv = encoder.get_layer("stem_1_conv")
    stem = keras.Model(encoder.input, conv.output)
    kernel = conv.kernel
    expected = tf.nn.conv2d(tf.pad(x, [[0, 0], [3, 3], [3, 3], [0, 0]]), kernel, 2, "VALID")
    np.testing.assert_allclose(stem(x), expected, atol=1e-5)
    same = tf.nn.conv2d(x, kernel, 2, "SAME")
    if size % 2 == 0:  # "SAME" pads (2, 3) here: a different, shifted result.
        assert np.abs(np.asarray(same) - np.asarray(expected)).max() > 1e-2
    # A strided 3x3 conv of a block pads (1, 1).
    conv = encoder.get_layer("block_group2_block1_1_conv")
    inner = keras.Model(encoder.input, [conv.input, conv.output])
    before, after = inner(x)
    expected = tf.nn.conv2d(
        tf.pad(before, [[0, 0], [1, 1], [1, 1], [0, 0]]), conv.kernel, 2, "VALID"
    )
    np.testing.assert_allclose(after, expected, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(depth=18, cifar_stem=True),
        dict(depth=50, cifar_stem=False),
        dict(depth=50, sk_ratio=0.0625, se_ratio=0.25),
    ],
)
@pytest.mark.parametrize("training", [False, True])
def test_blocks_are_identity_on_shortcut_at_init(rng, kwargs, training):
    encoder = ResNet(width_multiplier=TINY, input_shape=(32, 32, 3), **kwargs)
    last_bn = "_2_bn" if kwargs["depth"] < 50 else "_3_bn"
    bns = _batch_norms(encoder)
    zero = [bn for bn in bns if bn.name.startswith("block_group") and bn.name.endswith(last_bn)]
    assert len(zero) == 8 if kwargs["depth"] == 18 else 16
    for bn in bns:
        expected = 0.0 if bn in zero else 1.0
        np.testing.assert_array_equal(bn.gamma, np.full(bn.gamma.shape, expected))

    blocks = sorted({l.name.rsplit("_", 1)[0] for l in encoder.layers if l.name.endswith("_out")})
    tensors = {}
    for block in blocks:
        add = encoder.get_layer(f"{block}_add")
        tensors[block] = (add.input[1], encoder.get_layer(f"{block}_out").output)
    probe = keras.Model(encoder.input, tensors)
    for block, (shortcut, out) in probe(_images(rng), training=training).items():
        shortcut = keras.ops.convert_to_numpy(shortcut)
        # Zero gamma silences the residual branch: out = relu(shortcut) (= the input when the
        # shortcut is the identity, as inputs come out of a ReLU).
        np.testing.assert_array_equal(out, np.maximum(shortcut, 0.0), err_msg=block)
        if not block.endswith("block1"):
            assert shortcut.min() >= 0


def test_selective_kernel_and_se_structure(rng):
    encoder = ResNet(depth=50, width_multiplier=TINY, sk_ratio=0.0625, se_ratio=0.25)
    sk = [l for l in encoder.layers if isinstance(l, SelectiveKernelConv2D)]
    se = [l for l in encoder.layers if isinstance(l, SqueezeExcite)]
    assert len(sk) == 16 and len(se) == 16
    # ResNet-D stem: three 3x3 convs, widths w/2, w/2, w; the first strided.
    stem_convs = [l for l in encoder.block_group_layers(0) if isinstance(l, keras.layers.Conv2D)]
    assert [(c.kernel_size, c.strides, c.filters) for c in stem_convs] == [
        ((3, 3), (2, 2), 4),
        ((3, 3), (1, 1), 4),
        ((3, 3), (1, 1), 8),
    ]
    # Average-pool shortcuts, stride 1 in group 1 and 2 elsewhere, then a stride-1 1x1 conv.
    pools = [encoder.get_layer(f"block_group{k}_block1_shortcut_pool") for k in range(1, 5)]
    assert [p.strides for p in pools] == [(1, 1)] + [(2, 2)] * 3
    assert encoder.get_layer("block_group3_block1_shortcut_conv").strides == (1, 1)
    # SK mixing width max(int(filters * 0.0625), 32); SE width max(1, int(filters * 0.25)).
    assert sk[0].mix_reduce.filters == 32 and se[0].reduce.filters == 2
    assert se[0].expand.filters == 32 and se[-1].expand.filters == 256
    features = encoder(_images(rng, size=64), training=True)
    assert features.shape == (2, 256) and np.all(np.isfinite(features))


def _bn_init(x, eps=1e-5):
    """BN in inference mode at initialisation (mean 0, variance 1, gamma 1, beta 0)."""
    return x / np.sqrt(1.0 + eps)


def test_selective_kernel_matches_numpy(rng):
    layer = SelectiveKernelConv2D(filters=6, strides=2, sk_ratio=0.0625, min_dim=4)
    x = rng.normal(size=(2, 8, 8, 5)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x, training=False))
    streams = tf.nn.conv2d(
        tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), layer.stream_conv[-1].kernel, 2, "VALID"
    )
    streams = np.maximum(_bn_init(np.asarray(streams)), 0)
    a, b = streams[..., :6], streams[..., 6:]
    context = (a + b).mean(axis=(1, 2))  # (2, 6)
    hidden = np.maximum(_bn_init(context @ np.asarray(layer.mix_reduce.kernel)[0, 0]), 0)
    logits = hidden @ np.asarray(layer.mix_expand.kernel)[0, 0]  # (2, 12)
    la, lb = logits[:, :6], logits[:, 6:]
    wa = np.exp(la) / (np.exp(la) + np.exp(lb))
    expected = a * wa[:, None, None] + b * (1 - wa[:, None, None])
    assert y.shape == (2, 4, 4, 6)
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_squeeze_excite_matches_numpy(rng):
    layer = SqueezeExcite(filters=8, se_ratio=0.25)
    x = rng.normal(size=(2, 4, 4, 12)).astype("float32")
    y = layer(x)
    for w in layer.weights:  # random biases too
        w.assign(rng.normal(size=w.shape).astype("float32"))
    y = keras.ops.convert_to_numpy(layer(x))
    w1, b1 = (np.asarray(v) for v in layer.reduce.weights)
    w2, b2 = (np.asarray(v) for v in layer.expand.weights)
    assert w1.shape == (1, 1, 12, 2) and w2.shape == (1, 1, 2, 12)
    hidden = np.maximum(x.mean(axis=(1, 2)) @ w1[0, 0] + b1, 0)
    gate = 1 / (1 + np.exp(-(hidden @ w2[0, 0] + b2)))
    np.testing.assert_allclose(y, x * gate[:, None, None], atol=1e-5)


# --- Parameter counts --------------------------------------------------------------------------


def reference_param_count(depth, width, sk_ratio=0.0, se_ratio=0.0, cifar_stem=False):
    """Parameters of the reference's ResNet (tf2/resnet.py), counted from its architecture: bias-
    free convs, 4 numbers per BN channel (gamma, beta, moving mean and variance), ResNet-D stem
    and shortcuts and a selective-kernel 3x3 (mixing width max(f * sk_ratio, 32)) when sk_ratio
    > 0, squeeze-excitation (reduce to f * se_ratio, biased 1x1 convs) when se_ratio > 0.
    Independent of the code under test: it only shares the architecture."""
    blocks = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3],
              152: [3, 8, 36, 3], 200: [3, 24, 36, 3]}[depth]
    bottleneck = depth >= 50

    def conv_bn(k, c_in, c_out):
        return k * k * c_in * c_out + 4 * c_out

    def scaled(c):
        return max(1, int(c * width + 0.5))

    stem = scaled(64)
    if cifar_stem:
        total = conv_bn(3, 3, stem)
    elif sk_ratio > 0:
        half = max(1, stem // 2)
        total = conv_bn(3, 3, half) + conv_bn(3, half, half) + conv_bn(3, half, stem)
    else:
        total = conv_bn(7, 3, stem)
    c_in = stem
    for k, num_blocks in enumerate(blocks):
        f = scaled(64 * 2**k)
        f_out = 4 * f if bottleneck else f
        for j in range(num_blocks):
            if j == 0:
                total += conv_bn(1, c_in, f_out)  # projection shortcut (pooling has no weights)
            if not bottleneck:
                total += conv_bn(3, c_in, f) + conv_bn(3, f, f)
            else:
                total += conv_bn(1, c_in, f) + conv_bn(1, f, f_out)
                if sk_ratio > 0:  # both 3x3 streams in one conv, then the mixing MLP
                    mid = max(int(f * sk_ratio), 32)
                    total += conv_bn(3, f, 2 * f) + conv_bn(1, f, mid) + mid * 2 * f
                else:
                    total += conv_bn(3, f, f)
            if se_ratio > 0:
                squeezed = max(1, int(f * se_ratio))
                total += (f_out + 1) * squeezed + (squeezed + 1) * f_out
            c_in = f_out
    return total


# Official SimCLRv2 checkpoints, encoder only, millions (including BN moving statistics).
PARAM_TABLE = [
    (50, 1, 0.0, 24),
    (50, 1, 0.0625, 35),
    (101, 1, 0.0, 43),
    (152, 1, 0.0, 58),
    (50, 2, 0.0, 94),
    (50, 2, 0.0625, 140),
    (101, 1, 0.0625, 65),
    (101, 2, 0.0, 170),
    (101, 2, 0.0625, 257),
    (152, 1, 0.0625, 89),
    (152, 2, 0.0, 233),
    (152, 2, 0.0625, 354),
    (152, 3, 0.0625, 795),
]


@pytest.mark.parametrize("depth, width, sk_ratio, millions", PARAM_TABLE)
def test_parameter_counts_match_official_table(depth, width, sk_ratio, millions):
    """The architecture's count against the published table. That `ResNet` builds exactly this
    architecture is checked on the encoders built below (every depth, SK, SE, both stems) and on
    one full-width ResNet-50-SK: building each full-width encoder took a minute of the suite."""
    assert round(reference_param_count(depth, width, sk_ratio) / 1e6) == millions


def test_a_full_width_encoder_has_the_architectures_count():
    encoder = ResNet(depth=50, width_multiplier=1, sk_ratio=0.0625)
    assert encoder.count_params() == reference_param_count(50, 1, 0.0625)  # 35.3 M


# --- Serialisation, distribution, precision ----------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(depth=18, width_multiplier=TINY, cifar_stem=True, input_shape=(32, 32, 3)),
        dict(depth=50, width_multiplier=0.0625, sk_ratio=0.0625, se_ratio=0.25),
    ],
)
def test_config_round_trip_and_keras_saving(rng, tmp_path, kwargs):
    encoder = ResNet(**kwargs)
    assert encoder.count_params() == reference_param_count(
        kwargs["depth"], kwargs["width_multiplier"], kwargs.get("sk_ratio", 0.0),
        kwargs.get("se_ratio", 0.0), kwargs.get("cifar_stem", False))
    config = encoder.get_config()
    for key, value in kwargs.items():
        assert config[key] == value
    x = _images(rng)
    run_serialization_test(encoder, x)
    restored = run_keras_saving_test(encoder, x, tmp_path)
    assert isinstance(restored, ResNet) and restored.get_config() == config
    assert list(restored.endpoints_model()(x)) == list(ENDPOINT_NAMES)


def test_synchronized_batch_norm_auto(two_replicas):
    kwargs = dict(depth=50, width_multiplier=0.0625, sk_ratio=0.0625, cifar_stem=True)
    default = ResNet(**kwargs)
    assert not any(bn.synchronized for bn in _batch_norms(default))
    with two_replicas.scope():
        auto = ResNet(**kwargs)
        opted_out = ResNet(synchronized_batch_norm=False, **kwargs)
    assert all(bn.synchronized for bn in _batch_norms(auto))
    assert len(_batch_norms(auto)) == len(_batch_norms(default)) > 50
    assert not any(bn.synchronized for bn in _batch_norms(opted_out))
    forced = ResNet(synchronized_batch_norm=True, **kwargs)
    assert all(bn.synchronized for bn in _batch_norms(forced))
    assert auto.get_config()["synchronized_batch_norm"] is None


def test_features_are_float32_under_mixed_precision(rng):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    encoder = ResNet(depth=18, width_multiplier=TINY, cifar_stem=True)
    assert encoder.get_layer("block_group4").output.dtype == "bfloat16"
    assert encoder(_images(rng)).dtype == "float32"


def test_block_group_layers_partition_and_freezing(rng):
    encoder = ResNet(depth=18, width_multiplier=TINY, cifar_stem=True, input_shape=(32, 32, 3))
    groups = [encoder.block_group_layers(k) for k in range(5)]
    names = [l.name for group in groups for l in group]
    assert len(names) == len(set(names))
    assert set(names) == {l.name for l in encoder.layers} - {"images", "final_avg_pool"}
    assert "initial_max_pool" in [l.name for l in groups[0]]
    assert "block_group3" in [l.name for l in groups[3]]
    with pytest.raises(ValueError, match="`k`"):
        encoder.block_group_layers(5)

    # Fine-tuning after block 1 as the reference: stem and group 1 frozen, BN stats included.
    for layer in groups[0] + groups[1]:
        layer.trainable = False
    frozen = [w for l in groups[0] + groups[1] for w in l.weights]
    free = [w for l in groups[2] + groups[3] + groups[4] for w in l.weights]
    before = [np.array(w) for w in frozen + free]
    encoder.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    encoder.fit(_images(rng, batch=4), rng.random((4, 64)).astype("float32"), epochs=1, verbose=0)
    changed = [not np.array_equal(b, np.array(w)) for b, w in zip(before, frozen + free)]
    assert not any(changed[: len(frozen)])
    assert sum(changed[len(frozen) :]) > len(free) // 2


# --- Validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(depth=42),
            r"`depth` must be one of \[18, 34, 50, 101, 152, 200\]. Received: depth=42",
        ),
        (dict(width_multiplier=0), "`width_multiplier` must be a number > 0.*width_multiplier=0"),
        (dict(width_multiplier=-1.5), "width_multiplier=-1.5"),
        (dict(sk_ratio=1.0), r"`sk_ratio` must be in \[0, 1\).*sk_ratio=1.0"),
        (dict(se_ratio=-0.1), r"`se_ratio` must be in \[0, 1\).*se_ratio=-0.1"),
        (
            dict(input_shape=(32, 32, 1)),
            r"`input_shape` must be \(height, width, 3\).*\(32, 32, 1\)",
        ),
        (dict(input_shape=(32, 32)), r"Received: input_shape=\(32, 32\)"),
        (dict(input_shape=(16, 64, 3)), r"at least 32 px.*cifar_stem=False.*\(16, 64, 3\)"),
        (dict(input_shape=(None, 4, 3), cifar_stem=True), r"at least 8 px.*\(None, 4, 3\)"),
        (dict(batch_norm_decay=1.0), "`batch_norm_decay` must be in"),
        (dict(batch_norm_epsilon=0.0), "`batch_norm_epsilon` must be > 0"),
        (dict(synchronized_batch_norm="yes"), "`synchronized_batch_norm` must be None.*'yes'"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet(**kwargs)


def test_smallest_valid_inputs_build():
    assert ResNet(depth=18, width_multiplier=TINY, input_shape=(32, 32, 3)).output_dim == 64
    assert (
        ResNet(depth=18, width_multiplier=TINY, cifar_stem=True, input_shape=(8, 8, 3)).output_dim
        == 64
    )


@pytest.mark.parametrize("center", [True, False])
def test_fused_batch_norm_equals_keras_batch_norm(center):
    """The encoder's BN takes TensorFlow's fused kernel in training; outputs, gradients and
    moving statistics must equal Keras' own layer's."""
    from simclr_tf.models.batch_norm import BatchNormalization

    x = tf.random.stateless_normal([6, 5, 4, 8], seed=[1, 2]) * 3.0 + 1.0
    weights = tf.range(8, dtype=tf.float32)
    layers = [cls(momentum=0.9, epsilon=1e-5, center=center,
                  gamma_initializer=keras.initializers.RandomUniform(0.5, 1.5, seed=0))
              for cls in (keras.layers.BatchNormalization, BatchNormalization)]
    results = []
    for layer in layers:
        layer.build(x.shape)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * weights)
        grads = tape.gradient(loss, [x] + layer.trainable_variables)
        results.append([y, *grads, layer.moving_mean, layer.moving_variance])
    for a, b in zip(*results):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-4)
    # Inference uses the moving statistics in both.
    np.testing.assert_allclose(layers[1](x, training=False), layers[0](x, training=False), atol=1e-5)

    graph = tf.function(lambda x: layers[1](x, training=True)).get_concrete_function(x).graph
    assert any(op.type.startswith("FusedBatchNorm") for op in graph.get_operations())


@pytest.mark.parametrize("center", [True, False])
def test_synchronized_fused_batch_norm_equals_keras_across_replicas(two_replicas, center):
    """With two replicas the synchronized BN takes the fused kernels, one all-reduce forward
    and a custom gradient; outputs, input gradients, gamma/beta gradients (added over replicas)
    and moving statistics must equal Keras' own synchronized layer's. The loss weights each
    example differently, so the cross-replica terms of the gradient matter."""
    from simclr_tf.models.batch_norm import BatchNormalization

    x = tf.random.stateless_normal([6, 5, 4, 8], seed=[1, 2]) * 3.0 + 1.0
    weights = tf.random.stateless_normal([6, 5, 4, 8], seed=[3, 4])
    results, graphs = [], []
    for cls in (keras.layers.BatchNormalization, BatchNormalization):
        with two_replicas.scope():
            layer = cls(momentum=0.9, epsilon=1e-5, center=center, synchronized=True,
                        gamma_initializer=keras.initializers.RandomUniform(0.5, 1.5, seed=0),
                        beta_initializer=keras.initializers.RandomUniform(-1.0, 1.0, seed=1))
            layer.build(x.shape)

        def replica_step(layer=layer):
            context = tf.distribute.get_replica_context()
            rows = tf.range(3) + 3 * context.replica_id_in_sync_group
            xs, ws = tf.gather(x, rows), tf.gather(weights, rows)
            with tf.GradientTape() as tape:
                tape.watch(xs)
                y = layer(xs, training=True)
                loss = tf.reduce_sum(y * ws)
            return (y, *tape.gradient(loss, [xs] + layer.trainable_variables))

        step = tf.function(lambda: two_replicas.run(replica_step))
        outputs = step()
        y, dx = (tf.concat(two_replicas.experimental_local_results(t), 0) for t in outputs[:2])
        variable_grads = [two_replicas.reduce("SUM", g, axis=None) for g in outputs[2:]]
        results.append([y, dx, *variable_grads, layer.moving_mean, layer.moving_variance])
        graphs.append(step.get_concrete_function().graph)
    assert len(results[0]) == len(results[1]) == (6 if center else 5)
    for a, b in zip(*results):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-4)

    def op_types(graph):
        # The replica functions' ops, including those inside nested functions (custom gradient).
        types = {op.type for op in graph.get_operations()}
        for function in graph._functions.values():
            types.update(node.op for node in function.definition.node_def)
        return types

    assert "FusedBatchNormGradV3" in op_types(graphs[1])
    assert "FusedBatchNormGradV3" not in op_types(graphs[0])


def _saved_for_backward(encoder, images):
    """{tensor name: op type} of the forward tensors the encoder's traced gradient reads."""

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(encoder(x, training=True))
        return tape.gradient(loss, encoder.trainable_variables)

    graph = step.get_concrete_function(images).graph
    backward = lambda op: op.name.startswith("gradient_tape/")  # noqa: E731
    return {
        t.name: t.op.type
        for op in graph.get_operations() if backward(op)
        for t in op.inputs if not backward(t.op) and t.shape.rank == 4 and t.dtype.is_floating
    }


def test_backward_pass_keeps_no_padded_copies(rng):
    """Strided convs pad inside the convolution, so the backward pass keeps no `tf.pad` copy
    of their inputs (138 MiB of the ResNet-18 CIFAR step at batch 128); what it keeps are the
    conv outputs (read by the fused BN gradient) and the ReLU outputs."""
    encoder = ResNet(depth=18, width_multiplier=TINY, input_shape=(32, 32, 3))
    saved = _saved_for_backward(encoder, _images(rng))
    producers = sorted(set(saved.values()))
    assert "Pad" not in producers, sorted(n for n, t in saved.items() if t == "Pad")
    assert {"Conv2D", "Relu"} <= set(producers), producers
    assert not [layer.name for layer in encoder.layers
                if isinstance(layer, keras.layers.ZeroPadding2D)]


def test_weight_files_of_the_former_padding_layers_load(rng, tmp_path, monkeypatch):
    """Strided convs were a `ZeroPadding2D` and a Keras `Conv2D`; files written then (training
    checkpoints, `.weights.h5`) still load, with the same outputs."""
    from simclr_tf.models import conv, resnet_blocks

    def former(filters, kernel_size, strides, name, dtype=None):
        layers = []
        if strides > 1:
            pad = conv.fixed_padding(kernel_size)
            layers.append(keras.layers.ZeroPadding2D((pad, pad), name=f"{name}_pad"))
        layers.append(keras.layers.Conv2D(
            filters, kernel_size, strides=strides, padding="valid" if strides > 1 else "same",
            use_bias=False, name=name))
        return layers

    x = _images(rng)
    with monkeypatch.context() as patch:
        patch.setattr(resnet_blocks, "conv2d_fixed_padding", former)
        old = ResNet(depth=18, width_multiplier=TINY, input_shape=(32, 32, 3))
    assert any(isinstance(layer, keras.layers.ZeroPadding2D) for layer in old.layers)
    path = str(tmp_path / "former.weights.h5")
    old.save_weights(path)
    keras.utils.set_random_seed(1)  # different initial weights
    new = ResNet(depth=18, width_multiplier=TINY, input_shape=(32, 32, 3))
    new.load_weights(path)
    np.testing.assert_array_equal(new(x, training=False), old(x, training=False))


@pytest.mark.parametrize("kernel_size, size", [(3, 9), (3, 8), (7, 11), (2, 8)])
def test_padded_conv_gradients_equal_pad_then_conv(rng, kernel_size, size):
    """The strided conv's own backward pass (it pads again rather than keep the padded input)
    gives the gradients of `tf.pad` + "VALID" conv, in graph mode as in training."""
    from simclr_tf.models.conv import fixed_padding, padded_conv2d

    x = tf.constant(rng.normal(size=(2, size, size, 3)).astype(np.float32))
    kernel = tf.constant(rng.normal(size=(kernel_size, kernel_size, 3, 4)).astype(np.float32))
    out = (size - 1) // 2 + 1  # kernel - 1 padding in total, stride 2
    upstream = tf.constant(rng.normal(size=(2, out, out, 4)).astype(np.float32))
    begin, end = fixed_padding(kernel_size)

    @tf.function
    def gradients(fn):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = fn(x, kernel)
        return y, tape.gradient(y, [x, kernel], output_gradients=upstream)

    ours = gradients(lambda x, k: padded_conv2d(x, k, (2, 2), (begin, end)))
    plain = gradients(lambda x, k: tf.nn.conv2d(
        tf.pad(x, [[0, 0], [begin, end], [begin, end], [0, 0]]), k, 2, "VALID"))
    np.testing.assert_allclose(ours[0], plain[0], rtol=1e-5, atol=1e-5)
    for a, b in zip(ours[1], plain[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
