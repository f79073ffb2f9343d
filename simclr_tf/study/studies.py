"""The grids of `python -m simclr_tf.study`: one list of cells per study and budget.

A cell is a dict: `name` (its sub-folder), `kind` ("simclr": pretraining + linear evaluation;
"supervised": the cross-entropy baseline), `overrides` (dotted config keys -> values, applied
to the budget's base config), `params` (the columns that describe it in the tables) and
`projection` (also evaluate g(h), the projection head's output).
"""

from simclr_tf.augment.composed_augment import TRANSFORMS
from simclr_tf.study.budgets import DEFAULT_SEEDS, SMALL_STUDY_OVERRIDES, small_epochs

STUDIES = (
    "augmentation_composition", "color_strength", "projection_head", "loss_function",
    "temperature", "batch_size_epochs", "model_size",
)


def _cell(name, params, overrides, kind="simclr", projection=False):
    return {"name": name, "kind": kind, "params": params, "overrides": overrides,
            "projection": projection}


def augmentation_composition(budget):
    """Figure 5: each transformation alone (diagonal) and each ordered pair, asymmetric.

    Its verdict compares crop's pairs (is colour crop's most important partner?), so the cells
    with crop run every seed; the other 36 run the first seed only (`num_seeds`), to fit the
    budget."""
    transforms = TRANSFORMS if budget != "tiny" else ("crop", "color")
    cells = []
    for first in transforms:
        for second in transforms:
            stages = (first,) if first == second else (first, second)
            cell = _cell(
                f"{first}-{second}", {"first": first, "second": second},
                {"augment.transforms": ",".join(stages), "augment.asymmetric": True},
            )
            if "crop" not in (first, second):
                cell["num_seeds"] = 1
            cells.append(cell)
    return cells


def color_strength(budget):
    """Table 1: colour strength 1/8 .. 1 and 1 + blur, SimCLR and supervised."""
    strengths = [("1/8", 0.125, False), ("1/4", 0.25, False), ("1/2", 0.5, False),
                 ("1", 1.0, False), ("1+blur", 1.0, True)]
    if budget == "tiny":
        strengths = [strengths[0], strengths[4]]
    cells = []
    for kind in ("simclr", "supervised"):
        for label, s, blur in strengths:
            cells.append(_cell(
                f"{kind}-s{label.replace('/', 'over').replace('+', '_')}",
                {"method": kind, "strength": label},
                {"augment.color_jitter_strength": s, "augment.blur": blur}, kind=kind,
            ))
    return cells


def projection_head(budget):
    """Figure 8 (and Table 3's h vs g(h)): no / linear / nonlinear head, output dims."""
    dims = {"tiny": (16,), "small": (16, 64, 256), "paper": (32, 64, 128, 256, 512, 1024, 2048)}[budget]
    # Without a head g(h) = h: one evaluation, not the same one twice.
    cells = [_cell("none", {"head": "none", "output_dim": "-"}, {"model.head_mode": "none"})]
    for mode in ("linear", "nonlinear"):
        for dim in dims:
            cells.append(_cell(
                f"{mode}-{dim}", {"head": mode, "output_dim": dim},
                {"model.head_mode": mode, "model.head_output_dim": dim}, projection=True,
            ))
    return cells


# Margin triplet's margins without / with semi-hard mining. The semi-hard negative is the closest
# one farther than the positive, so its gap to the positive is small (below ~0.75 in practice)
# and every margin above the largest gap gives the same gradient: with mining, 0.8 and 1.6
# coincide. 0 (only anchors without a farther negative learn), 0.2 and 0.8 select different
# anchors (tests/test_study.py checks the gradients differ).
SEMI_HARD_MARGINS = {False: (0.4, 0.8, 1.6), True: (0.0, 0.2, 0.8)}


def loss_function(budget):
    """Table 4: each loss with its own small tuning grid (Appendix B.10's grids, trimmed)."""
    if budget == "tiny":
        grid = [("nt_xent", False, "temperature", 0.5), ("nt_logistic", True, "temperature", 0.5),
                ("margin_triplet", True, "margin", 0.4)]
    else:
        # At `small` (three seeds a cell within the hour) each loss keeps two temperatures or
        # margins, and semi-hard margin triplet its three distinct ones.
        taus = (0.2, 0.5) if budget == "small" else (0.1, 0.2, 0.5)
        logistic_taus = (0.5, 1.0) if budget == "small" else (0.1, 0.5, 1.0)
        grid = [("nt_xent", False, "temperature", t) for t in taus]
        for sh in (False, True):
            grid += [("nt_logistic", sh, "temperature", t) for t in logistic_taus]
            margins = SEMI_HARD_MARGINS[sh]
            if budget == "small" and not sh:
                margins = margins[:2]
            grid += [("margin_triplet", sh, "margin", m) for m in margins]
    cells = []
    for name, sh, key, value in grid:
        loss = name + (" (sh)" if sh else "")
        overrides = {"loss.name": name, "loss.semi_hard": sh}
        overrides[f"loss.{key}"] = value
        cells.append(_cell(
            f"{name}{'-sh' if sh else ''}-{key[0]}{value}", {"loss": loss, key: value}, overrides,
        ))
    return cells


