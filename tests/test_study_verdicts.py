"""The study's computed verdicts: mean ± sd over seeds, the contrast's standard error, and the
rule (reproduced above 2 s.e., opposite below -2 s.e., else not separable)."""

import json

import numpy as np
import pytest

from simclr_tf.study.report import summarize, table_markdown, write_report
from simclr_tf.study.verdicts import NOT_SEPARABLE, OPPOSITE, REPRODUCED, verdicts


def _runs(name, top1s, **params):
    return [dict(name=name, kind="simclr", top1=t, seed=s, **params) for s, t in enumerate(top1s)]


def _head_runs(nonlinear, linear, none):
    return (_runs("none", none, head="none", output_dim="-")
            + _runs("linear-64", linear, head="linear", output_dim=64)
            + _runs("nonlinear-16", [t - 0.05 for t in nonlinear], head="nonlinear", output_dim=16)
            + _runs("nonlinear-64", nonlinear, head="nonlinear", output_dim=64))


def test_summary_is_mean_and_sample_sd():
    rows = summarize(_runs("a", [0.50, 0.54, 0.61], head="linear"))
    assert rows[0]["n"] == 3 and rows[0]["seeds"] == [0, 1, 2]
    np.testing.assert_allclose(rows[0]["top1"], np.mean([0.50, 0.54, 0.61]))
    np.testing.assert_allclose(rows[0]["top1_sd"], np.std([0.50, 0.54, 0.61], ddof=1))


def test_verdicts_follow_the_two_standard_error_rule():
    nonlinear, linear = [0.60, 0.62, 0.64], [0.50, 0.53, 0.56]
    found = {v["finding"]: v for v in verdicts(
        "projection_head", summarize(_head_runs(nonlinear, linear, [0.61, 0.63, 0.62])))}
    versus_linear = found["a nonlinear head beats a linear one (Figure 8)"]
    se = np.sqrt(np.var(nonlinear, ddof=1) / 3 + np.var(linear, ddof=1) / 3)
    np.testing.assert_allclose(versus_linear["contrast"], 100 * (np.mean(nonlinear) - np.mean(linear)))
    np.testing.assert_allclose(versus_linear["standard_error"], 100 * se)
    assert versus_linear["verdict"] == REPRODUCED  # 9.7 points against 2 s.e. = 5.2
    assert versus_linear["cells"] == ["nonlinear-64", "linear-64"]  # each family's best cell
    # 0.0 points apart, well within the noise.
    assert found["a nonlinear head beats no head (Figure 8)"]["verdict"] == NOT_SEPARABLE
    flipped = verdicts("projection_head", summarize(_head_runs(linear, nonlinear, linear)))
    assert flipped[0]["verdict"] == OPPOSITE


def test_a_difference_just_inside_two_standard_errors_is_not_separable():
    # sd 0.02 each, n = 3: s.e. of the difference 0.0163, twice it 0.0327.
    a, b = [0.60, 0.62, 0.64], [0.57, 0.59, 0.61]  # 3.0 points: inside
    found = verdicts("projection_head", summarize(_head_runs(a, b, b)))
    assert found[0]["verdict"] == NOT_SEPARABLE
    a = [0.604, 0.624, 0.644]  # 3.4 points: outside
    assert verdicts("projection_head", summarize(_head_runs(a, b, b)))[0]["verdict"] == REPRODUCED


def test_one_seed_is_never_separable():
    found = verdicts("projection_head", summarize(_head_runs([0.9], [0.1], [0.1])))
    assert {v["verdict"] for v in found} == {NOT_SEPARABLE} and "fewer than 2 seeds" in found[0]["line"]


