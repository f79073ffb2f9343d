r"""Converts a google-research/simclr checkpoint into this package's formats.

    python -m simclr_tf.convert --checkpoint=NAME_OR_PATH --output=DIR [--image_size=224] \
        [--from_projection_layer=0|1] [--weights=model|ema] \
        [--outputs=simclr,classifier_saved_model]

NAME_OR_PATH: a published name (`simclrv2/finetuned_100pct/r50_1x_sk0`, downloaded into the
cache once, see docs/official_weights.md), a published TF2 SavedModel folder, a TF2 `run.py`
checkpoint (`ckpt-N` or its folder) or a TF1 one (`model.ckpt-N`); any `tf.io.gfile` path.
Writes to DIR, one copy of each artefact asked for in `--outputs` (default: `simclr` plus
`classifier_saved_model`, or `encoder_saved_model` when the checkpoint has no supervised head):

- `simclr`: `simclr.keras`, a `simclr_tf.SimCLR` (encoder, projection head, default
  augmentation), which `--config.eval.checkpoint=DIR/simclr.keras` (or `=DIR`) reads in
  linear_eval, finetune and distill;
- `classifier`: `classifier.keras`, the supervised head as a `simclr_tf.Classifier` (e.g. for
  `--config.distill.teacher`);
- `classifier_saved_model`: `export/classifier/1/`, the classifier for serving
  (`simclr_tf.official.export_classifier`: uint8 or encoded images in, logits and top-5 out);
- `encoder_saved_model`: `export/encoder/1/`, the encoder SavedModel of
  `simclr_tf.export_encoder`;
- always `official.json`: what was found, the self-check's errors and the written paths.

Each artefact holds the whole encoder (4 x 3.2 GB for ResNet-152 3x SK), hence the choice.
When the input is a SavedModel, the converted model is first compared with the SavedModel's own
function on random images; above 1e-4 relative error on any endpoint nothing is written.
"""

import json
import os

from absl import app, flags

from simclr_tf.export import export_encoder, save_keras
from simclr_tf.official import describe, load_official, selfcheck, serving

FLAGS = flags.FLAGS

SIMCLR_FILE = "simclr.keras"
CLASSIFIER_FILE = "classifier.keras"
INFO_FILE = "official.json"
OUTPUTS = ("simclr", "classifier", "classifier_saved_model", "encoder_saved_model")


def convert(
    checkpoint,
    output,
    image_size=224,
    from_projection_layer=None,
    overwrite=False,
    weights="model",
    outputs=None,
    self_check=True,
    class_names=True,
    cache_dir=None,
):
    """Loads `checkpoint` with `load_official`, self-checks it, writes the `outputs`.

    Args:
        checkpoint, image_size, from_projection_layer, weights, cache_dir: as `load_official`.
        output: the output folder.
        overwrite: replace existing files.
        outputs: a subset of `OUTPUTS`; None: the default of the module doc.
        self_check: compare with a SavedModel's own function (a ValueError above 1e-4).
        class_names: let the classifier SavedModel fetch Keras' readable ImageNet names once.

    Returns:
        The `OfficialModel`'s `info` dict, with "self_check" (endpoint -> relative error, or
        None when the input has no function) and the written paths under "files".
    """
    if outputs is not None:  # checked before the (long) load
        outputs = [outputs] if isinstance(outputs, str) else list(outputs)
        if not outputs or set(outputs) - set(OUTPUTS):
            raise ValueError(
                f"`outputs` must be a non-empty subset of {OUTPUTS}. Received: outputs={outputs}"
            )
    official = load_official(
        checkpoint, image_size=image_size, from_projection_layer=from_projection_layer,
        weights=weights, cache_dir=cache_dir,
    )
    has_classifier = official.classifier is not None
    if outputs is None:
        outputs = ["simclr", "classifier_saved_model" if has_classifier else "encoder_saved_model"]
    if not has_classifier and {"classifier", "classifier_saved_model"} & set(outputs):
        raise ValueError(
            f"{official.info['source']!r} has no supervised head: it cannot give a classifier. "
            f"Received: outputs={outputs}"
        )
    info = dict(official.info, self_check=None)
    if self_check and official.info.get("saved_model"):
        info["self_check"] = selfcheck.self_check(official, official.info["saved_model"])

    files = {}
    if "simclr" in outputs:
        files["simclr"] = save_keras(
            official.simclr(), os.path.join(output, SIMCLR_FILE), overwrite=overwrite
        )
    if "classifier" in outputs:
        files["classifier"] = save_keras(
            official.classifier, os.path.join(output, CLASSIFIER_FILE), overwrite=overwrite
        )
    if "classifier_saved_model" in outputs:
        names, why = (None, "not asked for")
        if official.classifier.num_classes == 1000:
            names, why = serving.imagenet_names(fetch=class_names)
        info["class_names"] = "keras imagenet_class_index" if names else f"none: {why}"
        files["classifier_saved_model"] = serving.export_classifier(
            official.classifier, os.path.join(output, "export", "classifier", "1"),
            class_names=names, overwrite=overwrite,
        )
    if "encoder_saved_model" in outputs:
        files["encoder_saved_model"] = export_encoder(
            official.encoder, os.path.join(output, "export", "encoder", "1"),
            image_size=image_size, overwrite=overwrite,
        )
    info["files"] = {k: os.fspath(v) for k, v in files.items()}
    with open(os.path.join(output, INFO_FILE), "w") as f:
        json.dump(info, f, indent=2)
    return info


def main(argv):
    del argv
    layer = FLAGS.from_projection_layer
    info = convert(
        FLAGS.checkpoint,
        FLAGS.output,
        image_size=FLAGS.image_size,
        from_projection_layer=None if layer < 0 else layer,
        overwrite=FLAGS.overwrite,
        weights=FLAGS.weights,
        outputs=FLAGS.outputs or None,
        self_check=FLAGS.self_check,
        class_names=FLAGS.class_names,
        cache_dir=FLAGS.cache_dir,
    )
    print(describe(info))
    if info["self_check"] is None:
        print("self-check: none (the input is not a SavedModel with its own function)")
    else:
        print(f"self-check passed, max relative error per endpoint: "
              f"{selfcheck.format_errors(info['self_check'])}")
    if "class_names" in info:  # e.g. "none: could not read or fetch ..." without network
        print(f"readable class names: {info['class_names']}")
    for name, path in info["files"].items():
        print(f"  {name}: {path}")


if __name__ == "__main__":
    flags.DEFINE_string("checkpoint", None, "a published name or a checkpoint path")
    flags.DEFINE_string("output", None, "the output folder")
    flags.DEFINE_integer("image_size", 224, "input size of the evaluation transform")
    flags.DEFINE_integer(
        "from_projection_layer", -1,
        "projection layer the supervised head reads; -1: decided from the files",
    )
    flags.DEFINE_enum("weights", "model", ["model", "ema"], "which copy of a TF1 checkpoint")
    flags.DEFINE_list("outputs", [], f"artefacts to write, of {','.join(OUTPUTS)}")
    flags.DEFINE_bool("self_check", True, "compare with a SavedModel's own function")
    flags.DEFINE_bool("class_names", True, "fetch Keras' readable ImageNet names once")
    flags.DEFINE_string("cache_dir", None, "download cache for names (default: Keras' cache)")
    flags.DEFINE_bool("overwrite", False, "replace existing output files")
    flags.mark_flags_as_required(["checkpoint", "output"])
    app.run(main)