def temperature(budget):
    """Table 5: l2 normalisation yes / no x temperature."""
    grid = [(True, 0.05), (True, 0.1), (True, 0.5), (True, 1.0), (False, 10.0), (False, 100.0)]
    if budget == "tiny":
        grid = [(True, 0.5), (False, 10.0)]
    return [
        _cell(f"l2{'yes' if norm else 'no'}-t{t}", {"l2_norm": norm, "temperature": t},
              {"hidden_norm": norm, "loss.temperature": t})
        for norm, t in grid
    ]


# Batches above this many images train in chunks of it (`model.micro_batch_size`: the exact
# large-batch gradient in bounded memory), so the CPU budgets reach the paper's batch range.
# Batch norm normalises per chunk, so the chunk is the smallest batch of the grid: every cell
# then normalises over the same number of images (ghost batch norm), and only the contrastive
# batch, the number of negatives, varies. (With chunks of 128 the batch-32 cell normalised over
# 32 images and every other cell over 128.)
_MICRO_BATCH = {"tiny": 8, "small": 32, "paper": 0}


def batch_size_epochs(budget, base_epochs=1):
    """Figure 9: batch size x training epochs (large batches in micro-batches off the TPU)."""
    batches = {"tiny": (8, 16), "small": (32, 128, 512, 1024),
               "paper": (256, 512, 1024, 2048, 4096, 8192)}[budget]
    epochs = {"tiny": (1,), "small": (base_epochs, 2 * base_epochs),
              "paper": (100, 200, 400, 800)}[budget]
    micro = _MICRO_BATCH[budget]
    cells = []
    for e in epochs:
        for b in batches:
            overrides = {"batch_size": b, "epochs": e}
            if micro and b > micro:
                overrides["model.micro_batch_size"] = micro
            cells.append(_cell(f"b{b}-e{e}", {"batch_size": b, "epochs": e}, overrides))
    return cells


_SIZES = {"tiny": ((18, 0.0625),),
          "small": ((18, 0.0625), (18, 0.125), (18, 0.25), (34, 0.125)),
          "paper": ((18, 1), (34, 1), (50, 1), (101, 1), (152, 1), (50, 2), (50, 4))}


def model_size(budget):
    """Figure 7: depth and width, SimCLR and supervised."""
    return [
        _cell(f"{kind}-r{d}x{w}", {"method": kind, "depth": d, "width": w},
              {"model.depth": d, "model.width_multiplier": w}, kind=kind)
        for kind in ("simclr", "supervised") for d, w in _SIZES[budget]
    ]


def floors_for(study, budget):
    """The study's floors: its base encoder randomly initialised, or for model_size each of its
    encoder sizes (a wider network's random features are a higher floor)."""
    base = dict(SMALL_STUDY_OVERRIDES.get(study, {})) if budget == "small" else {}
    if study != "model_size":
        return [{"name": "base", "params": {}, "overrides": base}]
    return [{"name": f"r{d}x{w}", "params": {"depth": d, "width": w},
             "overrides": {**base, "model.depth": d, "model.width_multiplier": w}}
            for d, w in _SIZES[budget]]


def num_runs(cells, num_seeds):
    """Runs of a grid: each cell once per seed, up to its own `num_seeds`."""
    return sum(min(c.get("num_seeds") or num_seeds, num_seeds) for c in cells)


def cells_for(study, budget):
    """The study's cells, with the `small` budget's epochs fitted to its hour (every cell at
    each of the budget's seeds, up to its own `num_seeds`)."""
    if study not in STUDIES:
        raise ValueError(f"`study` must be one of {list(STUDIES)}. Received: study={study!r}")
    seeds = len(DEFAULT_SEEDS[budget])
    if study == "batch_size_epochs":
        # 8 cells training E or 2E epochs: 1.5 E on average.
        base = small_epochs(study, num_runs(batch_size_epochs(budget), seeds), 1.5) \
            if budget == "small" else 1
        cells = batch_size_epochs(budget, base)
    else:
        cells = globals()[study](budget)
    if budget == "small":
        epochs = small_epochs(study, num_runs(cells, seeds))
        for cell in cells:
            cell["overrides"] = {**SMALL_STUDY_OVERRIDES.get(study, {}), **cell["overrides"]}
            cell["overrides"].setdefault("epochs", epochs)
            cell["overrides"].setdefault("warmup_epochs", min(1, cell["overrides"]["epochs"] - 1))
    return cells
