"""TensorBoard image summary of augmented views: what the contrastive task looks like."""

import keras
import tensorflow as tf


class ViewSummary(keras.callbacks.Callback):
    """Writes pairs of augmented views of a few images to TensorBoard at the start of training
    and every `every_epochs` epochs (as image summaries under `views`: view 1, a white gap,
    view 2; enlarged with nearest-neighbour sampling to at least 96 px high).

    Args:
        log_dir: TensorBoard log folder (the callback writes to `log_dir/views`).
        images: a small batch of training images (uint8 or float), or a canvas dict
            `{"image", "image_size"}` of tensors (images of several sizes).
        every_epochs: how often to write.
    """

    def __init__(self, log_dir, images, every_epochs=10):
        super().__init__()
        self.log_dir = tf.io.gfile.join(str(log_dir), "views")
        self.images = images
        self.every_epochs = int(every_epochs)
        self._writer = None

    def _write(self, step):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        # The draws must not advance the augmentation's seed state: training's views stay a
        # function of the seed and the step (so a resumed run repeats an uninterrupted one).
        state = [(v, v.numpy()) for v in self.model.augment.variables]
        view1 = self.model.augment(self.images, training=True)
        view2 = self.model.augment(self.images, training=True)
        for variable, value in state:
            variable.assign(value)
        size = view1.shape[1]
        # Small views enlarged by an integer factor (nearest: sharp pixels) to >= 96 px.
        scale = -(-96 // size)
        gap = tf.ones_like(view1[:, :, : max(1, size // 16)])
        pairs = tf.concat([view1, gap, view2], axis=2)  # each image: its two views side by side
        if scale > 1:
            pairs = tf.image.resize(pairs, (size * scale, pairs.shape[2] * scale), "nearest")
        with self._writer.as_default():
            tf.summary.image("views", pairs, step=step, max_outputs=int(pairs.shape[0]),
                             description="Two augmented views of one image: view 1 | view 2.")
        self._writer.flush()

    def on_train_begin(self, logs=None):
        self._write(0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_epochs == 0:
            self._write(epoch + 1)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
