"""simclr_tf: SimCLR and SimCLRv2 for Keras 3 / TensorFlow.

Chen, Kornblith, Norouzi, Hinton (2020), "A Simple Framework for Contrastive Learning of Visual
Representations", arXiv:2002.05709; Chen et al. (2020), "Big Self-Supervised Models are Strong
Semi-Supervised Learners", arXiv:2006.10029.

The public API (`__all__`, listed by layer in docs/layout.md#public-api) follows one rule:

- The layers whose every public name is for users are re-exported whole: the `__all__` of
  `simclr_tf.augment`, `callbacks`, `export`, `optimizers` and `protocols` is part of
  `simclr_tf.__all__` (the same objects).
- From the other layers, their entry points, by name: the models `ResNet`, `ProjectionHead` and
  `SimCLR` (`Classifier` and `build_classifier` come with `protocols`); every loss function of
  `losses`, in both forms (`*_loss`, and `*_and_metrics` with the metrics the model logs);
  `get_dataset`, `load_arrays` (any dataset by name, batched or as numpy) and `load_embedded`
  (the offline subset) of `data`; `get_strategy` and `check_global_batch` of `distribute`;
  `load_pretrained` of `evaluation`; `load_official` and `OfficialModel` of `official`; the
  `visualize_*` functions of `visualize`.
- Everything else stays in its module: building blocks and internal helpers
  (`simclr_tf.losses.semi_hard_negatives`, `simclr_tf.augment.base.image_inputs`, the layers of
  `simclr_tf.models.*`), what `SimCLR(loss=...)` resolves for you (`losses.get_contrastive_loss`,
  `losses.LOSSES`), the command layer (`simclr_tf.evaluation.run_mode`, the end-of-run report),
  and the rest of `simclr_tf.data` and `simclr_tf.official` (reachable as `simclr_tf.data.*`
  after `import simclr_tf`).

`__all__` is sorted and `from simclr_tf import *` gives exactly it (tests/test_package.py checks
this, the rule and the list in docs/layout.md).
"""

__version__ = "0.1.0"

import os as _os

# Keras 3 must run on TensorFlow here: the train step uses tf.distribute replica contexts.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

try:
    import tensorflow as _tf  # noqa: F401
except ModuleNotFoundError as e:  # pragma: no cover - depends on the install
    if e.name != "tensorflow":  # TensorFlow is there but broken: its own error says why
        raise
    raise ModuleNotFoundError(
        "simclr_tf needs TensorFlow; install it with one of the extras: "
        "`pip install simclr_tf[cpu]`, `simclr_tf[gpu]` or `simclr_tf[tpu]`.",
        name="tensorflow",
    ) from None

# Re-exported whole: the `__all__` of augment, callbacks, export, optimizers and protocols.
from simclr_tf.augment import (  # noqa: E402
    CenterCropResize,
    ComposedAugment,
    RandomColorDistortion,
    RandomCutout,
    RandomFlipLeftRight,
    RandomGaussianBlur,
    RandomGaussianNoise,
    RandomResizedCrop,
    RandomRotation90,
    RandomSobel,
    SimCLRAugment,
)
from simclr_tf.callbacks import (  # noqa: E402
    CSVHistory,
    KNNMonitor,
    ResumableCheckpoint,
    ViewSummary,
)
from simclr_tf.export import (  # noqa: E402
    BYTES_SIGNATURE,
    FLOAT_SIGNATURE,
    KERAS_ENDPOINT,
    UINT8_SIGNATURE,
    export_encoder,
    export_model,
    save_keras,
)
from simclr_tf.optimizers import (  # noqa: E402
    LARS,
    AdamWithL2,
    SGDWithL2,
    WarmupCosine,
    build_optimizer,
    exclude_from_decay,
    scale_learning_rate,
    steps_from_epochs,
)
from simclr_tf.protocols import (  # noqa: E402
    FINE_TUNING,
    LINEAR_EVALUATION,
    Classifier,
    Distiller,
    ExportedEncoder,
    OptimizerSettings,
    build_classifier,
    distill,
    distillation_loss,
    evaluate_classifier,
    extract_dataset_features,
    extract_features,
    fine_tune,
    frozen_batch_norm_in_training_mode,
    knn_accuracy,
    knn_classify,
    linear_evaluation,
    stratified_fraction,
    train_linear_classifier,
)

# Entry points of the other layers, by name.
from simclr_tf import data  # noqa: E402,F401  (the rest of simclr_tf.data after `import simclr_tf`)
from simclr_tf.data import get_dataset, load_arrays, load_embedded  # noqa: E402
from simclr_tf.distribute import check_global_batch, get_strategy  # noqa: E402
from simclr_tf.evaluation import load_pretrained  # noqa: E402
from simclr_tf.losses import (  # noqa: E402
    contrastive_loss_and_metrics,
    margin_triplet_loss,
    margin_triplet_loss_and_metrics,
    nt_logistic_loss,
    nt_logistic_loss_and_metrics,
    nt_xent_loss,
)
from simclr_tf.models.projection_head import ProjectionHead  # noqa: E402
from simclr_tf.models.resnet import ResNet  # noqa: E402
from simclr_tf.models.simclr import SimCLR  # noqa: E402
from simclr_tf.official import OfficialModel, load_official  # noqa: E402
from simclr_tf.visualize import visualize_retrieval, visualize_views  # noqa: E402

__all__ = [
    "AdamWithL2",
    "BYTES_SIGNATURE",
    "CSVHistory",
    "CenterCropResize",
    "Classifier",
    "ComposedAugment",
    "Distiller",
    "ExportedEncoder",
    "FINE_TUNING",
    "FLOAT_SIGNATURE",
    "KERAS_ENDPOINT",
    "KNNMonitor",
    "LARS",
    "LINEAR_EVALUATION",
    "OfficialModel",
    "OptimizerSettings",
    "ProjectionHead",
    "RandomColorDistortion",
    "RandomCutout",
    "RandomFlipLeftRight",
    "RandomGaussianBlur",
    "RandomGaussianNoise",
    "RandomResizedCrop",
    "RandomRotation90",
    "RandomSobel",
    "ResNet",
    "ResumableCheckpoint",
    "SGDWithL2",
    "SimCLR",
    "SimCLRAugment",
    "UINT8_SIGNATURE",
    "ViewSummary",
    "WarmupCosine",
    "build_classifier",
    "build_optimizer",
    "check_global_batch",
    "contrastive_loss_and_metrics",
    "distill",
    "distillation_loss",
    "evaluate_classifier",
    "exclude_from_decay",
    "export_encoder",
    "export_model",
    "extract_dataset_features",
    "extract_features",
    "fine_tune",
    "frozen_batch_norm_in_training_mode",
    "get_dataset",
    "get_strategy",
    "knn_accuracy",
    "knn_classify",
    "linear_evaluation",
    "load_arrays",
    "load_embedded",
    "load_official",
    "load_pretrained",
    "margin_triplet_loss",
    "margin_triplet_loss_and_metrics",
    "nt_logistic_loss",
    "nt_logistic_loss_and_metrics",
    "nt_xent_loss",
    "save_keras",
    "scale_learning_rate",
    "steps_from_epochs",
    "stratified_fraction",
    "train_linear_classifier",
    "visualize_retrieval",
    "visualize_views",
]
