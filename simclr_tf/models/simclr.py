"""The SimCLR pretrainer: a `keras.Model` whose `train_step` is the SimCLR objective."""

import keras
import tensorflow as tf

from simclr_tf.augment.base import image_inputs
from simclr_tf.distribute import check_global_batch
from simclr_tf.losses import get_contrastive_loss
from simclr_tf.models import grad_cache
from simclr_tf.optimizers.l2 import exclude_from_decay

_NAN_ADVICE = (
    "SimCLR loss became NaN or Inf. Things to try: a lower learning rate or a longer warmup "
    "(the LARS trust ratio amplifies too large rates), `mixed_bfloat16` or float32 instead of "
    "`mixed_float16`, a higher temperature, and check that the images are finite and in "
    "[0, 255] (uint8) or [0, 1] (float)."
)


@keras.saving.register_keras_serializable(package="simclr_tf")
class SimCLR(keras.Model):
    """SimCLR pretraining (Chen et al. 2020, arXiv:2002.05709; v2: arXiv:2006.10029).

    `fit` runs, per step and per replica: two random views of each image from `augment`, ONE
    encoder pass over their concatenation (so batch norm cannot tell the views apart), the
    projection head, and NT-Xent with the negatives of every replica. When the data carries labels
    and `num_classes` is set, a linear probe is trained on `stop_gradient` of the encoder features
    of both views: linear evaluation while pretraining, as the reference's
    `lineareval_while_pretraining`. The probe never sends gradient into the encoder.

    The total loss is `contrast_loss + probe_loss + probe_weight_decay * sum(l2_loss(probe
    kernel))`, where `contrast_loss` has the reference's scale (twice the paper's L; see
    `simclr_tf.nt_xent_loss`). The encoder and head are decayed by the optimiser (coupled
    decay: `simclr_tf.LARS`, or `SGDWithL2` / `AdamWithL2` from `simclr_tf.optimizers`), the
    probe's kernel by this L2 term only: the train step keeps batch norm and the probe's kernel
    out of the optimiser's decay, and the probe out of LARS' trust ratio, as the reference.

    Data: a `tf.data.Dataset` (or arrays) of uint8 or float images, `(images, labels)` tuples, or
    tfds-style dicts `{"image": ..., "label": ...}`. Images of several sizes come as a canvas,
    `{"image": canvas, "image_size": sizes}` (what `simclr_tf.data` yields for them), and are
    handed to `augment` as they are, which crops each view from the native image. The batch is
    the global batch: under a strategy with R replicas each replica gets batch / R images (must
    divide evenly).

    Args:
        encoder: image -> features model, e.g. `simclr_tf.ResNet`.
        projection_head: features -> projections, e.g. `simclr_tf.ProjectionHead`.
        augment: the view generator, e.g. `simclr_tf.SimCLRAugment`; called with
            `training=True` for views and `training=False` (centre crop, resize) for inference.
        temperature: NT-Xent temperature (0.1 ImageNet, 0.5 CIFAR in the reference).
        num_classes: classes of the online linear probe; `None` disables it.
        hidden_norm: L2-normalise projections before the dot products (cosine similarity).
        probe_weight_decay: L2 coefficient for the probe's kernel (its own decay rule).
        probe_from_projection_layer: which head layer the probe reads; 0 is the encoder
            output (the reference's `ft_proj_selector`).
        loss: the contrastive loss: "nt_xent" (default), "nt_logistic", "margin_triplet", or a
            dict `{"name": ..., "semi_hard": bool, "margin": float}` (paper Table 2 / Table 4;
            see `simclr_tf.losses.get_contrastive_loss`). Stored as
            `contrastive_loss` (Keras' `compile` owns the attribute `loss`).
        micro_batch_size: 0 (off) or the number of images per chunk of the training step's
            exact chunked gradient (gradient caching, arXiv:2101.06983; see
            `simclr_tf/models/grad_cache.py` and docs/large_batches.md): memory of one chunk,
            one more forward pass, the same loss and gradient as the whole batch at once
            (batch norm in training mode normalises each chunk with its own statistics). The
            batch per replica must be a multiple of it.

    Example:

    ```python
    model = simclr_tf.SimCLR(
        encoder=simclr_tf.ResNet(depth=18, cifar_stem=True),
        projection_head=simclr_tf.ProjectionHead(num_layers=2),
        augment=simclr_tf.SimCLRAugment.cifar(image_size=32),
        temperature=0.5,
        num_classes=10,
    )
    model.compile(optimizer=simclr_tf.LARS(learning_rate=1.0, weight_decay=1e-4))
    model.fit(ds, epochs=10)
    ```
    """

    def __init__(
        self,
        encoder,
        projection_head,
        augment,
        temperature=0.1,
        num_classes=None,
        hidden_norm=True,
        probe_weight_decay=1e-6,
        probe_from_projection_layer=0,
        loss="nt_xent",
        micro_batch_size=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Resolved once: a function with `contrastive_loss_and_metrics`' signature.
        self._contrastive_loss_fn = get_contrastive_loss(loss)
        if not temperature > 0:
            raise ValueError(
                f"`temperature` must be > 0. Received: temperature={temperature}"
            )
        if num_classes is not None and int(num_classes) < 2:
            raise ValueError(
                "`num_classes` must be None (no probe) or an integer >= 2. "
                f"Received: num_classes={num_classes}"
            )
        if probe_weight_decay < 0:
            raise ValueError(
                f"`probe_weight_decay` must be >= 0. Received: probe_weight_decay={probe_weight_decay}"
            )
        if isinstance(micro_batch_size, bool) or int(micro_batch_size) != micro_batch_size or (
            micro_batch_size < 0
        ):
            raise ValueError(
                "`micro_batch_size` must be 0 (off) or a positive integer. "
                f"Received: micro_batch_size={micro_batch_size!r}"
            )
        # === Layers ===
        self.encoder = encoder
        self.projection_head = projection_head
        self.augment = augment
        self.probe = None
        if num_classes is not None:
            # The reference's supervised head: a biased linear layer, N(0, 0.01) kernel.
            self.probe = keras.layers.Dense(
                int(num_classes),
                kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                dtype="float32",
                name="probe",
            )
        # === Config ===
        self.temperature = float(temperature)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.hidden_norm = bool(hidden_norm)
        self.probe_weight_decay = float(probe_weight_decay)
        self.probe_from_projection_layer = int(probe_from_projection_layer)
        # A plain copy: Keras would wrap a dict attribute in a tracking container.
        self.contrastive_loss = dict(loss) if isinstance(loss, dict) else loss
        self.micro_batch_size = int(micro_batch_size)
        # === Metrics ===
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.contrast_loss_tracker = keras.metrics.Mean(name="contrast_loss")
        self.contrast_acc_tracker = keras.metrics.Mean(name="contrast_acc")
        self.contrast_entropy_tracker = keras.metrics.Mean(name="contrast_entropy")
        self.probe_metrics = []
        if self.probe is not None:
            self.probe_metrics = [
                keras.metrics.Mean(name="probe_loss"),
                keras.metrics.SparseCategoricalAccuracy(name="probe_top1"),
                keras.metrics.SparseTopKCategoricalAccuracy(
                    k=min(5, self.num_classes), name="probe_top5"
                ),
            ]

    @property
    def metrics(self):
        return [
            self.loss_tracker,
            self.contrast_loss_tracker,
            self.contrast_acc_tracker,
            self.contrast_entropy_tracker,
            *self.probe_metrics,
        ]

    # --- Forward ----------------------------------------------------------------------------

    def _probe_inputs(self, head_outputs):
        return tf.stop_gradient(head_outputs[self.probe_from_projection_layer])

    def _forward(self, views, training):
        features = self.encoder(views, training=training)
        head_outputs = self.projection_head.all_outputs(features, training=training)
        outputs = {"features": features, "projection": head_outputs[-1]}
        if self.probe is not None:
            outputs["probe_logits"] = self.probe(self._probe_inputs(head_outputs))
        return outputs, head_outputs

    def call_outputs(self, images, training=False):
        """Like `call`, plus `head_outputs`: every projection-head layer's output (index 0 is
        the encoder features), i.e. what `export_model` serves."""
        views = self.augment(images, training=False)
        outputs, head_outputs = self._forward(views, training=training)
        outputs = dict(outputs)
        outputs["head_outputs"] = head_outputs
        return outputs

    def build(self, input_shape):
        """Creates every variable by running the network once on zeros of the views' shape."""
        if isinstance(input_shape, dict):
            input_shape = input_shape["image"]
        size = self.augment.image_size
        self._forward(tf.zeros((2, size, size, 3)), training=False)
        self.built = True

    def call(self, images, training=False):
        """Inference: evaluation preprocessing, then features, projection (and probe logits).

        `images`: a batch, or a dict with "image" (and "image_size" for a canvas).

        Returns a dict with `features` (encoder output), `projection` (head output) and, when
        the probe exists, `probe_logits`.
        """
        images = image_inputs(images)
        views = self.augment(images, training=False)
        return self._forward(views, training=training)[0]

    # --- Training ---------------------------------------------------------------------------

    def _unpack(self, data):
        """(images, labels or None) from images, (images, labels[, w]) or {"image", "label"};
        `images` stays a canvas dict {"image", "image_size"} when the data has sizes."""
        if isinstance(data, dict):
            if "image" not in data:
                raise ValueError(
                    "A dict batch must have an 'image' key (tfds style {'image', 'label'}). "
                    f"Received keys: {sorted(data)}"
                )
            return image_inputs(data), data.get("label")
        if isinstance(data, (tuple, list)):
            images = data[0]
            labels = data[1] if len(data) > 1 else None
            return images, labels
        return data, None

    def _check_labels(self, labels):
        labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
        # Out-of-range labels would silently give a wrong loss (sparse CE gathers garbage on
        # some devices), so fail loudly instead. The checks run before anything reads the
        # labels: without the control dependency the cross-entropy kernel could fail first,
        # with its own message that does not name num_classes (seen in the test suite).
        checks = [
            tf.debugging.assert_greater_equal(labels, 0, message="probe labels must be >= 0"),
            tf.debugging.assert_less(
                labels,
                self.num_classes,
                message=f"probe labels must be < num_classes={self.num_classes}",
            ),
        ]
        with tf.control_dependencies([c for c in checks if c is not None]):  # None when eager
            return tf.identity(labels)

    def _probe_loss(self, logits, labels):
        logits = tf.cast(logits, tf.float32)
        per_example = keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True
        )
        loss = tf.reduce_mean(per_example)
        decay = self.probe_weight_decay * tf.nn.l2_loss(
            tf.cast(self.probe.kernel, tf.float32)
        )
        return loss, decay

    def _prepare(self, data):
        """(views, labels): `[view1; view2]` of the batch, and the checked labels when the probe
        trains (else None)."""
        images, labels = self._unpack(data)
        use_probe = self.probe is not None and labels is not None
        labels = self._check_labels(labels) if use_probe else None
        view1 = self.augment(images, training=True)
        view2 = self.augment(images, training=True)
        return tf.concat([view1, view2], axis=0), labels

    def _step(self, data, training):
        views, labels = self._prepare(data)
        outputs, _ = self._forward(views, training=training)
        return self._loss(outputs["projection"], outputs.get("probe_logits"), labels)

    def _loss(self, projection, probe_logits, labels):
        """(loss, contrast, probe_terms) from the `[view1; view2]` projections (and the probe's
        logits and labels; `labels=None`: no probe loss)."""
        use_probe = labels is not None
        z1, z2 = tf.split(tf.cast(projection, tf.float32), 2, axis=0)
        contrast = self._contrastive_loss_fn(
            z1, z2, temperature=self.temperature, hidden_norm=self.hidden_norm
        )
        loss = contrast["loss"]
        probe_terms = None
        if use_probe:
            both_labels = tf.concat([labels, labels], axis=0)
            probe_loss, decay = self._probe_loss(probe_logits, both_labels)
            loss = loss + probe_loss + decay
            probe_terms = (probe_loss, both_labels, probe_logits)
        return loss, contrast, probe_terms

    def _update_metrics(self, loss, contrast, probe_terms):
        self.loss_tracker.update_state(loss)
        self.contrast_loss_tracker.update_state(contrast["loss"])
        self.contrast_acc_tracker.update_state(contrast["contrast_acc"])
        self.contrast_entropy_tracker.update_state(contrast["contrast_entropy"])
        if probe_terms is not None:
            self._update_probe_metrics(*probe_terms)

    def _logs(self, with_probe):
        metrics = self.metrics if with_probe else self.metrics[: len(self.metrics) - len(self.probe_metrics)]
        logs = {m.name: m.result() for m in metrics}
        if self.optimizer is not None:
            logs["learning_rate"] = tf.cast(self.optimizer.learning_rate, tf.float32)
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 concatenates per-worker logs and fails on scalars (#72388).
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def _scaled_loss(self, loss):
        """The loss the gradient is taken of: checked, per replica, scaled for mixed precision."""
        loss = tf.debugging.check_numerics(loss, _NAN_ADVICE)
        # Each replica's loss is a mean over its local anchors; gradients are summed over
        # replicas, so dividing by R makes the update the global-batch mean.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return self.optimizer.scale_loss(loss / tf.cast(replicas, loss.dtype))

    def _trainable_for(self, probe_terms):
        variables = self.trainable_variables
        if probe_terms is None and self.probe is not None:
            # Unlabelled data: the probe gets no gradient; leave it out rather than warn.
            probe_ids = {id(v) for v in self.probe.trainable_variables}
            variables = [v for v in variables if id(v) not in probe_ids]
        return variables

    def train_step(self, data):
        if self.micro_batch_size:
            loss, contrast, probe_terms, gradients, variables = grad_cache.loss_and_gradients(
                self, data)
        else:
            with tf.GradientTape() as tape:
                loss, contrast, probe_terms = self._step(data, training=True)
                scaled = self._scaled_loss(loss)
            variables = self._trainable_for(probe_terms)
            gradients = tape.gradient(scaled, variables)
        self._exclude_probe_from_lars()  # at trace time, once the probe's variables exist
        self.optimizer.apply(gradients, variables)
        self._update_metrics(loss, contrast, probe_terms)
        return self._logs(with_probe=probe_terms is not None)

    def test_step(self, data):
        """Contrastive loss/accuracy on augmented views, probe accuracy on the eval crop."""
        images, labels = self._unpack(data)
        loss, contrast, _ = self._step(images, training=False)
        self._update_metrics(loss, contrast, None)
        if self.probe is not None and labels is not None:
            labels = self._check_labels(labels)
            outputs = self._forward(self.augment(images, training=False), training=False)[0]
            logits = outputs["probe_logits"]
            probe_loss, _ = self._probe_loss(logits, labels)
            self._update_probe_metrics(probe_loss, labels, logits)
        return self._logs(with_probe=self.probe is not None and labels is not None)

    def _update_probe_metrics(self, probe_loss, labels, logits):
        logits = tf.cast(logits, tf.float32)
        self.probe_metrics[0].update_state(probe_loss)
        self.probe_metrics[1].update_state(labels, logits)
        self.probe_metrics[2].update_state(labels, logits)

    # --- Keras plumbing ---------------------------------------------------------------------

    def _exclude_probe_from_lars(self):
        """The reference's decay rules: batch norm is never decayed; the probe's kernel has its
        own L2 term (decayed once); LARS' decay and trust ratio skip the probe."""
        probe = self.probe if self.probe is not None and self.probe.built else None
        exclude_from_decay(
            self.optimizer, self, own_l2=[probe.kernel] if probe else [],
            supervised_head=probe.trainable_variables if probe else [],
        )

    def fit(self, x=None, *args, **kwargs):
        image_shape = _image_batch_shape(x, self.distribute_strategy)
        if not self.built and image_shape is not None:
            # train_step never goes through __call__, so Keras would leave the model unbuilt
            # (and `.keras` files without a build config); build it from the data's shape.
            with self.distribute_strategy.scope():
                self.build(image_shape)
        if isinstance(x, tf.data.Dataset):
            # A dataset shuffles itself; Keras 3.15 warns on its default `shuffle=True`.
            kwargs.setdefault("shuffle", False)
        return super().fit(x, *args, **kwargs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15 builds a model under a strategy by all-reducing (MEAN) a first data batch,
        # which fails for uint8 images under MultiWorkerMirroredStrategy (collectives have no
        # uint8 kernel; tensorflow/tensorflow#72388). `fit` has built the model already, so
        # only the optimiser is left to build.
        if self.built:
            if self.optimizer is not None and not self.optimizer.built:
                with self.distribute_strategy.scope():
                    self.optimizer.build(self.trainable_variables)
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "projection_head": keras.saving.serialize_keras_object(self.projection_head),
                "augment": keras.saving.serialize_keras_object(self.augment),
                "temperature": self.temperature,
                "num_classes": self.num_classes,
                "hidden_norm": self.hidden_norm,
                "probe_weight_decay": self.probe_weight_decay,
                "probe_from_projection_layer": self.probe_from_projection_layer,
                "loss": (
                    dict(self.contrastive_loss)
                    if isinstance(self.contrastive_loss, dict)
                    else self.contrastive_loss
                ),
                "micro_batch_size": self.micro_batch_size,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "projection_head", "augment"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _image_batch_shape(x, strategy):
    """The image batch shape of a `tf.data.Dataset` (None for other inputs), after checking
    that its global batch splits over the strategy's replicas (`check_global_batch`)."""
    if not isinstance(x, tf.data.Dataset):
        return None
    spec = x.element_spec
    if isinstance(spec, (tuple, list)):
        spec = spec[0]
    if isinstance(spec, dict):
        spec = spec.get("image", next(iter(spec.values())))
    shape = spec.shape
    if shape.rank is None or shape.rank < 4:
        raise ValueError(
            "SimCLR.fit expects batched images of shape (batch, height, width, channels). "
            f"Received element shape {shape}; call `dataset.batch(batch_size, "
            "drop_remainder=True)`."
        )
    num_replicas = strategy.num_replicas_in_sync
    if shape[0] is None:
        if num_replicas > 1:
            raise ValueError(
                "Under a distribution strategy the global batch must be static so it splits "
                "evenly over replicas: batch the dataset with `drop_remainder=True`. "
                f"Received element shape {shape} with {num_replicas} replicas."
            )
        return None
    check_global_batch(shape[0], strategy)
    return shape
