"""Rebuilding google-research/simclr checkpoints from the small records in tests/data/official/.

Each record (written by scripts/official_reference.py from the reference's own code) holds, per
layout, the checkpoint's key -> [shape, dtype, seed, kind] and its object graph; `fill(kind,
shape, seed)` gives back every value the script assigned, so the checkpoint can be written again
here, byte for byte in its values, without the reference code or any download.
"""

import importlib.util
import os

import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "official")
SCRIPT = os.path.join(ROOT, "scripts", "official_reference.py")


def reference_script():
    """scripts/official_reference.py as a module (its top level needs numpy only)."""
    spec = importlib.util.spec_from_file_location("official_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(variant):
    return reference_script().read_record(os.path.join(DATA, f"{variant}.json.gz"))


def values(layout):
    """checkpoint key -> numpy value, as the reference script assigned them."""
    script = reference_script()
    out = {}
    for key, (shape, dtype, seed, kind) in layout["keys"].items():
        if seed is None:
            out[key] = np.asarray(kind, dtype=dtype).reshape(shape)
        else:
            out[key] = script.fill(kind, shape, seed, dtype)
    return out


def write_checkpoint(layout, folder, name, drop=(), extra=None):
    """Writes the layout's checkpoint under `folder` and returns the path to load:
    "saved_model" -> a SavedModel-shaped folder (its `saved_model.pb` is a placeholder: the
    loader reads only the variables), "checkpoint" -> a `ckpt-1` prefix, "tf1" -> a
    `model.ckpt-1` prefix. `drop` leaves keys out, `extra` adds tensors."""
    tensors = {k: v for k, v in values(layout).items() if k not in drop}
    tensors.update(extra or {})
    if "object_graph" in layout:
        graph = reference_script().object_graph_bytes(layout["object_graph"])
        tensors["_CHECKPOINTABLE_OBJECT_GRAPH"] = np.array(graph, dtype=object)
    if name == "saved_model":
        path = os.path.join(folder, "saved_model")
        tf.io.gfile.makedirs(os.path.join(path, "variables"))
        with open(os.path.join(path, "saved_model.pb"), "wb") as f:
            f.write(b"")
        prefix = os.path.join(path, "variables", "variables")
    else:
        tf.io.gfile.makedirs(folder)
        path = prefix = os.path.join(folder, "ckpt-1" if name == "checkpoint" else "model.ckpt-1")
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[n]) for n in names],
    )
    return path


def outputs(official, images):
    """The reference SavedModel's endpoints, computed by the converted models."""
    ends = official.encoder.endpoints_model()(images, training=False)
    ends = {k: np.asarray(v) for k, v in ends.items()}
    features = ends["final_avg_pool"]
    ends["proj_head_input"] = features
    if official.projection_head is not None:
        ends["proj_head_output"] = np.asarray(official.projection_head(features, training=False))
    if official.classifier is not None:
        ends["logits_sup"] = np.asarray(official.classifier.logits(images, training=False))
    return ends


def relative_error(actual, expected):
    """max |actual - expected| / max |expected|."""
    actual, expected = np.asarray(actual, "float64"), np.asarray(expected, "float64")
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def summary_errors(official, rec, source):
    """Endpoint -> relative error of the converted model against the record's summaries."""
    script = reference_script()
    images = script.images(rec["image_size"], rec["num_images"])
    ends = outputs(official, images)
    errors = {}
    for name, summary in rec["outputs"][source].items():
        got = script.summarize(ends[name])
        errors[name] = max(
            relative_error(got[part], script.decode(summary[part])) for part in summary
        )
    return errors


def write_saved_model_with_function(layout, folder, projection_layer):
    """`write_checkpoint(layout, folder, "saved_model")` plus the reference's callable
    `__call__(inputs, trainable)`, whose `logits_sup` reads `projection_layer` (written by
    tests/helpers/official_saved_model.py in a subprocess). Returns the SavedModel folder."""
    import subprocess
    import sys

    path = write_checkpoint(layout, folder, "saved_model")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "official_saved_model.py")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, script, path, str(projection_layer)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    if done.returncode:
        raise RuntimeError(f"{script} failed:\n{done.stderr[-3000:]}")
    return path
