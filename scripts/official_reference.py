"""Reference checkpoints and outputs for `simclr_tf.official`, from google-research/simclr's code.

Builds the authors' TF2 model (tf2/model.py, tf2/resnet.py, with the flags its run.py sets),
gives EVERY variable a seeded value (kernels, biases, BN gammas, betas, moving means and
variances, the LARS `Momentum` slots), and writes, per variant:

- `OUTPUT/<variant>/checkpoint/ckpt-1.*`: a `tf.train.Checkpoint(model, global_step, optimizer)`
  saved by a `tf.train.CheckpointManager`, as run.py does while training;
- `OUTPUT/<variant>/saved_model/`: run.py's `build_saved_model(model)` written by
  `tf.saved_model.save`, the layout of the published SavedModels (SyncBN, numbered variables);
- `OUTPUT/<variant>/tf1/model.ckpt-1.*` (with --tf1): the TF1 code (model_util.py, resnet.py at the
  repository root) built in a graph, its variables named as the published `model.ckpt-*`;
- `OUTPUT/<variant>/reference.npz`: every endpoint of the SavedModel's `__call__`
  (trainable=False) on `NUM_IMAGES` seeded images of `--image_size` px, float32;
- `DATA/<variant>.json.gz` (small, committed under tests/data/official/): per layout the
  checkpoint's key -> [shape, dtype, seed, kind] and its object graph (xz, base64), the flags,
  and per endpoint a small summary of the reference outputs (`summarize`). `fill(kind, shape,
  seed)` rebuilds every value, so a test can rewrite the checkpoint and compare without the
  reference code.

The reference needs Keras 2, so it runs in a throwaway virtual environment, never in this
package's (measured 2026-12 with TF 2.21):

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install tensorflow-cpu==2.21.* absl-py
    /tmp/refvenv/bin/pip install --no-deps tf-keras==2.21.*
    # the reference: a checkout of google-research/simclr (tf2/ and the TF1 files at its root)
    TF_USE_LEGACY_KERAS=1 /tmp/refvenv/bin/python scripts/official_reference.py \
        --reference=/tmp/simclr_ref --output=/tmp/official_ref --data=tests/data/official \
        --variants=r50_1x_sk0,r50_1x_sk1 --tf1

The reference code is imported from `--reference`, never copied into this repository; its run.py
imports tensorflow_datasets only for its input pipeline, so an empty stand-in module is put in
its place.
"""

import base64
import gzip
import hashlib
import json
import lzma
import os
import sys
import types

import numpy as np

SEED = 20260
NUM_IMAGES = 2
NUM_CLASSES = 10
SAMPLES_PER_ENDPOINT = 128

# name -> reference flags. "ft" variants: a fine-tuned model whose supervised head reads
# projection layer 1 (SimCLRv2's `ft_proj_selector=1`).
VARIANTS = {
    "r18_1x_sk0": dict(resnet_depth=18, width_multiplier=1, sk_ratio=0.0),
    "r18_1x_sk1": dict(resnet_depth=18, width_multiplier=1, sk_ratio=0.0625),
    "r50_1x_sk0": dict(resnet_depth=50, width_multiplier=1, sk_ratio=0.0),
    "r50_1x_sk1": dict(resnet_depth=50, width_multiplier=1, sk_ratio=0.0625),
    "r50_1x_sk1_ft": dict(
        resnet_depth=50, width_multiplier=1, sk_ratio=0.0625, train_mode="finetune",
        ft_proj_selector=1,
    ),
    "r50_2x_sk1": dict(resnet_depth=50, width_multiplier=2, sk_ratio=0.0625),
    "r101_1x_sk0": dict(resnet_depth=101, width_multiplier=1, sk_ratio=0.0),
}


# === Seeded values (numpy only: the tests import this part) ===


def kind_of(name):
    """The role of a variable from its (Keras 2 / TF1) name: how `fill` draws its values."""
    name = name.split(":")[0]
    for kind in ("moving_mean", "moving_variance", "gamma", "beta", "kernel", "bias"):
        if name.endswith(kind) or f"/{kind}/" in name:
            return kind
    return "other"


