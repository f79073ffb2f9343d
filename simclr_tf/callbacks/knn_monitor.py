"""kNN accuracy of the encoder's features, logged while pretraining."""

import keras
import numpy as np

from simclr_tf.protocols.knn import knn_accuracy
from simclr_tf.protocols.features import extract_features


class KNNMonitor(keras.callbacks.Callback):
    """Weighted kNN top-1 (k=200, temperature 0.1) of the encoder on a labelled subset.

    After the first epoch, every `every_epochs` epochs and after the last, the encoder embeds `bank` (labelled training images) and `queries`
    (labelled held-out images) with the evaluation preprocessing (`augment(training=False)`), and
    the top-1 of a weighted kNN vote is added to the epoch logs as `knn_top1`, so the progress
    bar, `History` and TensorBoard (when this callback comes before it) all see it. This is the
    cheap representation-quality curve that lightly and solo-learn report.

    Args:
        bank: `(images, labels)` numpy arrays, the neighbours.
        queries: `(images, labels)` numpy arrays, the images to classify.
        num_classes: number of classes.
        every_epochs: how often to evaluate (and after the last epoch).
        k, temperature: kNN settings.
        batch_size: images per encoder call.
    """

    def __init__(self, bank, queries, num_classes, every_epochs=1, k=200, temperature=0.1, batch_size=256):
        super().__init__()
        self.bank = bank
        self.queries = queries
        self.num_classes = int(num_classes)
        self.every_epochs = int(every_epochs)
        self.k = int(k)
        self.temperature = float(temperature)
        self.batch_size = int(batch_size)
        self.history = []

    def evaluate(self):
        bank_features = extract_features(self.model, self.bank[0], self.batch_size)
        query_features = extract_features(self.model, self.queries[0], self.batch_size)
        return knn_accuracy(
            bank_features,
            self.bank[1],
            query_features,
            self.queries[1],
            self.num_classes,
            k=self.k,
            temperature=self.temperature,
        )

    def on_epoch_end(self, epoch, logs=None):
        last = self.params.get("epochs") if self.params else None
        # Also after the first epoch: CSVLogger fixes its columns from the first epoch's logs.
        if (epoch + 1) % self.every_epochs and epoch + 1 != last and epoch != 0:
            return
        top1 = self.evaluate()
        self.history.append((epoch + 1, top1))
        if logs is not None:
            logs["knn_top1"] = np.float32(top1)
