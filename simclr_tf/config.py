"""The experiment config schema: every key a `tf_configs/*.py` file may set.

Configs hold primary values only (batch size, base learning rate, epochs); the training command
derives the rest in code (`resolve`), so overriding `--config.batch_size` never leaves a stale
learning rate or step count behind.
"""

import ml_collections
from absl import logging

from simclr_tf.optimizers.l2 import OPTIMIZERS
from simclr_tf.optimizers.schedules import check_warmup, scale_learning_rate, steps_from_epochs


def default_config():
    """All keys with the reference implementation's defaults (ImageNet-style SimCLR v2)."""
    c = ml_collections.ConfigDict()
    c.mode = "pretrain"  # pretrain | supervised | linear_eval | finetune | distill

    # === Data ===
    # `embedded_fashion_mnist`, a tfds name (`cifar10`, `imagenet2012`, ...) or `dir:/path`.
    c.dataset = "imagenet2012"
    c.train_split = "train"
    c.eval_split = "validation"
    c.image_size = 224  # size of the views (and of the host-side resize)
    c.batch_size = 4096  # global batch, over all replicas
    c.num_train_examples = 0  # 0: read from the dataset
    c.cache = False
    c.data_dir = ""
    # How images are read (the keys above, older, stay at the top level).
    c.data = ml_collections.ConfigDict()
    # Image folders: False stops at a corrupt or unreadable file with an error naming it; True
    # skips each such file and logs it (WARNING, with a running count).
    c.data.skip_corrupt = False
    # Images of several sizes (folders, imagenet2012): the side of the canvas they are decoded
    # into at native resolution. None: 16/7 of image_size (512 for 224); 0: the host resizes
    # each image's centred square to image_size instead (less memory, edges never seen).
    c.data.canvas_size = ml_collections.config_dict.placeholder(int)

    # === Model ===
    c.model = ml_collections.ConfigDict()
    c.model.depth = 50
    c.model.width_multiplier = 1.0
    c.model.sk_ratio = 0.0
    c.model.se_ratio = 0.0
    # None: the reference's rule, the CIFAR stem (3x3 stride-1 conv, no max-pool) when
    # image_size <= 32; True / False force it.
    c.model.cifar_stem = ml_collections.config_dict.placeholder(bool)
    c.model.head_mode = "nonlinear"
    c.model.head_num_layers = 3
    c.model.head_output_dim = 128
    c.model.synchronized_batch_norm = True  # global BN when there are several replicas
    c.model.probe = True  # online linear probe when the data has labels
    c.model.probe_from_projection_layer = 0
    # 0: off; else the exact gradient in chunks of this many images per replica (gradient
    # caching, docs/large_batches.md): batches beyond memory for one extra forward pass.
    c.model.micro_batch_size = 0

    # === Augmentation ===
    c.augment = ml_collections.ConfigDict()
    c.augment.color_jitter_strength = 1.0
    c.augment.blur = True
    c.augment.brightness_mode = "simclrv2"
    # The blur kernel's smallest radius: 0 keeps the reference's rule alone (radius
    # (size // 10) // 2, which is 0, no blur, below 20 px); the study's small budgets set 1.
    c.augment.blur_min_radius = 0
    # Non-empty: a `ComposedAugment` of these comma-separated stages in this order (crop,
    # cutout, color, sobel, noise, blur, rotate) instead of the SimCLR pipeline above;
    # `asymmetric` applies them to one view only (paper Figure 5; see docs/study.md).
    c.augment.transforms = ""
    c.augment.asymmetric = False

    # === Objective and optimiser ===
    c.hidden_norm = True
    # The contrastive loss (paper Table 2 / 4): nt_xent | nt_logistic | margin_triplet;
    # `semi_hard` (the latter two) and `margin` (margin_triplet) are ignored by nt_xent.
    c.loss = ml_collections.ConfigDict()
    c.loss.name = "nt_xent"
    c.loss.temperature = 0.1  # tau of every loss (margin_triplet: its logged metrics only)
    c.loss.semi_hard = False
    c.loss.margin = 0.4
    # Deprecated: the former place of `loss.temperature`, still read (`apply_deprecated_keys`:
    # a value set here moves there, with a warning). Unset (None) in new configs.
    c.temperature = ml_collections.config_dict.placeholder(float)
    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "lars"  # lars | momentum (Nesterov) | adam: simclr_tf.optimizers
    c.optimizer.base_learning_rate = 0.3
    c.optimizer.learning_rate_scaling = "linear"  # linear (x B/256) | sqrt (x sqrt(B))
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = 1e-6
    c.epochs = 100
    c.warmup_epochs = 10

    # === Runtime ===
    c.precision = "float32"  # float32 | mixed_bfloat16 | mixed_float16
    c.jit_compile = False
    c.steps_per_execution = 1
    c.seed = 0
    c.tpu = ""  # "" auto-detect, "local" for Colab TPU VMs, or a TPU name

    # === Monitoring and checkpoints ===
    c.checkpoint_every_epochs = 1
    c.keep_checkpoints = 3
    c.knn_every_epochs = 0  # 0: off
    c.knn_num_examples = 2000
    c.log_images = True
    c.export = True

    # === Evaluation (linear_eval / finetune / distill modes, and the demo's report) ===
    c.eval = ml_collections.ConfigDict()
    c.eval.epochs = 90
    c.eval.batch_size = 256
    c.eval.base_learning_rate = 0.1
    c.eval.weight_decay = 0.0
    c.eval.compare_baselines = False  # also evaluate a random-init encoder and raw pixels
    c.eval.max_examples = 0  # the report's linear evaluations: first N of each split (0: all)
    # z-score frozen features with training statistics before the linear layer (a BN without
    # affine terms, as MAE's linear probe); the reference protocol does not (False).
    c.eval.standardize_features = False
    c.eval.plots = False
    # What linear_eval / finetune start from (and distill's student, when set): a pretraining
    # work directory, a ckpt-* folder, a .weights.h5 or .keras file, or an exported encoder.
    c.eval.checkpoint = ""
    c.eval.label_fraction = 1.0  # imagenet2012 at 0.01 / 0.1: the official tfds subsets
    c.eval.label_fraction_seed = 0  # the stratified draw for other datasets
    # linear_eval: False trains the head on cached features of the centre crop; True trains it
    # through the frozen encoder on random crops and flips, as the reference does.
    c.eval.augment = False
    # Frozen layers' batch norm while the rest trains (linear_eval with augment, finetune with
    # fine_tune_after_block >= 0): False keeps their pretraining statistics (Keras' frozen BN;
    # the reference's TF1 linear evaluation); True normalises each batch with its own statistics
    # and updates the moving averages, which the test then uses (the reference's TF2 code, and
    # its fine-tuning's frozen blocks in TF1 and TF2).
    c.eval.bn_training = False
    c.eval.optimizer = "momentum"  # momentum (Nesterov) | lars | adam, each with its L2 term
    c.eval.momentum = 0.9
    c.eval.learning_rate_scaling = "linear"  # linear (x B/256) | sqrt (x sqrt(B))
    c.eval.warmup_epochs = 0
    c.eval.from_projection_layer = 0  # finetune / distill: projection layers kept (v2: 1)
    c.eval.fine_tune_after_block = -1  # finetune: freeze encoder block groups 0..b (-1: none)
    c.eval.knn = True  # linear_eval with cached features also reports weighted kNN top-1
    c.eval.knn_k = 200
    c.eval.knn_temperature = 0.1

    # === Retrieval grid (end of pretraining; works without labels) ===
    # num_queries > 0: `retrieval.png` in the work directory, num_queries images of the training
    # data, each beside its num_neighbours nearest neighbours (cosine, encoder features) among
    # num_examples images drawn from the training data (seeded).
    c.retrieval = ml_collections.ConfigDict()
    c.retrieval.num_queries = 0
    c.retrieval.num_neighbours = 5
    c.retrieval.num_examples = 1000

    # === Distillation (distill mode; its training uses the eval.* optimiser keys) ===
    c.distill = ml_collections.ConfigDict()
    c.distill.teacher = ""  # a finetune work directory or a classifier .keras file
    c.distill.temperature = 1.0
    c.distill.alpha = 1.0  # weight of the distillation loss; 1 - alpha on the labelled loss
    return c


