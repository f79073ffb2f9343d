"""Export for serving: SavedModels with a fixed contract, in TF-Serving's layout.

`export_encoder` writes the encoder with its evaluation preprocessing, `export_model` the whole
network (encoder, projection head, probe), `save_keras` the `.keras` file. The SavedModels load
without simclr_tf (`tf.saved_model.load`, `keras.layers.TFSMLayer`, TF-Serving) and have three
signatures, each taking images of any size (centre crop + resize in the graph):

    serving_default (= serve)  images       float32 [batch, height, width, 3] in [0, 1]
    serving_uint8              images       uint8   [batch, height, width, 3] in 0-255
    serving_bytes              image_bytes  string  [batch], encoded JPEG / PNG / GIF / BMP
"""

from simclr_tf.export.keras_file import save_keras
from simclr_tf.export.saved_model import export_encoder, export_model
from simclr_tf.export.signatures import (
    BYTES_SIGNATURE,
    FLOAT_SIGNATURE,
    KERAS_ENDPOINT,
    UINT8_SIGNATURE,
)

__all__ = [
    "BYTES_SIGNATURE",
    "FLOAT_SIGNATURE",
    "KERAS_ENDPOINT",
    "UINT8_SIGNATURE",
    "export_encoder",
    "export_model",
    "save_keras",
]
