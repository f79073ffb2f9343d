"""The experiment config schema: every key a `tf_configs/*.py` file may set.

Configs hold primary values only (batch size, base learning rate, epochs); the training command
derives the rest in code (`resolve`), so overriding `--config.batch_size` never leaves a stale
learning rate or step count behind.
"""

import ml_collections

from simclr_tf.optimizers.schedules import scale_learning_rate


def default_config():
    """All keys with the reference implementation's defaults (ImageNet-style SimCLR v2)."""
    c = ml_collections.ConfigDict()
    c.mode = "pretrain"  # pretrain | linear_eval | finetune | distill

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

    # === Model ===
    c.model = ml_collections.ConfigDict()
    c.model.depth = 50
    c.model.width_multiplier = 1.0
    c.model.sk_ratio = 0.0
    c.model.se_ratio = 0.0
    c.model.cifar_stem = False
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

    # === Objective and optimiser ===
    c.temperature = 0.1
    c.hidden_norm = True
    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "lars"  # lars | momentum | adam
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
    c.eval.optimizer = "momentum"  # momentum (Nesterov) | lars
    c.eval.momentum = 0.9
    c.eval.learning_rate_scaling = "linear"  # linear (x B/256) | sqrt (x sqrt(B))
    c.eval.warmup_epochs = 0
    c.eval.from_projection_layer = 0  # finetune / distill: projection layers kept (v2: 1)
    c.eval.fine_tune_after_block = -1  # finetune: freeze encoder block groups 0..b (-1: none)
    c.eval.knn = True  # linear_eval with cached features also reports weighted kNN top-1
    c.eval.knn_k = 200
    c.eval.knn_temperature = 0.1

    # === Distillation (distill mode; its training uses the eval.* optimiser keys) ===
    c.distill = ml_collections.ConfigDict()
    c.distill.teacher = ""  # a finetune work directory or a classifier .keras file
    c.distill.temperature = 1.0
    c.distill.alpha = 1.0  # weight of the distillation loss; 1 - alpha on the labelled loss
    return c


def resolve(config, num_train_examples, num_replicas=1):
    """Derived values: steps, learning rate. Returns a plain dict, saved next to checkpoints."""
    batch = config.batch_size
    if num_train_examples < batch:
        raise ValueError(
            f"The batch size ({batch}) is larger than the training set "
            f"({num_train_examples} examples): no full batch could be formed. "
            "Lower `--config.batch_size`."
        )
    steps_per_epoch = num_train_examples // batch
    return {
        "num_train_examples": int(num_train_examples),
        "steps_per_epoch": int(steps_per_epoch),
        "total_steps": int(steps_per_epoch * config.epochs),
        "warmup_steps": int(round(config.warmup_epochs * num_train_examples // batch)),
        "learning_rate": scale_learning_rate(
            config.optimizer.base_learning_rate, batch, config.optimizer.learning_rate_scaling
        ),
        "num_replicas": int(num_replicas),
        "per_replica_batch": batch // max(num_replicas, 1),
    }


def config_keys(config, prefix=""):
    """Every dotted key of a ConfigDict, for error messages."""
    keys = []
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            keys.extend(config_keys(value, prefix + key + "."))
        else:
            keys.append(prefix + key)
    return sorted(keys)