def fill(kind, shape, seed, dtype="float32"):
    """A seeded value for one variable: random everywhere (zeros and ones hide mapping errors).

    Kernels are N(0, 1/fan_in): with moving statistics that do not match the activations, the
    usual He scale (2/fan_in) lets every residual block double the variance, the activations of
    an R50 reach 1e4 by block_group4, and the selective kernels' softmax of such logits turns
    float32 rounding (about 1e-7 relative) into a relative error of several 1e-4 between any two
    implementations of the same network. This scale keeps them of order one, as in a trained
    network, so the comparison measures the mapping, not the conditioning."""
    if dtype.startswith("int"):
        return np.full(shape, seed % 1000, dtype=dtype)
    rng = np.random.default_rng([SEED, seed])
    shape = tuple(shape)
    if kind == "kernel":
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        value = rng.standard_normal(shape) * np.sqrt(1.0 / max(fan_in, 1))
    elif kind in ("gamma", "moving_variance"):
        value = rng.uniform(0.5, 1.5, shape)
    else:  # beta, bias, moving_mean, optimizer slots
        value = rng.standard_normal(shape) * 0.1
    return value.astype(dtype)


def images(image_size, num_images=NUM_IMAGES):
    """The seeded input images in [0, 1]."""
    rng = np.random.default_rng([SEED, 7])
    return rng.uniform(0.0, 1.0, (num_images, image_size, image_size, 3)).astype("float32")


def sample_indices(size, count=SAMPLES_PER_ENDPOINT):
    """Fixed flat indices of one image's endpoint that the summary keeps."""
    rng = np.random.default_rng([SEED, 11, size])
    return np.sort(rng.choice(size, size=min(count, size), replace=False))


def summarize(value):
    """A small record of an endpoint (batch first), float32: `SAMPLES_PER_ENDPOINT` fixed
    elements per image, and for feature maps as many fixed channels' spatial means."""
    value = np.asarray(value, "float32")
    flat = value.reshape(value.shape[0], -1)
    summary = {"samples": flat[:, sample_indices(flat.shape[1])]}
    if value.ndim == 4:
        means = value.mean(axis=(1, 2))
        summary["channel_means"] = means[:, sample_indices(means.shape[1])]
    return summary


def encode(array):
    """float32 array -> [shape, base64 of its bytes] (JSON-friendly, exact)."""
    array = np.ascontiguousarray(array, "<f4")
    return [list(array.shape), base64.b64encode(array.tobytes()).decode()]


def decode(record):
    shape, text = record
    return np.frombuffer(base64.b64decode(text), "<f4").reshape(shape)


def read_record(path):
    """The record `main` writes (`DATA/<variant>.json.gz`)."""
    with gzip.open(path, "rt") as f:
        return json.load(f)


# === The reference (runs in the throwaway Keras 2 environment) ===


def _import_reference(reference):
    """Imports the reference's tf2/run.py, which defines its flags (call before parsing ours)."""
    sys.modules.setdefault("tensorflow_datasets", types.ModuleType("tensorflow_datasets"))
    sys.path.insert(0, os.path.join(reference, "tf2"))
    import run

    return run


def _set_flags(flags_values):
    from absl import flags

    for key, value in flags_values.items():
        setattr(flags.FLAGS, key, value)


def _value_bytes(value):
    return hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()


def _graph_text(path):
    import tensorflow as tf

    reader = tf.train.load_checkpoint(path)
    raw = reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")
    return base64.b64encode(lzma.compress(raw, preset=9)).decode()


def object_graph_bytes(text):
    """The serialized `TrackableObjectGraph` stored by `_graph_text`."""
    return lzma.decompress(base64.b64decode(text))


