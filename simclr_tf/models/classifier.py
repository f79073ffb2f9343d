"""The supervised network of linear evaluation and fine-tuning: encoder [+ projection layers] +
a linear head, with the freezing rules of the reference (`fine_tune_after_block`). Build one from
a pretrained model with `simclr_tf.build_classifier` (`simclr_tf.models.classifier_builder`)."""

import keras
import tensorflow as tf

from simclr_tf.augment.base import image_inputs
from simclr_tf.optimizers import l2


FINE_TUNE_AFTER_BLOCK = (-1, 0, 1, 2, 3, 4)


@keras.saving.register_keras_serializable(package="simclr_tf")
class Classifier(keras.Model):
    """Images -> class logits: preprocessing, encoder, the kept projection layers, linear head.

    The network that SimCLRv2 fine-tunes (arXiv:2006.10029, sec. 2.2: "fine-tuning from a middle
    layer of the projection head") and that linear evaluation trains on a frozen encoder (SimCLR,
    arXiv:2002.05709, sec. 4): google-research/simclr tf2's `Model` in `train_mode=finetune`.
    Unlike the reference, the projection-head layers after the one the head reads are not part
    of this network, so every trainable variable receives a gradient (the reference keeps them
    and prints "Gradients do not exist" for each of their variables on every step).

    `augment` runs with `training=True` inside `fit` (the reference's fine-tuning preprocessing:
    random crop and flip, no colour distortion) and `training=False` otherwise (centre crop and
    resize). Freezing follows the reference's `fine_tune_after_block` b: block groups 0 (stem)
    .. b of the encoder get `trainable = False`, so they receive no gradient and their batch
    norm runs in inference mode (moving statistics, never updated); -1 trains everything, 4
    freezes the whole encoder (linear evaluation). The kept projection layers and the head
    stay trainable, as in the reference. Global (cross-replica) BN is the encoder's own setting;
    the projection layers are created synchronized under a strategy with several replicas.

    Build one from a pretrained `SimCLR` with `build_classifier`.

    Args:
        encoder: images in [0, 1] -> features (e.g. a `simclr_tf.ResNet`).
        num_classes: number of classes (>= 2).
        augment: the preprocessing layer, called with `training`; it must have `image_size`.
        projection: None, or a Keras model of the kept projection layers (features -> hidden).
        fine_tune_after_block: -1 .. 4, see above.
        zero_init_head: start the linear head at zero (the reference's
            `zero_init_logits_layer=True`), else N(0, 0.01) as its `LinearLayer`.
        head_weight_decay: L2 coefficient w of the head's kernel: the loss gains
            `w * sum(kernel ** 2) / 2`, the reference's `weight_decay * tf.nn.l2_loss`.

    Example:

    ```python
    classifier = build_classifier(pretrained, num_classes=1000, from_projection_layer=1)
    classifier.compile(optimizer=simclr_tf.LARS(0.16, weight_decay=0.0))
    classifier.fit(labelled_ds, epochs=60)
    logits = classifier.predict(images)
    ```
    """

    def __init__(
        self,
        encoder,
        num_classes,
        augment,
        projection=None,
        fine_tune_after_block=-1,
        zero_init_head=True,
        head_weight_decay=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes!r}"
            )
        if fine_tune_after_block not in FINE_TUNE_AFTER_BLOCK:
            raise ValueError(
                f"`fine_tune_after_block` must be one of {list(FINE_TUNE_AFTER_BLOCK)} (-1: train "
                "everything, 4: only the head). "
                f"Received: fine_tune_after_block={fine_tune_after_block!r}"
            )
        if not head_weight_decay >= 0:
            raise ValueError(
                f"`head_weight_decay` must be >= 0. Received: head_weight_decay={head_weight_decay}"
            )
        if getattr(augment, "image_size", None) is None:
            raise ValueError(
                "`augment` must be a preprocessing layer with an `image_size` (e.g. "
                f"simclr_tf.SimCLRAugment). Received: augment={augment!r}"
            )
        # === Layers ===
        self.encoder = encoder
        self.augment = augment
        self.projection = projection
        self.head = keras.layers.Dense(
            num_classes,
            kernel_initializer=(
                "zeros" if zero_init_head else keras.initializers.RandomNormal(stddev=0.01)
            ),
            kernel_regularizer=(
                keras.regularizers.L2(head_weight_decay / 2.0) if head_weight_decay else None
            ),
            dtype="float32",  # logits in float32 under mixed precision
            name="head_supervised",
        )
        # === Config ===
        self.num_classes = num_classes
        self.fine_tune_after_block = fine_tune_after_block
        self.zero_init_head = bool(zero_init_head)
        self.head_weight_decay = float(head_weight_decay)
        self._freeze()
        self.build((None, augment.image_size, augment.image_size, 3))

    def _freeze(self):
        last = self.fine_tune_after_block
        if last == 4:
            self.encoder.trainable = False
        elif last >= 0:
            if not hasattr(self.encoder, "block_group_layers"):
                raise ValueError(
                    "`fine_tune_after_block` 0..3 needs an encoder with `block_group_layers` "
                    "(simclr_tf.ResNet); use -1 or 4 for other encoders. "
                    f"Received: fine_tune_after_block={last} with {type(self.encoder).__name__}"
                )
            for group in range(last + 1):
                for layer in self.encoder.block_group_layers(group):
                    layer.trainable = False

    def build(self, input_shape):
        size = self.augment.image_size
        self.logits(tf.zeros((1, size, size, 3)), training=False)
        self.built = True

    def features(self, views, training=False):
        """What the head reads: encoder features, through the kept projection layers."""
        hidden = self.encoder(views, training=training)
        if self.projection is not None:
            hidden = self.projection(hidden, training=training)
        return hidden

    def logits(self, views, training=False):
        """Logits of already preprocessed views (float32, `image_size`, 3 channels)."""
        return self.head(self.features(views, training=training))

    def call(self, images, training=False):
        images = image_inputs(images)  # a canvas {"image", "image_size"} stays one
        # `augment` defaults to training=True; a plain call must get the evaluation transform.
        training = bool(training)
        return self.logits(self.augment(images, training=training), training=training)

    def compile(self, optimizer="sgd", loss=None, metrics=None, **kwargs):
        """`keras.Model.compile` with sparse cross-entropy on logits and top-1 / top-5 accuracy
        by default. The head is kept out of the optimiser's weight decay (and LARS' trust
        ratio), as the reference does for its supervised head: it has its own L2 term."""
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics is None:
            metrics = [
                keras.metrics.SparseCategoricalAccuracy(name="top1"),
                keras.metrics.SparseTopKCategoricalAccuracy(
                    k=min(5, self.num_classes), name="top5"
                ),
            ]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        exclude_classifier_from_decay(self.optimizer, self)

    def train_step(self, data):
        return worker_logs(super().train_step(data))

    def test_step(self, data):
        return worker_logs(super().test_step(data))

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if not build_from_one_replica(self, iterator):
            super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "num_classes": self.num_classes,
                "augment": keras.saving.serialize_keras_object(self.augment),
                "projection": keras.saving.serialize_keras_object(self.projection),
                "fine_tune_after_block": self.fine_tune_after_block,
                "zero_init_head": self.zero_init_head,
                "head_weight_decay": self.head_weight_decay,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "augment", "projection"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def build_from_one_replica(model, iterator):
    """Keras 3.15 builds a model's metrics under a strategy from a first batch all-reduced (MEAN)
    over replicas, which fails for uint8 images under MultiWorkerMirroredStrategy
    (tensorflow/tensorflow#72388); one replica's slice has the same structure and dtypes.
    Returns False (nothing done) where Keras' own build applies."""
    if iterator is None or model._distribute_strategy is None:
        return False
    for _, _, batches in iterator:
        batch = next(batches)
        break
    strategy = model.distribute_strategy
    local = tf.nest.map_structure(
        lambda v: strategy.experimental_local_results(v)[0]
        if isinstance(v, tf.distribute.DistributedValues)
        else v,
        batch,
    )
    with strategy.scope():
        model._symbolic_build(data_batch=local)
    return True