def test_colour_strength_compares_gains():
    """Table 1's finding is a difference of gains: (SimCLR s=1 - s=1/8) - (supervised ...)."""
    def cell(method, strength, top1s):
        label = strength.replace("/", "over")
        return [dict(r, method=method, strength=strength, kind=method)
                for r in _runs(f"{method}-s{label}", top1s)]
    runs = (cell("simclr", "1/8", [0.40, 0.41, 0.42]) + cell("simclr", "1", [0.50, 0.52, 0.51])
            + cell("supervised", "1/8", [0.70, 0.71, 0.72]) + cell("supervised", "1", [0.70, 0.70, 0.71]))
    (found,) = verdicts("color_strength", summarize(runs))
    np.testing.assert_allclose(found["contrast"], 100 * ((0.51 - 0.41) - (0.703333 - 0.71)), atol=1e-3)
    se = np.sqrt(sum(np.var(v, ddof=1) / 3 for v in (
        [0.40, 0.41, 0.42], [0.50, 0.52, 0.51], [0.70, 0.71, 0.72], [0.70, 0.70, 0.71])))
    np.testing.assert_allclose(found["standard_error"], 100 * se)
    assert found["verdict"] == REPRODUCED and found["weights"] == [1, -1, -1, 1]


@pytest.mark.parametrize("study, runs", [
    ("loss_function", _runs("nt_xent-t0.5", [0.5, 0.52], loss="nt_xent", temperature=0.5)
     + _runs("nt_logistic-t0.5", [0.4, 0.41], loss="nt_logistic", temperature=0.5)
     + _runs("nt_logistic-sh-t0.5", [0.45, 0.44], loss="nt_logistic (sh)", temperature=0.5)
     + _runs("margin_triplet-m0.4", [0.3, 0.33], loss="margin_triplet", margin=0.4)),
    ("temperature", _runs("l2yes-t0.5", [0.5, 0.52], l2_norm=True, temperature=0.5)
     + _runs("l2yes-t1.0", [0.45, 0.46], l2_norm=True, temperature=1.0)
     + _runs("l2no-t10.0", [0.3, 0.31], l2_norm=False, temperature=10.0)),
])
def test_every_finding_names_its_cells(study, runs):
    found = verdicts(study, summarize(runs))
    assert len(found) == 2 and all(v["verdict"] == REPRODUCED for v in found)
    if study == "loss_function":  # NT-Logistic's best is its semi-hard cell
        assert found[0]["cells"] == ["nt_xent-t0.5", "nt_logistic-sh-t0.5"]


def test_report_writes_the_verdicts_and_the_spread(tmp_path):
    runs = _head_runs([0.60, 0.62, 0.64], [0.50, 0.53, 0.56], [0.40, 0.41, 0.42])
    floors = [dict(name="base", kind="random_init", top1=t, seed=s, num_classes=10)
              for s, t in enumerate([0.2, 0.22, 0.21])]
    lines = write_report("projection_head", runs, str(tmp_path), "small", floors=floors)
    assert len(lines) == 2 and all(line.startswith("verdict: ") for line in lines)
    table = (tmp_path / "table.md").read_text()
    assert "| 62.0 ± 2.0 |" in table and "top-1 21.0 ± 1.0 % (n=3); chance 10.0 %" in table
    assert "a nonlinear head beats no head (Figure 8): reproduced" in table
    saved = json.loads((tmp_path / "verdicts.json").read_text())
    assert [v["verdict"] for v in saved] == [REPRODUCED, REPRODUCED]
    assert (tmp_path / "figure.png").stat().st_size > 1000
    assert table == table_markdown("projection_head", summarize(runs), "small", floors,
                                   saved)


def test_learning_curves_average_the_seeds(tmp_path):
    from simclr_tf.study.report import mean_curves

    runs = [dict(r, curve=c) for r, c in zip(
        _runs("a", [0.5, 0.6], head="linear"), ([0.1, 0.2, 0.3], [0.3, 0.4, 0.5]))]
    runs.append(dict(name="sup", kind="supervised", top1=0.7, seed=0, curve=[]))
    (name, (mean, sd)), = mean_curves(runs).items()
    assert name == "a"
    np.testing.assert_allclose(mean, [0.2, 0.3, 0.4])
    np.testing.assert_allclose(sd, np.std([[0.1, 0.2, 0.3], [0.3, 0.4, 0.5]], axis=0, ddof=1))
    write_report("projection_head", runs[:2], str(tmp_path), "small")
    assert (tmp_path / "learning_curves.png").stat().st_size > 1000
