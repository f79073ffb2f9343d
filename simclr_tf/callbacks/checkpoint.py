"""Atomic periodic checkpoints on any filesystem that double as the resume point of an
interrupted run."""

import re

import keras
import tensorflow as tf
from absl import logging

from simclr_tf import workdir

_CKPT_RE = re.compile(r"^ckpt-(\d{6})/?$")
WEIGHTS_FILE = "model.weights.h5"
# Written last: a checkpoint folder without it is incomplete and never restored.
MARKER_FILE = "state.json"


class ResumableCheckpoint(keras.callbacks.Callback):
    """Saves model and optimiser state every N epochs, keeps the last K, resumes from the newest.

    Each checkpoint is a folder `ckpt-EEEEEE/` (E = epochs completed) holding
    `model.weights.h5` (every model variable, including the augmentation layers' seed state, and
    the optimiser's iterations and slots) and `state.json`, the completion marker, written last.
    Only folders with the marker are restored, so a run killed at any moment (even by SIGKILL,
    and on object stores such as `gs://` where a folder rename is not atomic) never resumes from
    a half-written checkpoint. Rewriting an epoch's checkpoint (a re-run after a resume) deletes
    its marker first. Every file goes through `tf.io.gfile`: `directory` may be local, `gs://`,
    `ram://`, ...

    With several workers (`MultiWorkerMirroredStrategy`) only the chief writes into `directory`;
    the other workers save into a local scratch folder that is deleted at once (the same code
    runs on every worker) and all of them restore from the chief's checkpoints.

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

    def _folders(self):
        """Every `ckpt-*` folder as (epoch, path, complete), oldest first."""
        if not tf.io.gfile.isdir(self.directory):
            return []
        found = []
        for name in tf.io.gfile.listdir(self.directory):
            match = _CKPT_RE.match(name)
            if match:
                path = workdir.join(self.directory, name.rstrip("/"))
                complete = tf.io.gfile.exists(workdir.join(path, MARKER_FILE))
                found.append((int(match.group(1)), path, complete))
        return sorted(found)

    def checkpoints(self):
        """Complete checkpoints as (epoch, path), oldest first."""
        return [(epoch, path) for epoch, path, complete in self._folders() if complete]

    def latest(self):
        found = self.checkpoints()
        return found[-1] if found else None

    def latest_epoch(self):
        """Epochs completed by the newest complete checkpoint (0 without one): where `fit` will
        resume, known before the model or the data exist."""
        latest = self.latest()
        return latest[0] if latest else 0

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
        self.model.load_weights(workdir.join(path, WEIGHTS_FILE))
        self.model._initial_epoch = epoch  # Keras' own resume hook (BackupAndRestore uses it).
        self.restored_epoch = epoch
        logging.info("Resumed from %s (epoch %d, step %s)", path, epoch, _iterations(self.model))

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every_epochs == 0 or (self._epochs is not None and done == self._epochs):
            self.save(done, logs)

    def save(self, epoch, logs=None):
        """Writes `ckpt-{epoch}` (the chief into `directory`, other workers into scratch)."""
        strategy = getattr(self.model, "distribute_strategy", None)
        with workdir.chief_path(self.directory, strategy) as directory:
            self._write(directory, epoch, logs)
            if workdir.is_chief(strategy):
                self._prune(epoch)

    def _write(self, directory, epoch, logs):
        final = workdir.join(directory, f"ckpt-{epoch:06d}")
        # A re-run of this epoch after a resume: unmark the old folder before touching it.
        workdir.remove(workdir.join(final, MARKER_FILE))
        workdir.remove(final)
        workdir.makedirs(final)
        self.model.save_weights(workdir.join(final, WEIGHTS_FILE))
        state = {
            "epoch": epoch,
            "step": _iterations(self.model),
            "logs": {k: float(v) for k, v in (logs or {}).items() if _is_scalar(v)},
        }
        workdir.write_json(workdir.join(final, MARKER_FILE), state)

    def _prune(self, epoch):
        """Keeps the newest `keep` complete checkpoints; drops incomplete folders of other
        epochs (leftovers of a killed run)."""
        folders = self._folders()
        complete = [path for _, path, done in folders if done]
        stale = complete[: -self.keep]
        stale += [path for e, path, done in folders if not done and e != epoch]
        for path in stale:
            workdir.remove(workdir.join(path, MARKER_FILE))  # unmarked first: never half-deleted
            workdir.remove(path)


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
