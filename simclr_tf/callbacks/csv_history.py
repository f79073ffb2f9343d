"""Keras' CSVLogger on any `tf.io.gfile` filesystem."""

import keras


class CSVHistory(keras.callbacks.CSVLogger):
    """`keras.callbacks.CSVLogger` that also works on `gs://`, `ram://`, ... paths.

    Keras 3.15 opens remote paths as a `tf.io.gfile.GFile`, which has no `closed` attribute
    that the logger's `on_epoch_end` / `on_train_end` check, so every remote run fails after
    its first epoch. Same arguments as `CSVLogger`.
    """

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.csv_file = _Closable(self.csv_file)


class _Closable:
    """A file object with a `closed` attribute, whatever it wraps."""

    def __init__(self, file):
        self._file = file
        self.closed = False

    def close(self):
        self._file.close()
        self.closed = True

    def __getattr__(self, name):
        return getattr(self._file, name)
