"""An exported encoder (a SavedModel from `simclr_tf.export_encoder`) as a feature extractor."""

import os

import tensorflow as tf

from simclr_tf.export.signatures import FLOAT_SIGNATURE, UINT8_SIGNATURE


def is_saved_model(path):
    """True when `path` is a SavedModel folder (it holds `saved_model.pb`)."""
    return isinstance(path, (str, os.PathLike)) and tf.io.gfile.exists(
        os.path.join(os.fspath(path), "saved_model.pb")
    )


class ExportedEncoder:
    """Images -> embeddings through an encoder exported by `simclr_tf.export_encoder`.

    The SavedModel carries its own evaluation preprocessing (centre crop, resize) and runs in
    inference mode, so linear evaluation and kNN work from it without simclr_tf's model code or
    the pretraining config (the SimCLR paper's protocol: a frozen encoder). uint8 images go to
    the `serving_uint8` signature, float images in [0, 1] to `serving_default`; single-channel
    images are tiled to RGB first, as the model's own augmentation does.

    It is not trainable: fine-tuning needs the Keras model (a checkpoint or a `.keras` file).

    Args:
        path: the exported version folder (e.g. `runs/demo/export/encoder/1`).
        output: the output key to return (`embedding`, or a block endpoint when exported with
            `endpoints=True`).

    Example:

    ```python
    encoder = ExportedEncoder("runs/demo/export/encoder/1")
    features = encoder(uint8_images)            # (batch, dim) float32
    simclr_tf.linear_evaluation(encoder, (x_train, y_train), (x_test, y_test), num_classes=10)
    ```
    """

    def __init__(self, path, output="embedding"):
        path = os.fspath(path)
        if not is_saved_model(path):
            raise ValueError(
                "`path` must be a SavedModel folder written by `simclr_tf.export_encoder` (with a "
                f"saved_model.pb), e.g. WORKDIR/export/encoder/1. Received: path={path!r}"
            )
        self.path = path
        self.output = output
        self._loaded = tf.saved_model.load(path)
        signatures = self._loaded.signatures
        missing = [s for s in (FLOAT_SIGNATURE, UINT8_SIGNATURE) if s not in signatures]
        if missing:
            raise ValueError(
                f"{path} is not an `export_encoder` SavedModel: it lacks the signatures {missing} "
                f"(it has {sorted(signatures)})."
            )
        self._float = signatures[FLOAT_SIGNATURE]
        self._uint8 = signatures[UINT8_SIGNATURE]
        outputs = sorted(self._float.structured_outputs)
        if output not in outputs:
            raise ValueError(
                f"`output` must be one of the export's outputs {outputs}. "
                f"Received: output={output!r}"
            )
        self.output_dim = self._float.structured_outputs[output].shape[-1]

    def __call__(self, images, training=False):
        """Embeddings (float32) of uint8 0-255 or float [0, 1] images (B, H, W, C), C = 1 or 3."""
        del training  # the export is an inference graph
        images = tf.convert_to_tensor(images)
        if images.shape.rank != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(
                "ExportedEncoder expects images of shape (batch, height, width, 1 or 3). "
                f"Received shape {images.shape}."
            )
        if images.shape[-1] == 1:
            images = tf.tile(images, [1, 1, 1, 3])
        if images.dtype == tf.uint8:
            return self._uint8(images=images)[self.output]
        return self._float(images=tf.cast(images, tf.float32))[self.output]

    def __repr__(self):
        return f"ExportedEncoder({self.path!r})"
