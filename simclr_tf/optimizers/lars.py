"""LARS (You, Gitman, Ginsburg 2017) as SimCLR's reference implements it."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="simclr_tf")
class LARS(keras.optimizers.Optimizer):
    """Layer-wise Adaptive Rate Scaling with classic momentum, as google-research/simclr.

    For each variable w with gradient g (tf2/lars_optimizer.py, `classic_momentum=True`):

        g' = g + weight_decay * w                       (unless excluded from weight decay)
        trust = eta * |w| / |g'|  if |w| > 0 and |g'| > 0 and not excluded, else 1
        m = momentum * m + learning_rate * trust * g'
        w = w - m                                        (nesterov: w - (momentum*m + lr*trust*g'))

    The weight decay is coupled into the gradient BEFORE the trust ratio, so this optimiser does
    not use Keras' decoupled `weight_decay` mechanism (which would decay the weights a second
    time, outside the trust ratio).

    Exclusions. The reference excludes batch-norm variables and biases by name
    ("batch_normalization", "bias"); in Keras 3 a variable's name is short ("gamma", "kernel")
    so those regexes match nothing. Here 1-D variables (biases, BN gammas/betas) are excluded
    from both weight decay and adaptation by rank (`exclude_1d=True`), and more can be excluded
    by substring of the variable path (`exclude_from_weight_decay_names`, serialised) or by the
    variables themselves (`exclude_from_weight_decay(var_list=...)`,
    `exclude_from_layer_adaptation(var_list=...)`: runtime state, not serialised; `SimCLR` uses
    it for its online probe). The identity exclusions may be added until the train step is
    traced.

    Args:
        learning_rate: float or schedule (e.g. `simclr_tf.WarmupCosine`).
        momentum: 0.9 in the reference.
        eta: trust coefficient, 0.001.
        weight_decay: coupled L2 coefficient (1e-6 SimCLR v1, 1e-4 v2 / CIFAR).
        nesterov: Nesterov momentum.
        exclude_1d: exclude variables of rank <= 1 from decay and adaptation.
        exclude_from_weight_decay_names: substrings of variable paths excluded from decay.
        exclude_from_layer_adaptation_names: substrings excluded from adaptation; `None` uses
            the weight-decay list, as the reference.
        name, **kwargs: passed to `keras.optimizers.Optimizer` (e.g. `global_clipnorm`).

    Example:

    ```python
    optimizer = simclr_tf.LARS(learning_rate=simclr_tf.WarmupCosine(4.8, 31200, 3120),
                               weight_decay=1e-6)
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
        kwargs.pop("weight_decay", None)
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=None, **kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={momentum}")
        if eta <= 0:
            raise ValueError(f"`eta` must be > 0. Received: eta={eta}")
        if weight_decay is not None and weight_decay < 0:
            raise ValueError(f"`weight_decay` must be >= 0. Received: weight_decay={weight_decay}")
        self.momentum = float(momentum)
        self.eta = float(eta)
        # Set after super().__init__: the base class must not see it (it would decouple it).
        self.weight_decay = float(weight_decay or 0.0)
        self.nesterov = bool(nesterov)
        self.exclude_1d = bool(exclude_1d)
        self.exclude_from_weight_decay_names = list(exclude_from_weight_decay_names or [])
        self.exclude_from_layer_adaptation_names = (
            None
            if exclude_from_layer_adaptation_names is None
            else list(exclude_from_layer_adaptation_names)
        )
        self._no_decay_ids = set()
        self._no_adapt_ids = set()

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")

    # --- Exclusions -------------------------------------------------------------------------

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Adds variables (by identity) or path substrings to the weight-decay exclusions."""
        self._no_decay_ids.update(self._var_key(v) for v in (var_list or []))
        self.exclude_from_weight_decay_names.extend(var_names or [])

    def exclude_from_layer_adaptation(self, var_list=None, var_names=None):
        """Adds variables (by identity) or path substrings to the trust-ratio exclusions."""
        self._no_adapt_ids.update(self._var_key(v) for v in (var_list or []))
        if var_names:
            if self.exclude_from_layer_adaptation_names is None:
                self.exclude_from_layer_adaptation_names = list(self.exclude_from_weight_decay_names)
            self.exclude_from_layer_adaptation_names.extend(var_names)

    def _excluded(self, variable, ids, names):
        if self.exclude_1d and len(variable.shape) <= 1:
            return True
        if self._var_key(variable) in ids:
            return True
        path = getattr(variable, "path", variable.name)
        return any(n in path for n in names)

    def uses_weight_decay(self, variable):
        if not self.weight_decay:
            return False
        return not self._excluded(variable, self._no_decay_ids, self.exclude_from_weight_decay_names)

    def uses_layer_adaptation(self, variable):
        names = self.exclude_from_layer_adaptation_names
        if names is None:
            names = self.exclude_from_weight_decay_names
        return not self._excluded(variable, self._no_adapt_ids, names)

    def _apply_weight_decay(self, variables):
        """No decoupled decay: LARS couples it into the gradient in `update_step`."""
        return

    # --- The update -------------------------------------------------------------------------

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        grad = ops.cast(gradient, variable.dtype)
        momentum = ops.cast(self.momentum, variable.dtype)
        m = self._momentums[self._get_variable_index(variable)]
        if self.uses_weight_decay(variable):
            grad = ops.add(grad, ops.multiply(ops.cast(self.weight_decay, variable.dtype), variable))
        if self.uses_layer_adaptation(variable):
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(grad)))
            safe_g = ops.where(g_norm > 0, g_norm, ops.ones_like(g_norm))
            trust = ops.where(
                ops.logical_and(w_norm > 0, g_norm > 0),
                ops.cast(self.eta, variable.dtype) * w_norm / safe_g,
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
                "exclude_from_layer_adaptation_names": self.exclude_from_layer_adaptation_names,
            }
        )
        return config
