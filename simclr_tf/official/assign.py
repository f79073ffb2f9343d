"""Copying checkpoint tensors into the Keras layers, in the reference's creation order."""

from simclr_tf.official.layout import NORM_ROLES


def encoder_layers(encoder, arch):
    """The encoder's Conv2D and BatchNormalization layers in the reference's creation order."""
    get = encoder.get_layer
    convs, norms = [], []
    for i in range(1, arch["stem_convs"] + 1):
        convs.append(get(f"stem_{i}_conv"))
        norms.append(get(f"stem_{i}_bn"))
    for g, num_blocks in enumerate(arch["blocks_per_group"], start=1):
        for b in range(1, num_blocks + 1):
            p = f"block_group{g}_block{b}"
            if b == 1:
                convs.append(get(f"{p}_shortcut_conv"))
                norms.append(get(f"{p}_shortcut_bn"))
            convs.append(get(f"{p}_1_conv"))
            norms.append(get(f"{p}_1_bn"))
            if arch["block"] == "selective_kernel":
                sk = get(f"{p}_2_sk")
                convs += [sk.stream_conv[-1], sk.mix_reduce, sk.mix_expand]
                norms += [sk.stream_bn, sk.mix_bn]
            else:
                convs.append(get(f"{p}_2_conv"))
                norms.append(get(f"{p}_2_bn"))
            if arch["block"] != "basic":
                convs.append(get(f"{p}_3_conv"))
                norms.append(get(f"{p}_3_bn"))
    return convs, norms


class Assigner:
    """Copies checkpoint tensors into Keras layers, each tensor at most once, shapes checked."""

    def __init__(self, tensors):
        self.tensors = tensors
        self.used = set()
        self.assigned = set()

    def pairs(self, units, layers, what):
        if len(units) != len(layers):
            raise ValueError(
                f"{self.tensors.source!r}: {len(units)} {what} layers in the checkpoint, "
                f"{len(layers)} in the Keras model."
            )
        for unit, layer in zip(units, layers):
            self.assign(unit, layer)

    def assign(self, unit, layer):
        if unit.kind == "norm":
            targets = {r: getattr(layer, r, None) for r in NORM_ROLES}
        else:
            targets = {"kernel": layer.kernel, "bias": getattr(layer, "bias", None)}
        targets = {r: v for r, v in targets.items() if v is not None}
        if set(targets) != set(unit.keys):
            raise ValueError(
                f"{self.tensors.source!r}: {unit.where} has {sorted(unit.keys)}, but the Keras "
                f"layer {layer.name!r} has {sorted(targets)}."
            )
        for role, variable in targets.items():
            key = unit.keys[role]
            if key in self.used:
                raise ValueError(f"{self.tensors.source!r}: {key} would be used twice.")
            value = self.tensors.get(key)
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"{self.tensors.source!r}: {key} has shape {tuple(value.shape)}, the Keras "
                    f"weight {layer.name}/{role} {tuple(variable.shape)}."
                )
            if id(variable) in self.assigned:
                raise ValueError(f"The Keras weight {variable.path} would be assigned twice.")
            variable.assign(value.astype(variable.dtype))
            self.used.add(key)
            self.assigned.add(id(variable))

    def check_all_used(self, model_keys, source, models):
        missed = [w.path for m in models for w in m.weights if id(w) not in self.assigned]
        if missed:
            raise ValueError(
                f"{source!r}: {len(missed)} Keras weights got no checkpoint tensor, e.g. "
                f"{missed[:5]}."
            )
        left = sorted(set(model_keys) - self.used)
        if left:
            raise ValueError(
                f"{source!r}: {len(left)} model tensors were not loaded, e.g. {left[:5]}."
            )