def worker_logs(logs):
    """Keras 3.15 concatenates the logs of the workers of a MultiWorkerMirroredStrategy and fails
    on scalars (tensorflow/tensorflow#72388): give them shape [1] there, as `SimCLR` does."""
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return {k: tf.reshape(v, [1]) for k, v in logs.items()}
    return logs


def exclude_classifier_from_decay(optimizer, classifier):
    """The reference's decay rules for a classifier's optimiser.

    The head's kernel has its own L2 term (`head_weight_decay`), so no optimiser decays it again;
    batch norm is never decayed. LARS also keeps the head out of its decay and trust ratio (the
    reference's `head_supervised` rule); the momentum / Adam optimisers of
    `simclr_tf.optimizers.build_optimizer` decay the head's bias, as the reference's L2 loss term
    does. Keras' own optimisers (decoupled `weight_decay`, exclusions only before `build`): the
    head and the 1-D variables are excluded.
    """
    opt = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    if opt is None:
        return
    head = classifier.head.trainable_variables
    if hasattr(opt, "uses_weight_decay"):
        l2.exclude_from_decay(opt, classifier, own_l2=[classifier.head.kernel], supervised_head=head)
    elif getattr(opt, "weight_decay", None) and not opt.built:
        one_d = [v for v in classifier.trainable_variables if len(v.shape) <= 1]
        opt.exclude_from_weight_decay(var_list=head + one_d)
