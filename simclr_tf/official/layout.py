"""Which checkpoint tensor is which layer: the three google-research/simclr layouts reduced to one.

A `Layout` lists the encoder's convolutions and batch norms in the order the reference creates
them, the projection head's (dense, batch norm) pairs and the supervised head, each as a `Unit`
(role -> checkpoint key). TF2 files are read through their object graph
(`_CHECKPOINTABLE_OBJECT_GRAPH`): the published SavedModels store their tensors under keys such
as `model/resnet_model/variables/103/...` or `trainable_variables_list/99/...`, which say
nothing of the layer, but the graph still links each variable to the attribute path of the
reference's layers (`model/resnet_model/block_groups/0/layers/0/projection_layers/0/conv2d/
kernel`). TF1 files are name-based: `base_model/conv2d_N/kernel` numbered in creation order.
"""

import dataclasses
import re

CONV_ROLES = ("kernel", "bias")
NORM_ROLES = ("gamma", "beta", "moving_mean", "moving_variance")

# Children the SavedModel serialisation adds next to a layer's own attributes (lists of the same
# variables, functions): not part of the structure.
_NOT_STRUCTURE = {
    "variables", "trainable_variables", "non_trainable_variables", "regularization_losses",
    "keras_api", "__call__", "call_and_return_all_conditional_losses",
    "call_and_return_conditional_losses", "signatures", "trainable_variables_list",
    "trainable_weights", "non_trainable_weights", "weights",
}
# The reference's attributes in the order its layers are created (tf2/resnet.py, tf2/model.py).
_ORDER = (
    "resnet_model", "initial_conv_relu_max_pool", "block_groups", "layers", "shortcut_layers",
    "projection_layers", "conv2d_bn_layers", "conv_relu_dropblock_layers", "se_layer",
    "conv2d_fixed_padding", "conv2d", "batch_norm_relu", "bn", "conv2d_0", "batch_norm_relu_1",
    "conv2d_1", "se_reduce", "se_expand", "_projection_head", "linear_layers", "dense", "bn_relu",
    "supervised_head", "linear_layer",
)
# Tensors outside the model: optimizer state and counters (the TF1 EMA copy: `weights`).
_TF2_IGNORED = re.compile(r"(optimizer|global_step|save_counter)/.*|.*/\.OPTIMIZER_SLOT/.*")
_TF1_IGNORED = re.compile(r".*/(Momentum|ExponentialMovingAverage)|global_step|beta[12]_power")
EMA_PREFIX = "ema_model/"
WEIGHTS = ("model", "ema")


@dataclasses.dataclass
class Unit:
    """One layer's tensors: `kind` ("conv", "norm", "dense"), `where` (a readable location in
    the checkpoint, for messages) and `keys` (role -> checkpoint key)."""

    kind: str
    where: str
    keys: dict


@dataclasses.dataclass
class Layout:
    """The model part of a checkpoint. `ignored`: keys deliberately not loaded (optimizer
    slots and state, counters, the EMA copy); `unknown`: model keys that fit no layer."""

    format: str
    convs: list
    norms: list
    projection: list  # [(dense Unit, norm Unit)], layer 1 first
    supervised: object  # a dense Unit or None
    model_keys: set
    ignored: list
    unknown: list


def parse_layout(tensors, weights="model"):
    """The `Layout` of a `CheckpointTensors`; raises ValueError when it is not a SimCLR one.

    Args:
        tensors: a `CheckpointTensors`.
        weights: "model" (the trained weights) or "ema": the TF1 checkpoints' `ema_model/`
            copy of each tensor that has one (a tensor without a copy, e.g. a supervised head
            trained without EMA, keeps its trained value).
    """
    if weights not in WEIGHTS:
        raise ValueError(f"`weights` must be one of {WEIGHTS}. Received: weights={weights!r}")
    has_ema = any(k.startswith(EMA_PREFIX + "base_model/") for k in tensors.keys)
    if weights == "ema" and not has_ema:
        raise ValueError(
            f"{tensors.source!r} holds no EMA copy (no `{EMA_PREFIX}base_model/*` tensors): "
            "only the published TF1 checkpoints (`model.ckpt-N`) of SimCLRv2 have one; the "
            "TF2 SavedModels and hub modules hold a single copy. Use weights='model'."
        )
    if tensors.object_graph is not None:
        layout = _parse_tf2(tensors)
    else:
        layout = _parse_tf1(tensors, weights)
    if not layout.convs:
        raise ValueError(
            f"{tensors.source!r} is not a google-research/simclr checkpoint: it has no encoder "
            "(no `model/resnet_model` in its object graph, no `base_model/conv2d*` keys). "
            f"Some of its keys: {sorted(tensors.keys)[:8]}"
        )
    return layout


# === TF2: the object graph ===


def _order_key(name):
    if name.isdigit():
        return (0, int(name), "")
    if name in _ORDER:
        return (1, _ORDER.index(name), "")
    return (2, 0, name)


