"""The study command.

    python -m simclr_tf.study --study=NAME --workdir=DIR [--dataset=NAME] [--budget=small]
        [--seeds=0,1,2]

Studies (each named after the paper's table or figure): augmentation_composition (Figure 5),
color_strength (Table 1), projection_head (Figure 8), loss_function (Table 4), temperature
(Table 5), batch_size_epochs (Figure 9), model_size (Figure 7). Re-running resumes: finished
runs are skipped. Writes DIR/table.md (with the verdicts it computes), DIR/verdicts.json,
DIR/results.csv, DIR/figure.png and one folder per cell and seed under DIR/cells/. See
docs/study.md.
"""

import tensorflow as tf
from absl import app, flags

from simclr_tf import train  # defines --workdir (and --config, unused here), shared
from simclr_tf.study.budgets import BUDGETS
from simclr_tf.study.runner import run_study
from simclr_tf.study.studies import STUDIES

_WORKDIR = train._WORKDIR
_STUDY = flags.DEFINE_enum("study", None, list(STUDIES), "The study to run.")
_DATASET = flags.DEFINE_string("dataset", None, "Any dataset name the training command takes "
                               "(default: colour_shapes for tiny/small, imagenet2012 for paper).")
_BUDGET = flags.DEFINE_enum("budget", "small", list(BUDGETS), "tiny (tests), small (up to an hour "
                            "per study on 2 CPU cores) or paper (the paper's settings).")
_SEEDS = flags.DEFINE_list("seeds", None, "Seeds of every cell (default: 0,1,2 at small, 0 "
                           "otherwise); the verdicts need at least two.")


def main(argv):
    del argv
    tf.get_logger().setLevel("ERROR")
    if not _STUDY.value or not _WORKDIR.value:
        raise app.UsageError("Both --study and --workdir are required.")
    try:
        seeds = None if _SEEDS.value is None else [int(s) for s in _SEEDS.value]
    except ValueError as e:
        raise app.UsageError(f"--seeds must be comma-separated integers: {e}") from e
    run_study(_STUDY.value, _WORKDIR.value, _BUDGET.value, _DATASET.value, seeds,
              log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    app.run(main)
