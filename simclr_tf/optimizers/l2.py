"""The reference's non-LARS optimisers: Nesterov momentum and Adam with an L2 term (coupled decay).

google-research/simclr tf2 (`model.py`: `build_optimizer`, `add_weight_decay`) builds
`SGD(lr, momentum, nesterov=True)` or `Adam(lr)` without weight decay, and adds
`weight_decay * sum(l2_loss(w))` over every trainable weight whose name does not contain
"batch_normalization" to the loss. The gradient of that term is `weight_decay * w`, so each
update sees `g + weight_decay * w` (coupled decay, i.e. L2 regularisation): under momentum and
Adam that differs from Keras' `weight_decay`, which shrinks the weights outside the update
(decoupled, as AdamW / SGDW). These optimisers add the term to the gradient instead, which is the
same update as the loss term without building it into every model's loss.
"""

import keras
from keras import ops

from simclr_tf.optimizers.lars import LARS

OPTIMIZERS = ("lars", "momentum", "adam")


class _CoupledL2:
    """Mixin: `weight_decay * w` added to each gradient before the wrapped update."""

    def _init_l2(self, weight_decay):
        if weight_decay is not None and weight_decay < 0:
            raise ValueError(f"`weight_decay` must be >= 0. Received: weight_decay={weight_decay}")
        # The base class stored `weight_decay=None` (no decoupled decay); this is the L2 one.
        self.weight_decay = float(weight_decay or 0.0)
        self._no_decay_ids = set()
        self._no_decay_names = []

    def _apply_weight_decay(self, variables):
        """No decoupled decay: the L2 term is added to the gradient in `update_step`."""

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Excludes variables (by identity) or substrings of their paths from the L2 term.

        Unlike Keras' base method, it may be called after `build` and adds to the previous
        exclusions; like LARS', a change reaches a compiled train step at its next trace.
        """
        self._no_decay_ids.update(self._var_key(v) for v in var_list or [])
        self._no_decay_names.extend(n for n in var_names or [] if n not in self._no_decay_names)

    def uses_weight_decay(self, variable):
        """Whether `variable` gets the L2 term."""
        if not self.weight_decay or self._var_key(variable) in self._no_decay_ids:
            return False
        path = getattr(variable, "path", variable.name)
        return not any(n in path for n in self._no_decay_names)

    def update_step(self, gradient, variable, learning_rate):
        if self.uses_weight_decay(variable):  # decided in Python while tracing: free per step
            gradient = ops.add(
                ops.cast(gradient, variable.dtype),
                ops.multiply(ops.cast(self.weight_decay, variable.dtype), variable),
            )
        super().update_step(gradient, variable, learning_rate)


@keras.saving.register_keras_serializable(package="simclr_tf")
class SGDWithL2(_CoupledL2, keras.optimizers.SGD):
    """Keras' SGD (Nesterov by default, as the reference's `momentum`) plus an L2 term.

    Each update uses `g + weight_decay * w`, exactly the gradient of the reference's loss term
    `weight_decay * tf.nn.l2_loss(w)`:

        v = momentum * v - lr * (g + weight_decay * w)
        w = w + momentum * v - lr * (g + weight_decay * w)      (nesterov)

    Exclude batch norm (the reference's rule) with `exclude_from_weight_decay(var_list=...)`;
    `simclr_tf.optimizers.exclude_from_decay` does it for a model.

    Args:
        learning_rate: float or schedule.
        momentum: in [0, 1]; 0.9 in the reference.
        nesterov: Nesterov momentum (True in the reference).
        weight_decay: the L2 coefficient, >= 0 (`None` means 0).
        **kwargs: passed to `keras.optimizers.SGD` (e.g. `global_clipnorm`).

    Example:

    ```python
    optimizer = SGDWithL2(learning_rate=0.1 * 4096 / 256, momentum=0.9, weight_decay=1e-6)
    ```
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, nesterov=True, weight_decay=0.0,
                 name="sgd_with_l2", **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=float(momentum),
                         nesterov=bool(nesterov), weight_decay=None, name=name, **kwargs)
        self._init_l2(weight_decay)


@keras.saving.register_keras_serializable(package="simclr_tf")
class AdamWithL2(_CoupledL2, keras.optimizers.Adam):
    """Keras' Adam (the reference's `tf.keras.optimizers.Adam` defaults) plus an L2 term.

    The L2 gradient `weight_decay * w` goes through Adam's moments, as the reference's loss term
    does: this is Adam with L2 regularisation, not AdamW.

    Args:
        learning_rate: float or schedule.
        weight_decay: the L2 coefficient, >= 0 (`None` means 0).
        **kwargs: passed to `keras.optimizers.Adam` (`beta_1`, `beta_2`, `epsilon`, ...).
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.0, name="adam_with_l2", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=None, name=name, **kwargs)
        self._init_l2(weight_decay)


def build_optimizer(name, learning_rate, momentum=0.9, weight_decay=0.0):
    """The reference's `build_optimizer` plus its weight decay, for every training in the package.

    - `lars`: `simclr_tf.LARS` (decay coupled before the trust ratio; 1-D variables excluded);
    - `momentum`: `SGDWithL2`, Nesterov, L2 term;
    - `adam`: `AdamWithL2`, L2 term (not AdamW).
    Call `exclude_from_decay(optimizer, model)` for the reference's exclusions (batch norm).
    """
    if name == "lars":
        return LARS(learning_rate=learning_rate, momentum=momentum, weight_decay=weight_decay)
    if name == "momentum":
        return SGDWithL2(learning_rate, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return AdamWithL2(learning_rate, weight_decay=weight_decay)
    raise ValueError(f"`optimizer` must be one of {list(OPTIMIZERS)}. Received: optimizer={name!r}")


def batch_norm_variables(model):
    """The trainable variables of every `BatchNormalization` layer inside `model`."""
    layers = model._flatten_layers(include_self=True, recursive=True)
    return [
        v
        for layer in layers
        if isinstance(layer, keras.layers.BatchNormalization)
        for v in layer.trainable_variables
    ]


def exclude_from_decay(optimizer, model, own_l2=(), supervised_head=()):
    """The reference's weight-decay exclusions for `model`'s variables.

    Batch-norm variables are never decayed (the reference's name rule; LARS also excludes them
    by rank). `own_l2`: variables whose L2 term is already in the model's loss (a probe's or a
    classifier head's kernel), so they are decayed once. `supervised_head`: kept out of LARS'
    trust ratio and decay, as the reference's `head_supervised`. Optimisers without additive
    exclusions (Keras' own) are left alone.
    """
    opt = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    if opt is None or not hasattr(opt, "uses_weight_decay"):
        return
    opt.exclude_from_weight_decay(var_list=batch_norm_variables(model) + list(own_l2))
    if hasattr(opt, "exclude_from_layer_adaptation"):  # LARS
        opt.exclude_from_weight_decay(var_list=list(supervised_head))
        opt.exclude_from_layer_adaptation(var_list=list(supervised_head))


__all__ = ["AdamWithL2", "SGDWithL2", "batch_norm_variables", "build_optimizer", "exclude_from_decay"]
