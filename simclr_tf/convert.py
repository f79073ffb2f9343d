r"""Converts a google-research/simclr checkpoint into this package's formats.

    python -m simclr_tf.convert --checkpoint=PATH --output=DIR [--image_size=224] \
        [--from_projection_layer=0|1]

PATH: a published TF2 SavedModel folder (e.g. a copy of
gs://simclr-checkpoints-tf2/simclrv2/pretrained/r50_1x_sk0/saved_model), a TF2 `run.py`
checkpoint (`ckpt-N` or its folder) or a TF1 one (`model.ckpt-N`); any `tf.io.gfile` path.
Writes to DIR:

- `simclr.keras`: a `simclr_tf.SimCLR` (encoder, projection head, default augmentation), which
  `--config.eval.checkpoint=DIR/simclr.keras` (or `=DIR`) reads in linear_eval, finetune and
  distill;
- `classifier.keras`: the supervised head as a `simclr_tf.Classifier` (when the checkpoint has
  one; evaluation transform: centre crop 0.875, bicubic resize to `image_size`);
- `export/encoder/1/`: the encoder SavedModel of `simclr_tf.export_encoder`;
- `official.json`: what was found (format, architecture, classes, tensors loaded / ignored).

It prints what it found. See docs/official_weights.md.
"""

import json
import os

from absl import app, flags

FLAGS = flags.FLAGS

SIMCLR_FILE = "simclr.keras"
CLASSIFIER_FILE = "classifier.keras"
INFO_FILE = "official.json"


def convert(checkpoint, output, image_size=224, from_projection_layer=None, overwrite=False):
    """Loads `checkpoint` with `load_official` and writes the files listed in the module doc.

    Returns:
        The `OfficialModel`'s `info` dict, with the written paths under "files".
    """
    from simclr_tf.export import export_encoder, save_keras
    from simclr_tf.official import load_official

    official = load_official(
        checkpoint, image_size=image_size, from_projection_layer=from_projection_layer
    )
    files = {"simclr": save_keras(
        official.simclr(), os.path.join(output, SIMCLR_FILE), overwrite=overwrite
    )}
    if official.classifier is not None:
        files["classifier"] = save_keras(
            official.classifier, os.path.join(output, CLASSIFIER_FILE), overwrite=overwrite
        )
    files["encoder_saved_model"] = export_encoder(
        official.encoder,
        os.path.join(output, "export", "encoder", "1"),
        image_size=image_size,
        overwrite=overwrite,
    )
    info = dict(official.info, files={k: os.fspath(v) for k, v in files.items()})
    with open(os.path.join(output, INFO_FILE), "w") as f:
        json.dump(info, f, indent=2)
    return info


def main(argv):
    del argv
    from simclr_tf.official import describe

    layer = FLAGS.from_projection_layer
    info = convert(
        FLAGS.checkpoint,
        FLAGS.output,
        image_size=FLAGS.image_size,
        from_projection_layer=None if layer < 0 else layer,
        overwrite=FLAGS.overwrite,
    )
    print(describe(info))
    for name, path in info["files"].items():
        print(f"  {name}: {path}")


if __name__ == "__main__":
    flags.DEFINE_string("checkpoint", None, "the official checkpoint (see the module doc)")
    flags.DEFINE_string("output", None, "the output folder")
    flags.DEFINE_integer("image_size", 224, "input size of the evaluation transform")
    flags.DEFINE_integer(
        "from_projection_layer", -1,
        "projection layer the supervised head reads; -1: 1 for finetuned_*/distill_* paths, "
        "else 0",
    )
    flags.DEFINE_bool("overwrite", False, "replace existing output files")
    flags.mark_flags_as_required(["checkpoint", "output"])
    app.run(main)
