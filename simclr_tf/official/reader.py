"""Opening a google-research/simclr checkpoint: where its tensors are, in which of three formats.

- a TF2 SavedModel written by the reference's `build_saved_model` (the published
  `.../saved_model/` folders): its `variables/variables` checkpoint;
- a TF2 training checkpoint of the reference's `run.py` (`ckpt-N.index`, a folder with a
  `checkpoint` file): object-based, with `_CHECKPOINTABLE_OBJECT_GRAPH`;
- a TF1 checkpoint (`model.ckpt-N`): name-based (`base_model/conv2d/kernel`, ...).

Paths go through `tf.io.gfile`, so `gs://` works where the user has access.
"""

import os
import re

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"

ACCEPTED = (
    "a google-research/simclr checkpoint: a SavedModel folder (with saved_model.pb and "
    "variables/), a TF2 checkpoint prefix (ckpt-N) or a TF1 one (model.ckpt-N), or a folder "
    "holding one (with a `checkpoint` file)"
)


class CheckpointTensors:
    """The tensors of one checkpoint: `keys` (name -> shape), `get(key)`, and `object_graph`
    (a `TrackableObjectGraph`, or None for a TF1 name-based checkpoint).

    Args:
        path: see `resolve_checkpoint`.
    """

    def __init__(self, path):
        self.source = os.fspath(path)
        self.prefix, self.kind = resolve_checkpoint(self.source)
        try:
            self._reader = tf.train.load_checkpoint(self.prefix)
            shapes = self._reader.get_variable_to_shape_map()
        except (tf.errors.OpError, ValueError) as e:
            raise ValueError(
                f"Could not read the checkpoint at {self.prefix!r} (truncated or not a "
                f"TensorFlow checkpoint?): {type(e).__name__}: {_first_line(e)}. "
                f"Received: path={self.source!r}"
            ) from e
        self.object_graph = None
        if OBJECT_GRAPH_KEY in shapes:
            graph = trackable_object_graph_pb2.TrackableObjectGraph()
            graph.ParseFromString(self._reader.get_tensor(OBJECT_GRAPH_KEY))
            self.object_graph = graph
        self.keys = {k: tuple(v) for k, v in shapes.items() if k != OBJECT_GRAPH_KEY}

    def get(self, key):
        try:
            return self._reader.get_tensor(key)
        except (tf.errors.OpError, IndexError) as e:  # IndexError: "Read less bytes than requested"
            raise ValueError(
                f"Could not read {key!r} from {self.prefix!r} (truncated file?): "
                f"{type(e).__name__}: {_first_line(e)}"
            ) from e


def resolve_checkpoint(path):
    """(checkpoint prefix, "saved_model" | "checkpoint") for a user-given path.

    Raises ValueError naming the path when nothing there is a checkpoint."""
    path = _strip_shard_suffix(os.fspath(path).rstrip("/") or "/")
    try:
        return _resolve(path)
    except tf.errors.OpError as e:
        # A remote file system's own failure (gs://: not authenticated, no access, no such
        # bucket) would otherwise surface later as an unrelated message.
        raise ValueError(
            f"Could not read {path!r}: {type(e).__name__}: {_first_line(e)}. For gs:// paths, "
            "check the bucket and object names and your credentials (`gcloud auth "
            "application-default login`); the published buckets are public, and "
            "`simclr_tf.load_official(NAME)` downloads them over HTTPS without credentials."
        ) from e


def _strip_shard_suffix(path):
    """`model.ckpt-N.index` or `model.ckpt-N.data-00000-of-00001` -> `model.ckpt-N`: the
    files a user sees, while TensorFlow wants the prefix they share."""
    match = re.fullmatch(r"(.+?)\.(index|data-\d{5}-of-\d{5}|meta)", path)
    if match and not tf.io.gfile.isdir(path):
        return match.group(1)
    return path


def _resolve(path):
    gfile = tf.io.gfile
    if gfile.exists(os.path.join(path, "saved_model.pb")):
        prefix = os.path.join(path, "variables", "variables")
        if not gfile.exists(prefix + ".index"):
            raise ValueError(
                f"The SavedModel at {path!r} has no variables/variables.index: it holds no "
                f"weights (incomplete download?). Expected {ACCEPTED}."
            )
        return prefix, "saved_model"
    if gfile.exists(path + ".index"):
        return path, "checkpoint"
    if gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest and gfile.exists(latest + ".index"):
            return latest, "checkpoint"
        if gfile.exists(os.path.join(path, "saved_model", "saved_model.pb")):
            return _resolve(os.path.join(path, "saved_model"))
        indexes = sorted(gfile.glob(os.path.join(path, "*.index")))
        if len(indexes) == 1:
            return indexes[0][: -len(".index")], "checkpoint"
        raise ValueError(
            f"Found no checkpoint in the folder {path!r} "
            f"({len(indexes)} *.index files, no usable `checkpoint` file). Expected {ACCEPTED}."
        )
    if not gfile.exists(path) and not gfile.glob(path + "*"):
        raise ValueError(f"The path does not exist. Expected {ACCEPTED}. Received: path={path!r}")
    raise ValueError(f"Not a checkpoint. Expected {ACCEPTED}. Received: path={path!r}")


def _first_line(error):
    text = getattr(error, "message", None) or str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def is_official(path):
    """True when `path` holds a google-research/simclr checkpoint (TF2 object graph with
    `model/resnet_model`, or TF1 `base_model/conv2d/kernel`); False for anything else,
    including this package's own exports."""
    try:
        tensors = CheckpointTensors(path)
    except (ValueError, tf.errors.OpError):
        return False
    graph = tensors.object_graph
    if graph is None:
        return "base_model/conv2d/kernel" in tensors.keys
    model = next((c.node_id for c in graph.nodes[0].children if c.local_name == "model"), None)
    return model is not None and any(
        c.local_name == "resnet_model" for c in graph.nodes[model].children
    )
