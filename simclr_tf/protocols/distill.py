"""Distillation with unlabelled examples (SimCLRv2, arXiv:2006.10029, sec. 2.3)."""

import keras
import tensorflow as tf

from simclr_tf.augment.base import image_inputs

from simclr_tf.models.classifier import build_from_one_replica, exclude_classifier_from_decay
from simclr_tf.models.classifier import worker_logs
from simclr_tf.protocols.recipe import LINEAR_EVALUATION, training_dataset


def distillation_loss(teacher_logits, student_logits, temperature=1.0):
    """Per-example cross-entropy between the teacher's and the student's tempered softmax.

    SimCLRv2's eq. 2: `-sum_y P_T(y|x; tau) log P_S(y|x; tau)` with
    `P(y|x; tau) = softmax(logits / tau)`. No gradient flows into the teacher. The paper's form
    is used as it is: Hinton et al.'s `tau ** 2` factor is not applied.

    Returns:
        (batch,) float32 losses.
    """
    if not temperature > 0:
        raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature}")
    targets = tf.nn.softmax(tf.stop_gradient(tf.cast(teacher_logits, tf.float32)) / temperature)
    log_probs = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature)
    return -tf.reduce_sum(targets * log_probs, axis=-1)


@keras.saving.register_keras_serializable(package="simclr_tf")
class Distiller(keras.Model):
    """Trains a student `Classifier` on a fixed teacher's soft labels (SimCLRv2 sec. 2.3).

    Per step: one random crop-and-flip view of each image (the student's `augment`); the teacher,
    frozen and in inference mode, labels the view with `softmax(logits / temperature)`; the
    student is trained on the same view with the loss of SimCLRv2's eq. 3,

        alpha * distillation_loss + (1 - alpha) * cross-entropy on the labelled examples,

    (`alpha = 1`, the default, is distillation alone, the paper's setting for its unlabelled
    data). Labels are optional: batches may be images alone, or `(images, labels)` where a label
    of -1 marks an unlabelled image (so one dataset can mix both). Student and teacher may differ
    in architecture (self-distillation with the same encoder, or big-to-small); when their input
    sizes differ the view is resized for the teacher.

    `evaluate` reports the student's top-1 / top-5 on labelled data and `agreement`, the share
    of images on which the student's and the teacher's predicted classes agree.

    Args:
        student: a `simclr_tf.Classifier` (trainable).
        teacher: a `Classifier` (frozen here: `trainable` is set to False).
        temperature: tau of eq. 2.
        alpha: the weight of the distillation term; `1 - alpha` weighs the labelled loss.

    Example:

    ```python
    distiller = Distiller(student, teacher, temperature=1.0)
    distiller.compile(optimizer=simclr_tf.LARS(1.0, weight_decay=1e-4))
    distiller.fit(unlabelled_images_ds, epochs=100)
    student_logits = distiller.student.predict(images)
    ```
    """

    def __init__(self, student, teacher, temperature=1.0, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if not temperature > 0:
            raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"`alpha` must be in [0, 1]. Received: alpha={alpha}")
        if student.num_classes != teacher.num_classes:
            raise ValueError(
                "Student and teacher must predict the same classes. Received: "
                f"student.num_classes={student.num_classes}, "
                f"teacher.num_classes={teacher.num_classes}"
            )
        # === Layers ===
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        # === Config ===
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        # === Metrics ===
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.distill_tracker = keras.metrics.Mean(name="distill_loss")
        self.agreement = keras.metrics.Mean(name="agreement")
        self.top1 = keras.metrics.SparseCategoricalAccuracy(name="top1")
        self.top5 = keras.metrics.SparseTopKCategoricalAccuracy(
            k=min(5, student.num_classes), name="top5"
        )
        self.built = True  # student and teacher build themselves

    @property
    def metrics(self):
        return [self.loss_tracker, self.distill_tracker, self.agreement, self.top1, self.top5]

    def call(self, images, training=False):
        return self.student(images, training=training)

    def compile(self, optimizer="sgd", **kwargs):
        """The student's head is kept out of the optimiser's decay, as `Classifier.compile`."""
        super().compile(optimizer=optimizer, **kwargs)
        exclude_classifier_from_decay(self.optimizer, self.student)

    def _teacher_logits(self, views):
        size = self.teacher.augment.image_size
        if views.shape[1] != size or views.shape[2] != size:
            views = tf.image.resize(views, (size, size), method="bicubic")
        return tf.cast(self.teacher.logits(views, training=False), tf.float32)

    def _unpack(self, data):
        if isinstance(data, dict):
            return image_inputs(data), data.get("label")
        if isinstance(data, (tuple, list)):
            return data[0], (data[1] if len(data) > 1 else None)
        return data, None

    def _update_agreement(self, student_logits, teacher_logits):
        same = tf.equal(tf.argmax(student_logits, -1), tf.argmax(teacher_logits, -1))
        self.agreement.update_state(tf.cast(same, tf.float32))

    def _labelled_loss(self, labels, logits):
        """Mean cross-entropy over the labelled examples (label >= 0); 0 when there are none."""
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        mask = tf.cast(labels >= 0, tf.float32)
        losses = keras.losses.sparse_categorical_crossentropy(
            tf.maximum(labels, 0), logits, from_logits=True
        )
        return tf.reduce_sum(losses * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)

    def train_step(self, data):
        images, labels = self._unpack(data)
        views = self.student.augment(images, training=True)
        teacher_logits = self._teacher_logits(views)
        variables = self.student.trainable_variables
        with tf.GradientTape() as tape:
            student_logits = tf.cast(self.student.logits(views, training=True), tf.float32)
            distill = tf.reduce_mean(
                distillation_loss(teacher_logits, student_logits, self.temperature)
            )
            loss = self.alpha * distill
            if labels is not None and self.alpha < 1.0:
                loss += (1.0 - self.alpha) * self._labelled_loss(labels, student_logits)
            if self.student.losses:
                loss += tf.add_n([tf.cast(l, tf.float32) for l in self.student.losses])
            # Gradients are summed over replicas: divide so the update is the global mean.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss / tf.cast(replicas, loss.dtype))
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        self.loss_tracker.update_state(loss)
        self.distill_tracker.update_state(distill)
        self._update_agreement(student_logits, teacher_logits)
        return worker_logs({m.name: m.result() for m in self.metrics[:3]})

    def test_step(self, data):
        images, labels = self._unpack(data)
        views = self.student.augment(images, training=False)
        teacher_logits = self._teacher_logits(views)
        student_logits = tf.cast(self.student.logits(views, training=False), tf.float32)
        distill = tf.reduce_mean(
            distillation_loss(teacher_logits, student_logits, self.temperature)
        )
        self.loss_tracker.update_state(distill)
        self.distill_tracker.update_state(distill)
        self._update_agreement(student_logits, teacher_logits)
        if labels is None:
            return worker_logs({m.name: m.result() for m in self.metrics[:3]})
        self.top1.update_state(labels, student_logits)
        self.top5.update_state(labels, student_logits)
        return worker_logs({m.name: m.result() for m in self.metrics})

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if not build_from_one_replica(self, iterator):
            super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "student": keras.saving.serialize_keras_object(self.student),
                "teacher": keras.saving.serialize_keras_object(self.teacher),
                "temperature": self.temperature,
                "alpha": self.alpha,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def distill(
    student,
    teacher,
    train,
    epochs,
    temperature=1.0,
    alpha=1.0,
    batch_size=256,
    steps_per_epoch=None,
    num_examples=None,
    callbacks=None,
    seed=0,
    verbose=0,
    compile_kwargs=None,
    optimizer_settings=LINEAR_EVALUATION,
    **optimizer_kwargs,
):
    """Distils `teacher` into `student` on (mostly unlabelled) images; returns the `Distiller`.

    Args:
        student, teacher: `Classifier`s with the same classes.
        train: images alone (numpy), `(images, labels)` with -1 for unlabelled images, or a
            batched, repeated `tf.data.Dataset` of either (with `num_examples` or
            `steps_per_epoch`).
        epochs: number of epochs.
        temperature, alpha: see `Distiller`.
        batch_size, steps_per_epoch, num_examples, seed: as `fine_tune`.
        callbacks, verbose: for `fit`.
        compile_kwargs: more `compile` arguments (`jit_compile`, `steps_per_execution`).
        optimizer_settings, **optimizer_kwargs: the optimiser and its schedule, as `fine_tune`
            takes them (an `OptimizerSettings`, whose fields `optimizer`, `base_learning_rate`,
            `learning_rate_scaling`, `momentum`, `weight_decay`, `warmup_epochs` keyword
            arguments replace; cosine decay after the warmup). The default is
            `LINEAR_EVALUATION`, the linear-evaluation recipe's (Nesterov momentum,
            0.1 x B/256); the paper does not tie distillation to one recipe, so tune it for the
            student.

    Example:

    ```python
    distiller = distill(student, teacher, unlabelled_images, epochs=100, temperature=1.0)
    print(distiller.evaluate(test_images, test_labels, return_dict=True)["agreement"])
    ```
    """
    settings = optimizer_settings.replace(**optimizer_kwargs)
    dataset, batch_size, num_examples = training_dataset(
        train, batch_size, num_examples, seed, steps_per_epoch=steps_per_epoch
    )
    with student.distribute_strategy.scope():
        distiller = Distiller(student, teacher, temperature=temperature, alpha=alpha)
        optimizer, steps_per_epoch = settings.scheduled_optimizer(batch_size, epochs, num_examples)
        distiller.compile(optimizer=optimizer, **(compile_kwargs or {}))
    distiller.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        shuffle=False,
        verbose=verbose,
    )
    return distiller
