"""The reference architecture a checkpoint holds, read from its tensors' shapes alone."""

from simclr_tf.models.resnet import RESNET_SPECS

# Convolutions per residual block, in the reference's creation order.
_PER_BLOCK = {"basic": 2, "bottleneck": 3, "selective_kernel": 5}
DEFAULT_SK_RATIO = 0.0625
SK_MIN_DIM = 32


def infer_architecture(layout, shapes, source):
    """`simclr_tf.ResNet` arguments (depth, width_multiplier, sk_ratio, cifar_stem) plus the
    block counts, from the kernels' shapes: width from the stem, SK from the three-conv stem
    and the two-stream blocks, depth from the number of blocks.

    Args:
        layout: a `Layout`.
        shapes: checkpoint key -> shape.
        source: the checkpoint path, for messages.
    """
    kernels = [tuple(shapes[u.keys["kernel"]]) for u in layout.convs if "kernel" in u.keys]
    if len(kernels) != len(layout.convs) or any(len(k) != 4 for k in kernels):
        raise ValueError(f"{source!r}: every encoder convolution must have a 4-D kernel.")
    with_bias = [u.where for u in layout.convs if "bias" in u.keys]
    if with_bias:
        raise ValueError(
            f"{source!r} has squeeze-excitation (convolutions with a bias, e.g. "
            f"{with_bias[0]}), which no published checkpoint uses and this loader does not map."
        )

    def fail(why):
        raise ValueError(
            f"{source!r}: the encoder's {len(kernels)} convolutions fit no ResNet of "
            f"google-research/simclr ({why}). First kernels: {kernels[:4]}"
        )

    if len(kernels) < 6 or kernels[0][2] != 3:
        fail("the first convolution must read 3 channels")
    k = kernels
    if k[0][:2] == (7, 7):
        stem, cifar_stem = 1, False
    elif (
        k[0][:2] == (3, 3) and k[1][:2] == (3, 3) and k[2][:2] == (3, 3)
        and k[1][2] == k[1][3] == k[0][3] and k[2][2] == k[0][3] and k[2][3] == 2 * k[0][3]
    ):
        stem, cifar_stem = 3, False  # ResNet-D stem of the SK models
    elif k[0][:2] == (3, 3):
        stem, cifar_stem = 1, True
    else:
        fail(f"a stem kernel of {k[0][:2]}")
    stem_width = k[stem - 1][3]
    if stem_width % 64:
        fail(f"a stem of {stem_width} channels, not a multiple of 64")
    width_multiplier = stem_width // 64

    # The first block: its projection shortcut (1x1), then its first conv.
    first = k[stem + 1]
    if first[:2] == (3, 3):
        block = "basic"
    elif (
        k[stem + 2][:2] == (3, 3) and k[stem + 2][3] == 2 * first[3]
        and k[stem + 3][:2] == (1, 1) and k[stem + 3][2] == first[3]
    ):
        block = "selective_kernel"
    else:
        block = "bottleneck"
    # The reference's sk_ratio > 0 gives the ResNet-D stem (unless CIFAR) and, in bottleneck
    # blocks, selective kernels; basic blocks (R18/34) then differ only by their shortcuts.
    if (block == "selective_kernel" and stem == 1 and not cifar_stem) or (
        block == "bottleneck" and stem == 3
    ):
        fail("a ResNet-D stem goes with selective-kernel bottlenecks, and only with them")
    per_block = _PER_BLOCK[block]
    num_blocks, rest = divmod(len(k) - stem - 4, per_block)  # 4 projection shortcuts
    bottleneck = block != "basic"
    depth = next(
        (
            d
            for d, (b, groups) in RESNET_SPECS.items()
            if b == bottleneck and sum(groups) == num_blocks
        ),
        None,
    )
    if rest or depth is None:
        fail(f"{block} blocks, {len(k) - stem} convolutions after the stem")
    sk_ratio = DEFAULT_SK_RATIO if stem == 3 else 0.0  # basic blocks: any ratio > 0 is the same
    if block == "selective_kernel":
        sk_ratio = _sk_ratio(layout, shapes, stem, RESNET_SPECS[depth][1], source)
    return {
        "depth": depth,
        "width_multiplier": width_multiplier,
        "sk_ratio": sk_ratio,
        "cifar_stem": cifar_stem,
        "blocks_per_group": RESNET_SPECS[depth][1],
        "stem_convs": stem,
        "block": block,
    }


def _sk_ratio(layout, shapes, stem, blocks_per_group, source):
    """The ratio whose `max(int(filters * ratio), 32)` gives every mixing width: 0.0625 (the
    published models) when it fits, else the one the widest block implies."""
    pairs = []  # (filters, mixing width) per block
    i = stem
    for num in blocks_per_group:
        for b in range(num):
            i += 1 if b == 0 else 0  # the shortcut comes first in the first block
            stream = shapes[layout.convs[i + 1].keys["kernel"]]
            reduce = shapes[layout.convs[i + 2].keys["kernel"]]
            pairs.append((stream[3] // 2, reduce[3]))
            i += 5
    for ratio in (DEFAULT_SK_RATIO, max(m / f for f, m in pairs)):
        if all(max(int(f * ratio), SK_MIN_DIM) == m for f, m in pairs):
            return float(ratio)
    raise ValueError(f"{source!r}: no sk_ratio gives the mixing widths {sorted(set(pairs))}.")
