"""The authors' published checkpoints by name: where each lives and what it is.

Names follow the buckets' own paths, `simclrv2/finetuned_100pct/r50_1x_sk0`; the same name
with underscores (`simclrv2_finetuned_100pct_r50_1x_sk0`, keras-hub's preset style) is accepted.
The TF2 SavedModels (gs://simclr-checkpoints-tf2) are the default; `.../tf1` names the original
TF1 checkpoint of a SimCLRv2 release (gs://simclr-checkpoints), the only files with the
`ema_model/` copy; `simclrv1/ResNet50_{1,2,4}x` the README's SimCLRv1 zips (gs://simclr-gcs).
Top-1: ImageNet validation, as the authors report it (google-research/simclr README and SimCLRv2
Table 1; SimCLRv1 from the README), not measured here.
"""

import dataclasses
import difflib

TF2_BUCKET = "simclr-checkpoints-tf2"
TF1_BUCKET = "simclr-checkpoints"
ZIP_BUCKET = "simclr-gcs"

ARCHITECTURES = (
    "r50_1x_sk0", "r50_1x_sk1", "r50_2x_sk0", "r50_2x_sk1", "r101_1x_sk0", "r101_1x_sk1",
    "r101_2x_sk0", "r101_2x_sk1", "r152_1x_sk0", "r152_1x_sk1", "r152_2x_sk0", "r152_2x_sk1",
    "r152_3x_sk1",
)
# SimCLRv2 top-1 per architecture: fine-tuned on 1 / 10 / 100 % of the labels, linear
# evaluation (the `pretrained` release's head), supervised.
_V2_TOP1 = dict(zip(ARCHITECTURES, (
    (57.9, 68.4, 76.3, 71.7, 76.6), (64.5, 72.1, 78.7, 74.6, 78.5),
    (66.3, 73.9, 79.1, 75.6, 77.8), (70.6, 77.0, 81.3, 77.7, 79.3),
    (62.1, 71.4, 78.2, 73.6, 78.0), (68.3, 75.1, 80.6, 76.3, 79.6),
    (69.1, 75.8, 80.7, 77.0, 78.9), (73.2, 78.8, 82.4, 79.0, 80.1),
    (64.0, 73.0, 79.3, 74.5, 78.3), (70.0, 76.5, 81.3, 77.2, 79.9),
    (70.2, 76.6, 81.1, 77.4, 79.1), (74.2, 79.4, 82.9, 79.4, 80.4),
    (74.9, 80.1, 83.1, 79.8, 80.5),
)))
# Which projection layer each release's supervised head reads (the reference's
# `ft_proj_selector`): the fine-tuned ones, layer 1 (the README's fine-tuning command); the
# linear head trained while pretraining and the supervised baselines, the encoder (0). None:
# not published (the distilled students); a SavedModel's own function then decides.
_V2_KINDS = {
    "pretrained": (0, 3), "finetuned_1pct": (1, 0), "finetuned_10pct": (1, 1),
    "finetuned_100pct": (1, 2), "supervised": (0, 4), "distill_1pct": (None, None),
    "distill_10pct": (None, None),
}
_V1_TOP1 = {
    "pretrain": {"1x": 69.1, "2x": 74.2, "4x": 76.6},
    "finetune_10pct": {"1x": 65.8, "2x": 71.6, "4x": 74.5},
    "finetune_100pct": {"1x": 75.6, "2x": 79.2, "4x": 80.8},
}


@dataclasses.dataclass(frozen=True)
class Release:
    """One published checkpoint.

    Attributes:
        name: e.g. "simclrv2/finetuned_100pct/r50_1x_sk0".
        bucket: the public GCS bucket.
        prefix: the objects' common prefix in it (a folder, ending in "/"), or for a zip its
            object name.
        format: "saved_model" (TF2), "tf1" (`model.ckpt-N` plus a `hub/` module) or "zip"
            (a TF1 checkpoint and hub module, zipped).
        projection_layer: the layer its supervised head reads, None when unpublished.
        top1: the authors' ImageNet top-1 (%) of its supervised head, None when not reported.
    """

    name: str
    bucket: str
    prefix: str
    format: str
    projection_layer: object
    top1: object

    @property
    def preset(self):
        """The keras-hub style spelling of `name`."""
        return self.name.replace("/", "_")


def _build():
    out = {}
    for arch in ARCHITECTURES:
        for kind, (layer, column) in _V2_KINDS.items():
            top1 = None if column is None else _V2_TOP1[arch][column]
            name = f"simclrv2/{kind}/{arch}"
            out[name] = Release(
                name, TF2_BUCKET, f"{name}/saved_model/", "saved_model", layer, top1
            )
            out[name + "/tf1"] = Release(name + "/tf1", TF1_BUCKET, f"{name}/", "tf1", layer, top1)
    for kind, tops in _V1_TOP1.items():
        for width, top1 in tops.items():
            name = f"simclrv1/{kind}/{width}"
            # SimCLRv1 was published without a trained projection head: its heads read layer 0.
            out[name] = Release(name, TF2_BUCKET, f"{name}/saved_model/", "saved_model", 0, top1)
    for width, top1 in (("1x", 69.1), ("2x", 74.2), ("4x", 76.6)):
        # The README's SimCLRv1 downloads: a zip of the TF1 checkpoint and its hub module.
        name = f"simclrv1/ResNet50_{width}"
        out[name] = Release(name, ZIP_BUCKET, f"checkpoints/ResNet50_{width}.zip", "zip", 0, top1)
    return out


RELEASES = _build()
_PRESETS = {r.preset: r for r in RELEASES.values()}


def find(name):
    """The `Release` called `name` (path or preset spelling), or None."""
    if not isinstance(name, str):
        return None
    key = name.strip().strip("/")
    return RELEASES.get(key) or _PRESETS.get(key)


def looks_like_name(text):
    """True for strings shaped like a release name (`simclrv1/...`, `simclrv2_...`)."""
    return isinstance(text, str) and text.strip().startswith(("simclrv1", "simclrv2"))


def get(name):
    """The `Release` called `name`; a ValueError suggests the closest names otherwise."""
    release = find(name)
    if release is None:
        close = difflib.get_close_matches(str(name), list(RELEASES) + list(_PRESETS), n=3)
        raise ValueError(
            f"Unknown published checkpoint {name!r}. Names are "
            "simclrv2/{pretrained,finetuned_1pct,finetuned_10pct,finetuned_100pct,supervised,"
            "distill_1pct,distill_10pct}/r{50,101,152}_{1,2}x_sk{0,1} (and r152_3x_sk1), with "
            "'/tf1' for the TF1 checkpoint, simclrv1/{pretrain,finetune_10pct,"
            f"finetune_100pct}}/{{1x,2x,4x}} or simclrv1/ResNet50_{{1x,2x,4x}} (the zips); see "
            f"docs/official_weights.md. Closest: {close}"
        )
    return release


def projection_layer_table():
    """A short text of the published releases' projection layers, for error messages."""
    return (
        "simclrv2/pretrained/* and simclrv2/supervised/*: 0 (the encoder output); "
        "simclrv2/finetuned_{1,10,100}pct/*: 1; simclrv1/*: 0 (no projection head); "
        "simclrv2/distill_*: not published"
    )
