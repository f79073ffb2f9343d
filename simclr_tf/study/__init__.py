"""The paper's experiments: `python -m simclr_tf.study --study=NAME --workdir=DIR`.

See docs/study.md. `run_study(study, workdir, budget, dataset)` runs a study's grid of cells
(pretraining + linear evaluation, or the supervised baseline), resuming, and writes
`table.md`, `results.csv` and `figure.png`.
"""

from simclr_tf.study.budgets import BUDGETS
from simclr_tf.study.runner import run_study
from simclr_tf.study.studies import STUDIES, cells_for

__all__ = ["BUDGETS", "STUDIES", "cells_for", "run_study"]
