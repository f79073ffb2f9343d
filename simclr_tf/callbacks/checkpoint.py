"""Atomic periodic checkpoints that double as the resume point of an interrupted run."""

import json
import os
import re
import shutil

import keras
from absl import logging

_CKPT_RE = re.compile(r"^ckpt-(\d{6})$")


class ResumableCheckpoint(keras.callbacks.Callback):
    """Saves model and optimiser state every N epochs, keeps the last K, resumes from the newest.

    Each checkpoint is a folder `ckpt-EEEEEE/` (E = epochs completed) holding
    `model.weights.h5` (every model variable, including the augmentation layers' seed state, and
    the optimiser's iterations and slots) and `state.json`. It is written under a temporary name
    and renamed into place, so a run killed at any moment (even by SIGKILL) leaves only complete
    checkpoints; `keras.callbacks.BackupAndRestore` writes weights and metadata in place, one after
    the other, which a kill can leave inconsistent.

    On `fit` start the newest complete checkpoint is loaded and training continues from the epoch
    after it (the step counter and learning-rate schedule continue with the optimiser's
    `iterations`). The model and its optimiser must be built before `fit` (call the model on a
    batch), as for `BackupAndRestore`.

    Args:
        directory: where the `ckpt-*` folders go (created if missing).
        every_epochs: save after every this many epochs, and always after the last one.
        keep: how many checkpoints to keep (the newest).

    Example:

    ```python
    model.fit(ds, epochs=100, callbacks=[simclr_tf.ResumableCheckpoint("work/checkpoints")])
    ```
    """

    def __init__(self, directory, every_epochs=1, keep=3):
        super().__init__()
        if int(every_epochs) < 1 or int(keep) < 1:
            raise ValueError(
                "`every_epochs` and `keep` must be >= 1. "
                f"Received: every_epochs={every_epochs}, keep={keep}"
            )
        self.directory = str(directory)
        self.every_epochs = int(every_epochs)
        self.keep = int(keep)
        self._epochs = None
        self.restored_epoch = 0

    # --- Finding checkpoints ----------------------------------------------------------------

    def checkpoints(self):
        """Complete checkpoints as (epoch, path), oldest first."""
        if not os.path.isdir(self.directory):
            return []
        found = []
        for name in os.listdir(self.directory):
            match = _CKPT_RE.match(name)
            path = os.path.join(self.directory, name)
            if match and os.path.exists(os.path.join(path, "state.json")):
                found.append((int(match.group(1)), path))
        return sorted(found)

    def latest(self):
        found = self.checkpoints()
        return found[-1] if found else None

    # --- Callback hooks ---------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._epochs = self.params.get("epochs") if self.params else None
        latest = self.latest()
        if latest is None:
            return
        epoch, path = latest
        if not self.model.built:
            raise ValueError(
                "ResumableCheckpoint needs a built model to restore into: call the model on one "
                "batch before `fit`."
            )
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(path, "model.weights.h5"))
        self.model._initial_epoch = epoch  # Keras' own resume hook (BackupAndRestore uses it).
        self.restored_epoch = epoch
        logging.info("Resumed from %s (epoch %d, step %s)", path, epoch, _iterations(self.model))

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every_epochs == 0 or (self._epochs is not None and done == self._epochs):
            self.save(done, logs)

    def save(self, epoch, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        final = os.path.join(self.directory, f"ckpt-{epoch:06d}")
        tmp = os.path.join(self.directory, f".tmp-ckpt-{epoch:06d}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        self.model.save_weights(os.path.join(tmp, "model.weights.h5"))
        state = {
            "epoch": epoch,
            "step": _iterations(self.model),
            "logs": {k: float(v) for k, v in (logs or {}).items() if _is_scalar(v)},
        }
        with open(os.path.join(tmp, "state.json"), "w") as f:
            json.dump(state, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(final):  # a re-run of the same epoch after a resume
            shutil.rmtree(final)
        os.rename(tmp, final)  # atomic on POSIX: the folder appears complete or not at all
        for _, old in self.checkpoints()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        self._remove_stale_tmp()

    def _remove_stale_tmp(self):
        for name in os.listdir(self.directory):
            if name.startswith(".tmp-ckpt-"):
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)


def _iterations(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not optimizer.built:
        return 0
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def _is_scalar(value):
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False
