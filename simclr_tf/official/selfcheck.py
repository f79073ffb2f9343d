"""A published SavedModel checks its own conversion: its traced function against the Keras models.

The reference's SavedModels (`build_saved_model` in google-research/simclr tf2/run.py) keep the
function they were written with: `loaded(images, trainable=False)` returns a dict of endpoints
(`initial_conv` .. `block_group4`, `final_avg_pool`, `proj_head_input`, `proj_head_output`,
`logits_sup`). Running it on a probe batch tells which projection layer the supervised head
reads (the weights cannot: layer 1 and the encoder output have the same width) and measures how
far the converted models are from the files' own computation.
"""

import numpy as np
import tensorflow as tf
from absl import logging

TOLERANCE = 1e-4  # max relative error per endpoint
PROBE_SIZE = 65  # odd, so every strided layer pads unevenly; small, so an R152 3x stays cheap
NUM_PROBE = 2
ENCODER_ENDPOINTS = (
    "initial_conv", "initial_max_pool", "block_group1", "block_group2", "block_group3",
    "block_group4", "final_avg_pool",
)


def probe_images(seed=0):
    """`NUM_PROBE` seeded float32 images in [0, 1] of `PROBE_SIZE` px."""
    rng = np.random.default_rng(seed)
    return rng.random((NUM_PROBE, PROBE_SIZE, PROBE_SIZE, 3), dtype=np.float32)


def relative_error(actual, expected):
    """max |actual - expected| / max |expected| (float64)."""
    actual, expected = np.asarray(actual, "float64"), np.asarray(expected, "float64")
    if actual.shape != expected.shape:
        return float("inf")
    scale = np.max(np.abs(expected))
    return float(np.max(np.abs(actual - expected)) / (scale if scale > 0 else 1.0))


class SavedModelFunction:
    """The traced function of a reference SavedModel folder, or `available == False` (with
    `why`) when the folder has none that can be called: a TF1 hub module, an incomplete copy.

    Args:
        folder: the SavedModel folder (with saved_model.pb).
    """

    def __init__(self, folder):
        self.folder = folder
        self.why = None
        self._loaded = None
        try:
            loaded = tf.saved_model.load(folder)
            if not callable(loaded):
                raise ValueError("its root object has no __call__(inputs, trainable)")
            self._loaded = loaded  # kept alive: it owns the variables the function reads
        except Exception as e:  # noqa: BLE001 - any failure means "no function to compare"
            text = (str(e).strip().splitlines() or [""])[0]
            self.why = f"{type(e).__name__}: {text}"
            logging.info("No callable function in %s: %s", folder, self.why)

    @property
    def available(self):
        return self._loaded is not None

    def __call__(self, images):
        """endpoint -> numpy array of the reference's own function (inference mode)."""
        outputs = self._loaded(tf.constant(images, tf.float32), trainable=False)
        return {k: np.asarray(v) for k, v in dict(outputs).items()}


def keras_endpoints(encoder, projection_head, images):
    """The reference's endpoint names computed by the converted encoder and projection head
    (the supervised head's logits are computed by the caller, per projection layer)."""
    outputs = encoder.endpoints_model()(images, training=False)
    ends = {k: np.asarray(v) for k, v in outputs.items()}
    ends["proj_head_input"] = ends["final_avg_pool"]
    if projection_head is not None:
        ends["proj_head_output"] = np.asarray(
            projection_head(ends["final_avg_pool"], training=False)
        )
    return ends


def head_inputs(projection_head, features):
    """[features, projection layer 1 output, ...]: what a supervised head reading projection
    layer k sees, k = 0 .. num_layers."""
    if projection_head is None:
        return [np.asarray(features)]
    return [np.asarray(x) for x in projection_head.all_outputs(features, training=False)]


def choose_projection_layer(candidates, head_inputs_list, kernel, bias, reference_logits):
    """(layer, {layer: relative error}) of the candidate whose logits reproduce
    `reference_logits`; layer is None when none is within `TOLERANCE`."""
    errors = {}
    for k in candidates:
        logits = head_inputs_list[k] @ kernel + bias
        errors[k] = relative_error(logits, reference_logits)
    best = min(errors, key=errors.get)
    return (best if errors[best] <= TOLERANCE else None), errors


def compare(function, official, images=None):
    """endpoint -> relative error of the converted models against `function` (a
    `SavedModelFunction`) on the probe images, for every endpoint both compute."""
    images = probe_images() if images is None else images
    reference = function(images)
    ends = keras_endpoints(official.encoder, official.projection_head, images)
    if official.classifier is not None:
        ends["logits_sup"] = np.asarray(official.classifier.logits(images, training=False))
    return {
        name: relative_error(ends[name], reference[name])
        for name in sorted(set(ends) & set(reference))
    }


def self_check(official, folder, tolerance=TOLERANCE):
    """Compares `official` (an `OfficialModel`) with the SavedModel at `folder`.

    Returns:
        endpoint -> relative error (every one at most `tolerance`).

    Raises:
        ValueError: the folder's function cannot be called, or an endpoint differs by more than
            `tolerance` (the message lists every measured error).
    """
    function = SavedModelFunction(folder)
    if not function.available:
        raise ValueError(
            f"Cannot self-check against {folder!r}: its saved_model.pb has no callable "
            f"function ({function.why}). A published SavedModel has one; the copy may be "
            "incomplete. Pass self_check=False (--noself_check) to convert without the check."
        )
    errors = compare(function, official)
    if not errors:
        raise ValueError(f"{folder!r}: its function returns none of the reference's endpoints.")
    bad = {k: v for k, v in errors.items() if not v <= tolerance}
    if bad:
        raise ValueError(
            f"Self-check failed for {folder!r}: the converted model differs from the "
            f"SavedModel's own function by more than {tolerance:g} (max relative error) at "
            f"{sorted(bad)}. Measured: {format_errors(errors)}. A wrong `from_projection_layer` "
            "shows at logits_sup only."
        )
    return errors


def format_errors(errors):
    return ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