# Former keys -> where they live now. Each old key stays in the schema as an unset placeholder,
# so config files, `--config.KEY` overrides and saved config.json files that set it still load.
DEPRECATED_KEYS = {"temperature": "loss.temperature"}


def apply_deprecated_keys(config, overrides=None):
    """Moves each deprecated key's value to its new key, in place, with a one-line warning.

    Every path a config reaches the model by calls this: the training command (with its
    command line's overrides, before anything runs) and `builders.build_pretrainer` (the study,
    Python callers, and the config.json of an older run that an evaluation mode reloads).
    Idempotent: the old key is unset once moved.

    Args:
        config: a ConfigDict of `default_config()`'s schema.
        overrides: the `--config.KEY` values given on the command line (dotted key -> value),
            or None. A key given there beats the same setting made in the config file: the old
            key on the command line replaces a file's new key, and the reverse.

    Returns:
        `config`.

    Raises:
        ValueError: both keys set to different values at the same level (both on the command
            line, or both in the config; a new key still at its default counts as unset).
    """
    overrides = overrides or {}
    defaults = default_config()
    for old, new in DEPRECATED_KEYS.items():
        value = config.get(old)
        if value is None:
            continue
        *parents, leaf = new.split(".")
        node, default = config, defaults
        for part in parents:
            node, default = node[part], default[part]
        current = node[leaf]
        old_cli, new_cli = old in overrides, new in overrides
        new_set = new_cli or current != default[leaf]
        if new_set and current != value and old_cli == new_cli:
            raise ValueError(
                f"`{old}` is the deprecated name of `{new}`; both are set, to different values. "
                f"Set `{new}` only. Received: {old}={value}, {new}={current}"
            )
        kept = current if new_cli and not old_cli else value
        logging.warning(
            "Config key `%s` is deprecated: use `%s` (%s=%s%s).", old, new, new, kept,
            "" if kept == value else f", from the command line; {old}={value} ignored",
        )
        node[leaf] = kept
        config[old] = None
    return config


