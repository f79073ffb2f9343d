"""Work-directory file operations on any filesystem `tf.io.gfile` knows (local, `gs://`, `ram://`,
HDFS, ...), and who writes them when there are several workers.

Everything the training and evaluation commands write (config, results, history, checkpoints,
figures, exports) goes through these helpers or through Keras / TensorFlow writers that use
`tf.io.gfile` themselves, so a work directory can live in a bucket shared by every host of a
multi-worker or multi-host TPU run.

Under `MultiWorkerMirroredStrategy` only the chief writes into the work directory: the other
workers run the same code (a save may read variables that need the other workers), but point it
at a local scratch folder that is removed right after (`chief_path`), and they read the chief's
checkpoints to resume.
"""

import contextlib
import json
import posixpath
import shutil
import tempfile
import uuid

import tensorflow as tf


def join(path, *parts):
    """`os.path.join` for local paths and URLs alike (`gs://b/run` + `x` -> `gs://b/run/x`)."""
    return tf.io.gfile.join(str(path), *parts)


def is_chief(strategy=None):
    """True on the worker that writes: the chief (worker 0 without a `chief` task) under
    `MultiWorkerMirroredStrategy`, and always with a single worker."""
    strategy = strategy or tf.distribute.get_strategy()
    return bool(strategy.extended.should_checkpoint)


def makedirs(path):
    tf.io.gfile.makedirs(str(path))


def write_text(path, text):
    """Writes `text` to `path` so that a reader sees the old file or the whole new one.

    It is written under a temporary name beside `path` and renamed over it: atomic on POSIX
    filesystems; on object stores (`gs://`) the renamed object is a copy that appears whole
    once complete (the temporary object is left behind only if the process dies)."""
    path = str(path)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(text)
    tf.io.gfile.rename(tmp, path, overwrite=True)


def write_json(path, payload):
    write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str))


def read_json(path):
    with tf.io.gfile.GFile(str(path)) as f:
        return json.load(f)


def remove(path):
    """Deletes a file or a folder tree; nothing happens when it does not exist."""
    path = str(path)
    if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
    elif tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)


@contextlib.contextmanager
def chief_path(path, strategy=None):
    """Yields `path` on the chief, a fresh local scratch path on any other worker (removed on
    exit), so that every worker runs the same writing code and only the chief's output stays."""
    if is_chief(strategy):
        yield str(path)
        return
    scratch = tempfile.mkdtemp(prefix="simclr_tf-worker-")
    try:
        yield posixpath.join(scratch, posixpath.basename(str(path).rstrip("/")) or "out")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def prepare_workdir(workdir):
    """Creates the work directory and fails early, clearly, when it cannot be written."""
    try:
        makedirs(workdir)
        probe = join(workdir, ".write_test")
        with tf.io.gfile.GFile(probe, "w") as f:
            f.write("ok")
        tf.io.gfile.remove(probe)
    except (OSError, tf.errors.OpError) as e:
        reason = getattr(e, "strerror", None) or getattr(e, "message", None) or str(e)
        raise ValueError(
            f"The work directory {workdir!r} cannot be created or written ({reason}). "
            "Pass a writable --workdir."
        ) from e


def save_config(config, resolved, workdir):
    """The resolved config (primary and derived values) next to the checkpoints, atomically."""
    write_json(join(workdir, "config.json"), {"config": config.to_dict(), "derived": resolved})
