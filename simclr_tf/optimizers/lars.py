"""LARS (You, Gitman, Ginsburg 2017) as SimCLR's reference implements it."""

import warnings

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="simclr_tf")
class LARS(keras.optimizers.Optimizer):
    """Layer-wise Adaptive Rate Scaling with classic momentum, as google-research/simclr.

    For each variable w with gradient g (tf2/lars_optimizer.py, `classic_momentum=True`, the
    setting of every SimCLR run):

        g' = g + weight_decay * w                        (unless excluded from weight decay)
        trust = eta * |w| / |g'|  if |w| > 0 and |g'| > 0 and not excluded, else 1
        m = momentum * m + learning_rate * trust * g'
        w = w - m                                  (nesterov: w - (momentum * m + lr * trust * g'))

    Weight decay is coupled into the gradient BEFORE the trust ratio. Keras' base `weight_decay`
    is decoupled (applied to the weights before `update_step`) and would decay them a second
    time, outside the trust ratio, so this optimiser keeps `weight_decay` as its own
    hyperparameter (same name and config key) and switches the base mechanism off.

    Exclusions (from both weight decay and adaptation unless said otherwise). The reference
    excludes by name ("batch_normalization", "bias", "head_supervised"); Keras 3 names are short
    ("gamma", "kernel"), so those patterns would match nothing and are not used. Instead:
    - by rank: variables of rank <= 1 (biases, batch-norm gammas and betas) when `exclude_1d`;
    - by path: substrings of `variable.path` (`exclude_from_weight_decay_names`,
      `exclude_from_layer_adaptation_names`), part of the config;
    - by identity: `exclude_from_weight_decay(var_list=...)` and
      `exclude_from_layer_adaptation(var_list=...)`, for the online probe or a classifier head.
      These are runtime state, NOT in `get_config()`: re-apply them after `from_config`. They
      take effect at the next trace of the update; call them before training (`SimCLR` does so
      when its train step is traced). A later change warns, since compiled steps keep the old
      decision until the model is recompiled.
    Variable-to-decision is resolved in Python while tracing, so it costs nothing per step.

    Only the reference's classic momentum is implemented (its "popular" momentum variant,
    `classic_momentum=False`, is used by no SimCLR configuration).

    Args:
        learning_rate: float or schedule (e.g. `simclr_tf.WarmupCosine`).
        momentum: in [0, 1); 0.9 in the reference.
        eta: trust coefficient (the reference's `eeta`), > 0; 0.001.
        weight_decay: coupled L2 coefficient, >= 0 (1e-6 SimCLR v1, 1e-4 v2 / CIFAR);
            `None` means 0.
        nesterov: Nesterov momentum (the reference's `use_nesterov`).
        exclude_1d: exclude variables of rank <= 1 from decay and adaptation.
        exclude_from_weight_decay_names: substrings of variable paths excluded from decay.
        exclude_from_layer_adaptation_names: substrings excluded from adaptation; `None` uses
            `exclude_from_weight_decay_names`, as the reference.
        name, **kwargs: passed to `keras.optimizers.Optimizer` (e.g. `global_clipnorm`).

    Example:

    ```python
    lr = simclr_tf.WarmupCosine(simclr_tf.scale_learning_rate(0.3, 4096), 31200, 3120)
    optimizer = simclr_tf.LARS(learning_rate=lr, weight_decay=1e-6)
    optimizer.exclude_from_weight_decay(var_list=head.trainable_variables)
    optimizer.exclude_from_layer_adaptation(var_list=head.trainable_variables)
    ```
    """

    def __init__(
        self,
        learning_rate=0.3,
        momentum=0.9,
        eta=0.001,
        weight_decay=1e-6,
        nesterov=False,
        exclude_1d=True,
        exclude_from_weight_decay_names=None,
        exclude_from_layer_adaptation_names=None,
        name="lars",
        **kwargs,
    ):
        # weight_decay=None: the base class must not apply its decoupled decay.
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=None, **kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={momentum}")
        if not eta > 0:
            raise ValueError(f"`eta` must be > 0. Received: eta={eta}")
        if weight_decay is not None and weight_decay < 0:
            raise ValueError(f"`weight_decay` must be >= 0. Received: weight_decay={weight_decay}")
        # === Config ===
        self.momentum = float(momentum)
        self.eta = float(eta)
        self.weight_decay = float(weight_decay or 0.0)
        self.nesterov = bool(nesterov)
        self.exclude_1d = bool(exclude_1d)
        self.exclude_from_weight_decay_names = list(exclude_from_weight_decay_names or [])
        self.exclude_from_layer_adaptation_names = (
            None
            if exclude_from_layer_adaptation_names is None
            else list(exclude_from_layer_adaptation_names)
        )
        # === Runtime state (not serialised) ===
        self._no_decay_ids = set()
        self._no_adapt_ids = set()
        self._paths = {}  # var key -> Keras path; update_step only sees the backend variable
        self._update_traced = False

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._paths = {self._var_key(v): getattr(v, "path", v.name) for v in var_list}

    def _apply_weight_decay(self, variables):
        """No decoupled decay: LARS couples it into the gradient in `update_step`."""

    # --- Exclusions -------------------------------------------------------------------------

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Excludes variables (by identity) or path substrings from weight decay.

        Unlike Keras' base method, it may be called after `build` and adds to, rather than
        replaces, the previous exclusions.
        """
        self._extend(self._no_decay_ids, var_list, self.exclude_from_weight_decay_names, var_names)

    def exclude_from_layer_adaptation(self, var_list=None, var_names=None):
        """Excludes variables (by identity) or path substrings from the trust ratio."""
        names = self.exclude_from_layer_adaptation_names
        if var_names and names is None:
            names = self.exclude_from_layer_adaptation_names = list(
                self.exclude_from_weight_decay_names
            )
        self._extend(self._no_adapt_ids, var_list, names, var_names)

    def _extend(self, ids, var_list, names, var_names):
        new_ids = {self._var_key(v) for v in var_list or []} - ids
        new_names = [n for n in var_names or [] if n not in names]
        if (new_ids or new_names) and self._update_traced:
            warnings.warn(
                "LARS exclusions changed after the update step was compiled: compiled train "
                "steps keep the previous ones. Exclude variables before training, or compile "
                "the model again.",
                stacklevel=3,
            )
        ids.update(new_ids)
        if new_names:
            names.extend(new_names)

    def _excluded(self, variable, ids, names):
        if self.exclude_1d and len(variable.shape) <= 1:
            return True
        key = self._var_key(variable)
        if key in ids:
            return True
        path = self._paths.get(key) or getattr(variable, "path", variable.name)
        return any(n in path for n in names)

    def uses_weight_decay(self, variable):
        """Whether `variable` gets the coupled weight decay."""
        if not self.weight_decay:
            return False
        return not self._excluded(
            variable, self._no_decay_ids, self.exclude_from_weight_decay_names
        )

    def uses_layer_adaptation(self, variable):
        """Whether `variable`'s step is scaled by the trust ratio."""
        names = self.exclude_from_layer_adaptation_names
        if names is None:
            names = self.exclude_from_weight_decay_names
        return not self._excluded(variable, self._no_adapt_ids, names)

    # --- The update -------------------------------------------------------------------------

    def update_step(self, gradient, variable, learning_rate):
        if not tf.executing_eagerly():
            self._update_traced = True  # the exclusion decisions below are now compiled in
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        grad = ops.cast(gradient, dtype)
        momentum = ops.cast(self.momentum, dtype)
        m = self._momentums[self._get_variable_index(variable)]
        if self.uses_weight_decay(variable):
            grad = ops.add(grad, ops.multiply(ops.cast(self.weight_decay, dtype), variable))
        if self.uses_layer_adaptation(variable):
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(grad)))
            # Divide by a safe norm so the unused branch of `where` has no inf/NaN gradient.
            safe_g_norm = ops.where(g_norm > 0, g_norm, ops.ones_like(g_norm))
            trust = ops.where(
                ops.logical_and(w_norm > 0, g_norm > 0),
                ops.cast(self.eta, dtype) * w_norm / safe_g_norm,
                ops.ones_like(w_norm),
            )
            lr = ops.multiply(lr, trust)
        scaled = ops.multiply(lr, grad)
        next_m = ops.add(ops.multiply(momentum, m), scaled)
        self.assign(m, next_m)
        if self.nesterov:
            self.assign_sub(variable, ops.add(ops.multiply(momentum, next_m), scaled))
        else:
            self.assign_sub(variable, next_m)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "eta": self.eta,
                "weight_decay": self.weight_decay,
                "nesterov": self.nesterov,
                "exclude_1d": self.exclude_1d,
                "exclude_from_weight_decay_names": list(self.exclude_from_weight_decay_names),
                "exclude_from_layer_adaptation_names": (
                    None
                    if self.exclude_from_layer_adaptation_names is None
                    else list(self.exclude_from_layer_adaptation_names)
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # Keras' base replaces a schedule's config by the object in the caller's dict; copy.
        return super().from_config(dict(config), custom_objects=custom_objects)
