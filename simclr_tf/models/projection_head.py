"""The SimCLR projection head g(.): features -> the space where NT-Xent is computed."""

import numbers

import keras
from keras import ops

from simclr_tf.models.batch_norm import batch_norm, resolve_synchronized, validate_batch_norm_args

MODES = ("nonlinear", "linear", "none")


@keras.saving.register_keras_serializable(package="simclr_tf")
class ProjectionHead(keras.layers.Layer):
    """The MLP projection head of SimCLR (arXiv:2002.05709, sec. 2.1) and SimCLRv2 (2006.10029).

    As the reference (google-research/simclr tf2/model.py `ProjectionHead` + `LinearLayer`):
    in "nonlinear" mode, `num_layers - 1` hidden layers Dense (no bias) -> BN (centred) -> ReLU,
    then Dense(`output_dim`, no bias) -> BN without centring (no beta) and no ReLU. Dense kernels
    start from N(0, 0.01). SimCLR v1 uses 2 layers; SimCLRv2 and the tf2 code default to 3.
    "linear" is one Dense(`output_dim`) -> BN(center=False) (the reference's linear mode
    returns None, a bug; here it returns the projection). "none" is the identity.

    `all_outputs(x)` returns every layer's output, `[x, layer 1, ..., layer N]`: index k is
    "from projection layer k" of SimCLRv2's fine-tuning (the reference's `ft_proj_selector`,
    0 = the encoder output).

    Args:
        mode: "nonlinear", "linear" or "none".
        num_layers: Dense layers in "nonlinear" mode, >= 1 (ignored by the other modes).
        output_dim: width of the projection (128 in the papers; ignored in "none" mode).
        hidden_dim: width of the hidden layers; None = the input's width, as the reference.
        batch_norm_decay: BN moving-average decay (Keras `momentum`).
        batch_norm_epsilon: BN epsilon.
        synchronized_batch_norm: None = cross-replica BN when built under a strategy with more
            than one replica; True / False force it.

    Example:

    ```python
    head = simclr_tf.ProjectionHead(num_layers=3, output_dim=128)
    z = head(features, training=True)            # (batch, 128)
    outputs = head.all_outputs(features)         # [features, h1, h2, z]
    ```
    """

    def __init__(
        self,
        mode="nonlinear",
        num_layers=3,
        output_dim=128,
        hidden_dim=None,
        batch_norm_decay=0.9,
        batch_norm_epsilon=1e-5,
        synchronized_batch_norm=None,
        **kwargs,
    ):
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {list(MODES)}. Received: mode={mode!r}")
        if not _is_positive_int(num_layers):
            raise ValueError(
                f"`num_layers` must be an integer >= 1. Received: num_layers={num_layers}"
            )
        if not _is_positive_int(output_dim):
            raise ValueError(
                f"`output_dim` must be an integer >= 1. Received: output_dim={output_dim}"
            )
        if hidden_dim is not None and not _is_positive_int(hidden_dim):
            raise ValueError(
                "`hidden_dim` must be None (the input's width) or an integer >= 1. "
                f"Received: hidden_dim={hidden_dim}"
            )
        validate_batch_norm_args(batch_norm_decay, batch_norm_epsilon)
        super().__init__(**kwargs)
        # === Config ===
        self.mode = mode
        self.num_layers = int(num_layers)
        self.output_dim = int(output_dim)
        self.hidden_dim = None if hidden_dim is None else int(hidden_dim)
        self.batch_norm_decay = batch_norm_decay
        self.batch_norm_epsilon = batch_norm_epsilon
        self.synchronized_batch_norm = synchronized_batch_norm
        resolve_synchronized(synchronized_batch_norm)  # validates; resolved again in build
        # === Layers === (hidden widths default to the input's: created in build)
        self.dense_layers = []
        self.batch_norm_layers = []

    def _layer_specs(self, input_dim):
        """(units, centred BN + ReLU) per layer."""
        if self.mode == "none":
            return []
        if self.mode == "linear":
            return [(self.output_dim, False)]
        hidden = self.hidden_dim or input_dim
        return [(hidden, True)] * (self.num_layers - 1) + [(self.output_dim, False)]

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None and self.mode != "none":
            raise ValueError(
                "ProjectionHead needs a known feature width (last input dimension). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        # The head is built lazily, so "auto" looks at the strategy where its variables are made.
        synchronized = resolve_synchronized(self.synchronized_batch_norm)
        shape = tuple(input_shape)
        for i, (units, hidden) in enumerate(self._layer_specs(input_dim), start=1):
            dense = keras.layers.Dense(
                units,
                use_bias=False,
                kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                name=f"dense_{i}",
                dtype=self.dtype_policy,
            )
            norm = batch_norm(
                self.batch_norm_decay,
                self.batch_norm_epsilon,
                synchronized,
                name=f"batch_norm_{i}",
                center=hidden,
                dtype=self.dtype_policy,
            )
            dense.build(shape)
            shape = shape[:-1] + (units,)
            norm.build(shape)
            self.dense_layers.append(dense)
            self.batch_norm_layers.append(norm)

    def call(self, inputs, training=None, return_all_outputs=False):
        """The projection; with `return_all_outputs=True` the list of `all_outputs`."""
        outputs = [inputs]
        for dense, norm in zip(self.dense_layers, self.batch_norm_layers):
            x = norm(dense(outputs[-1]), training=training)
            if norm.center:  # Hidden layers (centred BN) end in ReLU; the last layer does not.
                x = ops.relu(x)
            outputs.append(x)
        return outputs if return_all_outputs else outputs[-1]

    def all_outputs(self, inputs, training=None):
        """`[inputs, out_1, ..., out_N]`: index k is the output of projection layer k."""
        return self(inputs, training=training, return_all_outputs=True)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mode": self.mode,
                "num_layers": self.num_layers,
                "output_dim": self.output_dim,
                "hidden_dim": self.hidden_dim,
                "batch_norm_decay": self.batch_norm_decay,
                "batch_norm_epsilon": self.batch_norm_epsilon,
                "synchronized_batch_norm": self.synchronized_batch_norm,
            }
        )
        return config


def _is_positive_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1
