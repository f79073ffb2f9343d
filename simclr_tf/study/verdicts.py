"""Each study's findings, checked against its cells: *reproduced*, *opposite* or *not separable*.

A finding is a contrast between cells, a weighted sum of their mean top-1 (`+1 a, -1 b`: a
beats b; Table 1's gain minus gain: four cells). Where the paper compares families (NT-Xent
against NT-Logistic), each family is represented by its best cell (highest mean), as the paper
reports each loss at its best setting. The contrast's standard error is
`sqrt(sum w_i^2 sd_i^2 / n_i)` over the seeds of each cell; the finding counts as reproduced only
when the contrast exceeds twice it, as its opposite when it is below minus twice it, and as not
separable otherwise (or when a cell has fewer than two seeds). Nothing here is written by hand:
the command computes each line from the runs.
"""

import math

REPRODUCED, OPPOSITE, NOT_SEPARABLE = "reproduced", "opposite", "not separable"


def _pick(rows, **params):
    return [r for r in rows if all(str(r.get(k)) == str(v) for k, v in params.items())]


def _best(rows):
    return max(rows, key=lambda r: r["top1"]) if rows else None


def _findings(study, rows):
    """[(finding, [(weight, row), ...])] for the cells present; a missing cell drops its finding."""
    out = []

    def add(text, *terms):
        if all(row is not None for _, row in terms):
            out.append((text, list(terms)))

    if study == "augmentation_composition":
        partners = [r for r in rows if "crop" in (r["first"], r["second"])
                    and r["first"] != r["second"] and "color" not in (r["first"], r["second"])]
        colour = _pick(rows, first="crop", second="color")
        add("colour is crop's most important partner (Figure 5)",
            (1, colour[0] if colour else None), (-1, _best(partners)))
    elif study == "color_strength":
        def cell(method, strength):
            found = _pick(rows, method=method, strength=strength)
            return found[0] if found else None
        add("stronger colour distortion (1 vs 1/8) helps SimCLR more than supervised (Table 1)",
            (1, cell("simclr", "1")), (-1, cell("simclr", "1/8")),
            (-1, cell("supervised", "1")), (1, cell("supervised", "1/8")))
    elif study == "projection_head":
        nonlinear = _best(_pick(rows, head="nonlinear"))
        add("a nonlinear head beats a linear one (Figure 8)",
            (1, nonlinear), (-1, _best(_pick(rows, head="linear"))))
        add("a nonlinear head beats no head (Figure 8)",
            (1, nonlinear), (-1, _best(_pick(rows, head="none"))))
    elif study == "loss_function":
        xent = _best([r for r in rows if r["loss"] == "nt_xent"])
        for other in ("nt_logistic", "margin_triplet"):
            add(f"NT-Xent beats {other}, with or without semi-hard mining (Table 4)",
                (1, xent), (-1, _best([r for r in rows if r["loss"].startswith(other)])))
    elif study == "temperature":
        moderate = _best([r for r in rows if str(r["l2_norm"]) == "True"
                          and 0.1 <= float(r["temperature"]) <= 0.5])
        add("l2 normalisation with a moderate tau (0.1-0.5) beats no normalisation (Table 5)",
            (1, moderate), (-1, _best(_pick(rows, l2_norm=False))))
        add("a moderate tau (0.1-0.5) beats tau 1 with l2 normalisation (Table 5)",
            (1, moderate), (-1, _best(_pick(rows, l2_norm=True, temperature=1.0))))
    elif study == "batch_size_epochs":
        epochs = sorted({int(r["epochs"]) for r in rows})
        batches = sorted({int(r["batch_size"]) for r in rows})
        if len(epochs) > 1:
            add(f"training longer ({epochs[-1]} vs {epochs[0]} epochs) helps at batch 128 "
                "(Figure 9)",
                (1, _best(_pick(rows, batch_size=128, epochs=epochs[-1]))),
                (-1, _best(_pick(rows, batch_size=128, epochs=epochs[0]))))
        if len(batches) > 1:
            add(f"a larger batch ({batches[-1]} vs {batches[0]}) helps when training is short "
                "(Figure 9)",
                (1, _best(_pick(rows, batch_size=batches[-1], epochs=epochs[0]))),
                (-1, _best(_pick(rows, batch_size=batches[0], epochs=epochs[0]))))
    elif study == "model_size":
        sizes = sorted({(int(r["depth"]), float(r["width"])) for r in rows},
                       key=lambda s: s[0] * s[1] ** 2)
        if len(sizes) > 1:
            (d0, w0), (d1, w1) = sizes[0], sizes[-1]

            def cell(method, depth, width):
                found = [r for r in _pick(rows, method=method, depth=depth)
                         if float(r["width"]) == width]
                return found[0] if found else None
            add(f"a bigger encoder (R{d1}x{w1} vs R{d0}x{w0}) helps SimCLR more than supervised "
                "(Figure 7)",
                (1, cell("simclr", d1, w1)), (-1, cell("simclr", d0, w0)),
                (-1, cell("supervised", d1, w1)), (1, cell("supervised", d0, w0)))
    return out


def judge(terms):
    """(contrast, standard error, verdict) of [(weight, row)] rows with top1, top1_sd, n."""
    contrast = sum(w * r["top1"] for w, r in terms)
    if any(r["n"] < 2 for _, r in terms):
        return contrast, float("nan"), NOT_SEPARABLE
    se = math.sqrt(sum(w * w * r["top1_sd"] ** 2 / r["n"] for w, r in terms))
    if contrast > 2 * se:
        return contrast, se, REPRODUCED
    if contrast < -2 * se:
        return contrast, se, OPPOSITE
    return contrast, se, NOT_SEPARABLE


def verdicts(study, rows):
    """One dict per finding the study's cells allow: `finding`, `cells`, `contrast` and
    `standard_error` (in top-1 points), `verdict`, and `line`, the sentence the command prints."""
    out = []
    for finding, terms in _findings(study, rows):
        contrast, se, verdict = judge(terms)
        cells = ", ".join(f"{'+' if w > 0 else '-'}{r['name']} {100 * r['top1']:.1f}"
                          f" ± {100 * r['top1_sd']:.1f} (n={r['n']})" for w, r in terms)
        margin = "fewer than 2 seeds" if math.isnan(se) else f"2 s.e. = {200 * se:.1f}"
        out.append({
            "finding": finding, "cells": [r["name"] for _, r in terms],
            "weights": [w for w, _ in terms], "contrast": 100 * contrast,
            "standard_error": 100 * se, "verdict": verdict,
            "line": f"{finding}: {verdict} (contrast {100 * contrast:+.1f} points, {margin}; "
                    f"{cells})",
        })
    return out
