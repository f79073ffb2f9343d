"""`save_keras`: the `.keras` file, for Keras users, with the same overwrite safety."""

import os
import uuid

import tensorflow as tf


def save_keras(model, path, *, overwrite=False):
    """Saves `model` (a `simclr_tf.SimCLR`, an encoder, any Keras model) as a `.keras` file.

    The `.keras` format keeps the Python classes: reload it with `keras.saving.load_model(path)`
    after `import simclr_tf` (which registers the package's layers), and keep training or
    fine-tuning it. For serving, or for programs without simclr_tf, use `export_encoder` /
    `export_model`. The file is written to a temporary name next to `path` and renamed, so a
    reader never sees half a file.

    Args:
        model: a Keras model.
        path: file path ending in ".keras".
        overwrite: replace an existing file; without it that is a `FileExistsError`.

    Returns:
        `path`.

    Example:

    ```python
    simclr_tf.save_keras(model, "exports/simclr.keras")
    model = keras.saving.load_model("exports/simclr.keras")
    ```
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"`path` must end in '.keras'. Received: path={path!r}")
    if tf.io.gfile.exists(path) and not overwrite:
        raise FileExistsError(f"'{path}' already exists. Pass `overwrite=True` to replace it.")
    folder = os.path.dirname(path)
    if folder:
        tf.io.gfile.makedirs(folder)
    tmp = os.path.join(folder, f".tmp-{uuid.uuid4().hex[:8]}-{os.path.basename(path)}")
    try:
        model.save(tmp)
        tf.io.gfile.rename(tmp, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(tmp):
            tf.io.gfile.remove(tmp)
    return path