def resolve(config, num_train_examples, num_replicas=1):
    """Derived values: steps, learning rate. Returns a plain dict, saved next to checkpoints."""
    batch = config.batch_size
    if num_train_examples < batch:
        raise ValueError(
            f"The batch size ({batch}) is larger than the training set "
            f"({num_train_examples} examples): no full batch could be formed. "
            "Lower `--config.batch_size`."
        )
    # The reference's step counts (one rule for every training: see `steps_from_epochs`).
    steps = steps_from_epochs(num_train_examples, batch, config.epochs, config.warmup_epochs)
    return {
        "num_train_examples": int(num_train_examples),
        "steps_per_epoch": steps.steps_per_epoch,
        "total_steps": steps.total_steps,
        "warmup_steps": steps.warmup_steps,
        "learning_rate": scale_learning_rate(
            config.optimizer.base_learning_rate, batch, config.optimizer.learning_rate_scaling
        ),
        "num_replicas": int(num_replicas),
        "per_replica_batch": batch // max(num_replicas, 1),
    }


def check_epochs(config):
    """Fails on epochs the schedule cannot run (a warmup longer than the run), before anything
    is read or written: `epochs` / `warmup_epochs` (and `optimizer.name`) when pretraining, the
    `eval.*` ones in the evaluation modes."""
    if config.mode == "pretrain":
        check_warmup(config.epochs, config.warmup_epochs)
        if config.optimizer.name not in OPTIMIZERS:
            raise ValueError(
                f"`optimizer.name` must be one of {list(OPTIMIZERS)}. "
                f"Received: optimizer.name={config.optimizer.name!r}"
            )
    else:
        check_warmup(config.eval.epochs, config.eval.warmup_epochs, prefix="eval.")


def check_data(config):
    """Fails on data keys that cannot work, before anything is read or written: an image folder
    without a path, a negative canvas."""
    if config.dataset.startswith("dir:") and not config.dataset[len("dir:"):]:
        raise ValueError(
            "`dataset` names an image folder but no path: pass "
            "--config.dataset=dir:/path/to/images. "
            f"Received: dataset={config.dataset!r}"
        )
    canvas = config.data.canvas_size
    if canvas is not None and canvas < 0:
        raise ValueError(
            "`data.canvas_size` must be unset (16/7 of image_size), 0 (host-side square resize) or "
            f"a positive side. Received: data.canvas_size={canvas}"
        )


def data_options(config):
    """The data keys as `simclr_tf.data.get_source` arguments. Defaults are left out, so the
    embedded set keeps its in-memory path (`load_arrays` takes it when there are no options)."""
    options = {}
    if config.data_dir:
        options["data_dir"] = config.data_dir
    if config.data.skip_corrupt:
        options["skip_corrupt"] = True
    if config.data.canvas_size is not None:
        options["canvas_size"] = int(config.data.canvas_size)
    return options


def config_keys(config, prefix=""):
    """Every dotted key of a ConfigDict, for error messages."""
    keys = []
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            keys.extend(config_keys(value, prefix + key + "."))
        else:
            keys.append(prefix + key)
    return sorted(keys)