def _manifest(path, by_hash, graph=True):
    """key -> [shape, dtype, seed, kind] (or [shape, dtype, None, values]) of every tensor in
    the checkpoint at `path`."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(path)
    keys = {}
    for key, shape in sorted(tf.train.list_variables(path)):
        if key == "_CHECKPOINTABLE_OBJECT_GRAPH":
            continue
        value = reader.get_tensor(key)
        seed, kind = by_hash.get(_value_bytes(value), (None, None))
        if seed is None:
            # Not a variable this script assigned (the optimizer's hyperparameters, the
            # SavedModel's saved constants): small, so its value is recorded as it is.
            if value.size > 16:
                raise RuntimeError(f"{path}: {key} holds no value that this script assigned")
            keys[key] = [list(shape), str(value.dtype), None, np.ravel(value).tolist()]
            continue
        keys[key] = [list(shape), str(value.dtype), seed, kind]
    entry = {"keys": keys}
    if graph:
        entry["object_graph"] = _graph_text(path)
    return entry


def build_tf2(run, image_size):
    import tensorflow as tf

    import model as model_lib

    # run.py's tensor names (`resnet/block_group1/...`) need a fresh Keras name scope.
    tf.keras.backend.clear_session()
    model = model_lib.Model(NUM_CLASSES)
    optimizer = model_lib.build_optimizer(0.1)
    global_step = optimizer.iterations
    x = tf.constant(images(image_size))
    with tf.GradientTape() as tape:
        _, logits = model(x, training=True)
        proj = model(x, training=True)[0]
        loss = tf.reduce_sum(logits) + (0.0 if proj is None else tf.reduce_sum(proj))
    grads = tape.gradient(loss, model.trainable_variables)
    pairs = [(g, v) for g, v in zip(grads, model.trainable_variables) if g is not None]
    optimizer.apply_gradients(pairs)  # creates the `Momentum` slots, as a training step does
    by_hash = {}
    seed = 0
    for v in list(model.variables) + list(optimizer.variables()):
        seed += 1
        value = fill(kind_of(v.name), v.shape, seed, v.dtype.name)
        if v.dtype.is_integer:
            value = np.full(v.shape, seed + 1000, v.dtype.name)
        v.assign(value)
        by_hash[_value_bytes(value)] = (seed, kind_of(v.name))
    return model, optimizer, global_step, by_hash


def write_tf2(run, flags_values, out_dir, image_size):
    import tensorflow as tf

    model, optimizer, global_step, by_hash = build_tf2(run, image_size)
    ckpt = tf.train.Checkpoint(model=model, global_step=global_step, optimizer=optimizer)
    manager = tf.train.CheckpointManager(ckpt, os.path.join(out_dir, "checkpoint"), 5)
    ckpt_path = manager.save(1)
    module = run.build_saved_model(model)
    saved = os.path.join(out_dir, "saved_model")
    tf.saved_model.save(module, saved)
    outputs = module(tf.constant(images(image_size)), trainable=False)
    outputs = {k: v.numpy() for k, v in outputs.items()}
    np.savez(os.path.join(out_dir, "reference.npz"), images=images(image_size), **outputs)
    layouts = {
        "checkpoint": _manifest(ckpt_path, by_hash),
        "saved_model": _manifest(os.path.join(saved, "variables", "variables"), by_hash),
    }
    return layouts, outputs


def write_tf1(reference, flags_values, out_dir, image_size, tf2_outputs):
    """The TF1 model (root model_util.py / resnet.py) in a graph; variables named as the TF1
    checkpoints (`base_model/...`, `head_contrastive/...`, `head_supervised/...`)."""
    import tensorflow.compat.v1 as tf

    sys.path.insert(0, reference)
    for name in ("resnet", "model_util", "data_util"):
        sys.modules.pop(name, None)
    import model_util  # noqa: E402
    import resnet as resnet_tf1  # noqa: E402

    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, image_size, image_size, 3])
        with tf.variable_scope("base_model"):
            model = resnet_tf1.resnet_v1(
                resnet_depth=flags_values["resnet_depth"],
                width_multiplier=flags_values["width_multiplier"],
                cifar_stem=image_size <= 32,
            )
            hiddens = model(x, is_training=False)
        hiddens_proj = model_util.projection_head(hiddens, is_training=False)
        logits_sup = model_util.supervised_head(hiddens, NUM_CLASSES, is_training=False)
        variables = tf.global_variables()
        by_hash = {}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for seed, v in enumerate(variables, start=1):
                value = fill(kind_of(v.name), v.shape.as_list(), seed, v.dtype.base_dtype.name)
                v.load(value, sess)
                by_hash[_value_bytes(value)] = (seed, kind_of(v.name))
            # `ema_model/` copies and `Momentum` slots exist in the published files but are
            # never read by the TF1 model: written alongside, with values of their own.
            extra = {}
            seed = len(variables)
            for v in variables:
                base = v.name.split(":")[0]
                for key in (f"{base}/Momentum", f"ema_model/{base}"):
                    seed += 1
                    extra[key] = fill(kind_of(base), v.shape.as_list(), seed)
                    by_hash[_value_bytes(extra[key])] = (seed, kind_of(base))
            path = os.path.join(out_dir, "tf1", "model.ckpt-1")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tf.train.Saver(variables).save(sess, path, write_meta_graph=False)
            fetch = {"final_avg_pool": hiddens, "proj_head_output": hiddens_proj,
                     "logits_sup": logits_sup}
            outputs = sess.run(fetch, {x: images(image_size)})
    _append(path, extra)
    return _manifest(path, by_hash, graph=False), outputs


def _append(path, extra):
    """Adds tensors to a name-based checkpoint (rewrites it with the extra keys)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(path)
    values = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}
    values.update(extra)
    names = sorted(values)
    tf.raw_ops.SaveV2(
        prefix=path, tensor_names=names, shape_and_slices=[""] * len(names),
        tensors=[tf.constant(values[n]) for n in names],
    )


