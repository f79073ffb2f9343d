"""The three budgets of `python -m simclr_tf.study`: base configs every cell starts from.

- `paper`: the paper's default setting (Section 2.3 / Appendix B.6): ImageNet, ResNet-50,
  batch 4096, 100 epochs, LARS at 0.3 x B / 256, weight decay 1e-6, tau 0.1, 2-layer head to
  128-d, 90 epochs of linear evaluation as the reference's (`tf_configs/imagenet_linear_eval.py`).
  For a TPU user; never run here.
- `small`: what fits up to an hour per study on a 2-core CPU, three seeds per cell (see
  docs/study.md for how it was sized): `tinted_fashion_mnist` at 28 px, ResNet-18 at width 1/8
  with the CIFAR stem, batch 128, tau 0.2. The epochs per cell follow from the study's number of
  runs (cells x seeds, `small_epochs`).
- `tiny`: seconds per cell, for the tests: 16 px, 64 training images, one epoch.
"""

from simclr_tf.config import default_config

BUDGETS = ("tiny", "small", "paper")
# Seeds per cell: at `small` every cell a verdict compares runs three times, so a verdict can
# tell a difference from seed noise (simclr_tf.study.verdicts).
DEFAULT_SEEDS = {"tiny": (0,), "small": (0, 1, 2), "paper": (0,)}
DEFAULT_DATASET = {"tiny": "colour_shapes", "small": "tinted_fashion_mnist",
                   "paper": "imagenet2012"}

# The small setting's costs on the project's 2-core CPU with the study alone on it (see
# docs/study.md, "How `small` is sized"): one pretraining epoch of 10,000 images (78 steps of
# batch 128, two views, ResNet-18/8 at 28 px), and a run's fixed cost (tracing, features of
# 12,000 images, one or two linear classifiers).
SMALL_SECONDS_PER_EPOCH = 14.0
SMALL_SECONDS_PER_CELL = 25.0
# Up to an hour per study on 2 cores, every cell a verdict compares at three seeds.
SMALL_BUDGET_SECONDS = 3600.0
# Per study: (cost of an epoch, cost of a run) relative to the two figures above.
# augmentation_composition has 49 cells: it runs at 16 px (a third of the pixels; assumed a
# third of the epoch cost and half the run cost). model_size's encoders are 1.6x the base on
# average (parameters of its four sizes). batch_size_epochs' batches run in micro-batches of 32
# (ghost batch norm), assumed 1.3x the epoch cost.
SMALL_COST_WEIGHTS = {"augmentation_composition": (0.35, 0.5), "model_size": (1.6, 1.0),
                      "batch_size_epochs": (1.3, 1.0)}
SMALL_STUDY_OVERRIDES = {"augmentation_composition": {"image_size": 16}}


def small_costs(study):
    """(seconds per pretraining epoch, seconds per run) of `study` at the small budget."""
    epoch_weight, cell_weight = SMALL_COST_WEIGHTS.get(study, (1.0, 1.0))
    return SMALL_SECONDS_PER_EPOCH * epoch_weight, SMALL_SECONDS_PER_CELL * cell_weight


def small_epochs(study, num_runs, epochs_per_cell=1.0):
    """Pretraining epochs E so that `num_runs` runs (cells x seeds) fit the budget (at least 1);
    a run trains `epochs_per_cell * E` epochs on average (batch_size_epochs: 1.5)."""
    epoch_s, cell_s = small_costs(study)
    per_run = SMALL_BUDGET_SECONDS / num_runs - cell_s
    return max(1, int(per_run / (epoch_s * epochs_per_cell)))


def base_config(budget, dataset=None, seed=0):
    """The config every cell of a study starts from, before the cell's own overrides."""
    if budget not in BUDGETS:
        raise ValueError(f"`budget` must be one of {list(BUDGETS)}. Received: budget={budget!r}")
    c = default_config()
    c.dataset = dataset or DEFAULT_DATASET[budget]
    c.seed = seed
    c.model.probe = False  # the study's own linear evaluation measures every cell
    c.knn_every_epochs = 0
    c.log_images = False
    c.export = False
    c.keep_checkpoints = 1
    c.study_eval_examples = 0  # 0: every example of both splits; N: the first N of each
    if budget == "paper":
        c.train_split, c.eval_split = "train", "validation"
        c.model.head_num_layers = 2  # SimCLR v1
        c.batch_size = 4096
        c.epochs = 100
        c.loss.temperature = 0.1
        c.optimizer.weight_decay = 1e-6
        # Linear evaluation as the reference's (tf_configs/imagenet_linear_eval.py): the frozen
        # encoder trained through on random crops, not cached features.
        c.eval.augment = True
        c.eval.knn = False
        c.eval.epochs = 90
        c.eval.batch_size = 4096
        c.eval.optimizer = "momentum"
        c.eval.momentum = 0.9
        c.eval.base_learning_rate = 0.1
        c.eval.learning_rate_scaling = "linear"
        c.eval.weight_decay = 1e-6
        c.eval.warmup_epochs = 0
        return c
    c.train_split, c.eval_split = "train", "test"
    c.model.depth = 18
    c.model.cifar_stem = True
    c.model.head_num_layers = 2
    c.model.head_output_dim = 64
    c.augment.color_jitter_strength = 1.0
    c.augment.blur = False
    # The reference's kernel rule gives radius 0 (no blur) below 20 px: at 16 px a cell that
    # names blur would test nothing. A 3-tap kernel at least is what blur means here.
    c.augment.blur_min_radius = 1
    c.loss.temperature = 0.5
    c.optimizer.base_learning_rate = 1.0
    c.optimizer.weight_decay = 1e-4
    c.eval.epochs = 30
    c.eval.batch_size = 256
    c.eval.standardize_features = True
    if budget == "small":
        c.image_size = 28  # tinted_fashion_mnist's own size
        c.model.width_multiplier = 0.125
        c.batch_size = 128
        # At batch 128 tau 0.2 learned faster than the CIFAR command's 0.5 (docs/study.md).
        c.loss.temperature = 0.2
        c.epochs = 4  # replaced per study by `small_epochs`
        c.warmup_epochs = 1
        return c
    # tiny
    c.image_size = 16
    c.model.width_multiplier = 0.0625
    c.model.head_output_dim = 16
    c.batch_size = 16
    c.num_train_examples = 64
    c.epochs = 1
    c.warmup_epochs = 0
    c.eval.epochs = 2
    c.study_eval_examples = 64
    return c


def paper_linear_eval(config):
    """The `linear_eval` mode's config for a cell's pretraining config (its `eval` block holds
    the protocol; `eval.checkpoint` is set by the caller)."""
    eval_config = config.copy_and_resolve_references()
    eval_config.mode = "linear_eval"
    return eval_config

