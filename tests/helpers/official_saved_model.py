"""Gives a recorded reference SavedModel layout a callable function, as the published ones have.

The recorded layouts (tests/data/official/) hold the SavedModel's variables, not its graph, so
`tests.helpers.official.write_checkpoint` writes an empty `saved_model.pb`. The published
SavedModels keep the reference's `__call__(inputs, trainable)` that returns the endpoint dict.
This script writes such a function, computed by the converted models with a chosen projection
layer and frozen into constants (the folder's variables follow the reference's object graph,
which a Keras-written function could not restore), over the empty one.

It runs in a subprocess: functions traced in the process that loads the result would share
names with the loaded ones.

    python tests/helpers/official_saved_model.py SAVED_MODEL_FOLDER PROJECTION_LAYER
"""

import os
import sys
import tempfile

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from simclr_tf.official import load_official  # noqa: E402


def main(folder, layer):
    official = load_official(folder, from_projection_layer=layer)
    endpoints = official.encoder.endpoints_model()
    head, classifier = official.projection_head, official.classifier
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)

    @tf.function(input_signature=[spec])
    def forward(images):
        out = dict(endpoints(images, training=False))
        out["proj_head_input"] = out["final_avg_pool"]
        out["proj_head_output"] = head(out["final_avg_pool"], training=False)
        out["logits_sup"] = classifier.logits(images, training=False)
        return out

    concrete = forward.get_concrete_function()
    names = sorted(concrete.structured_outputs)  # the frozen function returns them flat, sorted
    frozen = convert_variables_to_constants_v2(concrete)

    class Reference(tf.Module):
        def __init__(self):
            self.forward = frozen

        @tf.function
        def __call__(self, inputs, trainable):
            del trainable  # one function serves both, as inference is all the tests ask
            return dict(zip(names, self.forward(inputs)))

    module = Reference()
    module.__call__.get_concrete_function(spec, trainable=True)
    module.__call__.get_concrete_function(spec, trainable=False)
    with tempfile.TemporaryDirectory() as tmp:
        # The padded convolutions' custom gradients are not needed: inference only.
        options = tf.saved_model.SaveOptions(experimental_custom_gradients=False)
        tf.saved_model.save(module, tmp, options=options)
        tf.io.gfile.copy(
            os.path.join(tmp, "saved_model.pb"), os.path.join(folder, "saved_model.pb"),
            overwrite=True,
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