def _variables(graph, node_id, path, out, seen):
    node = graph.nodes[node_id]
    for attribute in node.attributes:
        if attribute.name == "VARIABLE_VALUE":
            out.append((path, attribute.checkpoint_key))
            return
    children = [
        (c.local_name, c.node_id)
        for c in node.children
        if c.local_name not in _NOT_STRUCTURE and not re.fullmatch(r"layer.*-\d+", c.local_name)
    ]
    for name, child in sorted(children, key=lambda c: _order_key(c[0])):
        if (child, name) in seen:
            continue
        seen.add((child, name))
        _variables(graph, child, path + (name,), out, seen)


def _child(graph, node_id, name):
    for c in graph.nodes[node_id].children:
        if c.local_name == name:
            return c.node_id
    return None


def _parse_tf2(tensors):
    graph = tensors.object_graph
    kind = "TF2 SavedModel" if tensors.kind == "saved_model" else "TF2 checkpoint"
    model = _child(graph, 0, "model")
    found = []
    if model is not None:
        _variables(graph, model, ("model",), found, set())
    units, order, unknown = {}, [], []
    for path, key in found:
        leaf, parent = path[-1], "/".join(path[:-1])
        if leaf in CONV_ROLES:
            unit_kind = "dense" if path[-2] == "dense" else "conv"
        elif leaf in NORM_ROLES:
            unit_kind = "norm"
        else:
            unknown.append(key)
            continue
        if parent not in units:
            units[parent] = Unit(unit_kind, parent, {})
            order.append(parent)
        units[parent].keys[leaf] = key
    convs, norms, projection, supervised = [], [], {}, None
    for parent in order:
        unit = units[parent]
        parts = parent.split("/")
        if parts[1] == "resnet_model":
            (convs if unit.kind == "conv" else norms).append(unit)
        elif parts[1] == "_projection_head" and parts[2] == "linear_layers":
            projection.setdefault(int(parts[3]), {})[unit.kind] = unit
        elif parts[1] == "supervised_head" and unit.kind == "dense":
            supervised = unit
        else:
            unknown.extend(unit.keys.values())
    model_keys = {key for _, key in found}
    ignored = sorted(k for k in tensors.keys if k not in model_keys and _TF2_IGNORED.fullmatch(k))
    unknown += sorted(set(tensors.keys) - model_keys - set(ignored))
    return Layout(
        kind, convs, norms, _pairs(projection, tensors.source), supervised, model_keys,
        ignored, unknown,
    )


def _pairs(layers, source):
    pairs = []
    for j in sorted(layers):
        if set(layers[j]) != {"dense", "norm"}:
            raise ValueError(
                f"{source!r}: projection layer {j} has {sorted(layers[j])}, expected a dense "
                "layer and a batch norm."
            )
        pairs.append((layers[j]["dense"], layers[j]["norm"]))
    return pairs


# === TF1: names ===

_TF1_ENCODER = re.compile(r"base_model/(conv2d|batch_normalization)(?:_(\d+))?/(\w+)")
_TF1_HEAD = re.compile(r"head_contrastive/(?:nl|l)_(\d+)/(dense|batch_normalization)/(\w+)")
_TF1_SUPERVISED = re.compile(r"head_supervised/linear_layer/dense/(kernel|bias)")


def _parse_tf1(tensors, weights):
    convs, norms, projection, supervised = {}, {}, {}, Unit("dense", "head_supervised", {})
    model_keys, ignored, unknown = set(), [], []
    for key in sorted(tensors.keys):
        name = key
        if key.startswith(EMA_PREFIX):
            name = key[len(EMA_PREFIX):]
            if weights != "ema":
                ignored.append(key)
                continue
        elif weights == "ema" and EMA_PREFIX + key in tensors.keys:
            ignored.append(key)  # the trained copy, replaced by its EMA
            continue
        if _TF1_IGNORED.fullmatch(name):
            ignored.append(key)
            continue
        m = _TF1_ENCODER.fullmatch(name)
        h = _TF1_HEAD.fullmatch(name)
        s = _TF1_SUPERVISED.fullmatch(name)
        if m and m.group(3) in (CONV_ROLES if m.group(1) == "conv2d" else NORM_ROLES):
            table = convs if m.group(1) == "conv2d" else norms
            index = int(m.group(2) or 0)
            kind = "conv" if m.group(1) == "conv2d" else "norm"
            table.setdefault(index, Unit(kind, key.rsplit("/", 1)[0], {})).keys[m.group(3)] = key
        elif h and h.group(3) in (CONV_ROLES if h.group(2) == "dense" else NORM_ROLES):
            kind = "dense" if h.group(2) == "dense" else "norm"
            layer = projection.setdefault(int(h.group(1)), {})
            layer.setdefault(kind, Unit(kind, key.rsplit("/", 1)[0], {})).keys[h.group(3)] = key
        elif s:
            supervised.keys[s.group(1)] = key
        else:
            if name.split("/")[0] in ("base_model", "head_contrastive", "head_supervised"):
                unknown.append(key)
            else:
                ignored.append(key)
            continue
        model_keys.add(key)
    return Layout(
        "TF1 checkpoint",
        [convs[i] for i in sorted(convs)],
        [norms[i] for i in sorted(norms)],
        _pairs(projection, tensors.source),
        supervised if supervised.keys else None,
        model_keys,
        ignored,
        unknown,
    )