def main(argv):
    from absl import flags

    f = flags.FLAGS
    image_size = f.image_size_ref
    for variant in f.variants:
        flags_values = dict(
            image_size=image_size, train_mode="pretrain", lineareval_while_pretraining=True,
            num_proj_layers=3, proj_out_dim=128, ft_proj_selector=0, global_bn=True,
            fine_tune_after_block=-1, use_blur=False,
        )
        flags_values.update(VARIANTS[variant])
        _set_flags(flags_values)
        run = sys.modules["run"]
        out_dir = os.path.join(f.output, variant)
        os.makedirs(out_dir, exist_ok=True)
        layouts, outputs = write_tf2(run, flags_values, out_dir, image_size)
        record = {
            "variant": variant, "flags": flags_values, "num_classes": NUM_CLASSES,
            "image_size": image_size, "num_images": NUM_IMAGES, "layouts": layouts,
            "outputs": {"tf2": {k: _listed(summarize(v)) for k, v in outputs.items()}},
        }
        # The TF1 code builds no fine-tuned model here, and its basic blocks with sk_ratio > 0
        # fail (resnet.py `residual_block` average-pools the block's input itself, not only
        # the shortcut's: "Dimensions must be equal, 5 and 9"); no such model was published.
        basic_sk = flags_values["resnet_depth"] < 50 and flags_values["sk_ratio"] > 0
        if f.tf1 and flags_values["train_mode"] == "pretrain" and not basic_sk:
            tf1_manifest, tf1_outputs = write_tf1(
                f.reference, flags_values, out_dir, image_size, outputs
            )
            record["layouts"]["tf1"] = tf1_manifest
            record["outputs"]["tf1"] = {k: _listed(summarize(v)) for k, v in tf1_outputs.items()}
            np.savez(os.path.join(out_dir, "reference_tf1.npz"), **tf1_outputs)
        if f.data:
            os.makedirs(f.data, exist_ok=True)
            with gzip.open(os.path.join(f.data, f"{variant}.json.gz"), "wt") as fh:
                json.dump(record, fh, separators=(",", ":"))
        print(variant, "written to", out_dir, flush=True)


def _listed(summary):
    return {k: encode(v) for k, v in summary.items()}


if __name__ == "__main__":
    from absl import app, flags

    _reference = next(
        (a.split("=", 1)[1] for a in sys.argv if a.startswith("--reference=")), "/tmp/simclr_ref"
    )
    _import_reference(_reference)
    flags.DEFINE_string("reference", "/tmp/simclr_ref", "google-research/simclr checkout")
    flags.DEFINE_string("output", "/tmp/official_ref", "where the checkpoints are written")
    flags.DEFINE_string("data", None, "where the small manifests go (tests/data/official)")
    flags.DEFINE_list("variants", ["r50_1x_sk0", "r50_1x_sk1"], f"of {sorted(VARIANTS)}")
    flags.DEFINE_integer("image_size_ref", 65, "input size (odd: exercises the padding)")
    flags.DEFINE_bool("tf1", False, "also the TF1 name-based checkpoint")
    app.run(main)
