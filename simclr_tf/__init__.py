"""simclr_tf: SimCLR and SimCLRv2 for Keras 3 / TensorFlow.

Chen, Kornblith, Norouzi, Hinton (2020), "A Simple Framework for Contrastive Learning of Visual
Representations", arXiv:2002.05709; Chen et al. (2020), "Big Self-Supervised Models are Strong
Semi-Supervised Learners", arXiv:2006.10029.
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

from simclr_tf.augment import (  # noqa: E402
    CenterCropResize,
    RandomColorDistortion,
    RandomFlipLeftRight,
    RandomGaussianBlur,
    RandomResizedCrop,
    SimCLRAugment,
)
from simclr_tf import data  # noqa: E402,F401  (simclr_tf.data.get_dataset after `import simclr_tf`)
from simclr_tf.callbacks import KNNMonitor, ResumableCheckpoint, ViewSummary  # noqa: E402
from simclr_tf.distribute import check_global_batch, get_strategy  # noqa: E402
from simclr_tf.protocols import (  # noqa: E402
    Classifier,
    Distiller,
    build_classifier,
    distill,
    fine_tune,
    knn_accuracy,
    knn_classify,
    linear_evaluation,
    stratified_fraction,
)
from simclr_tf.export import export_encoder, export_model, save_keras  # noqa: E402
from simclr_tf.losses import (  # noqa: E402
    contrastive_loss_and_metrics,
    margin_triplet_loss,
    nt_logistic_loss,
    nt_xent_loss,
)
from simclr_tf.models.projection_head import ProjectionHead  # noqa: E402
from simclr_tf.official import OfficialModel, load_official  # noqa: E402
from simclr_tf.models.resnet import ResNet  # noqa: E402
from simclr_tf.models.simclr import SimCLR  # noqa: E402
from simclr_tf.optimizers import (  # noqa: E402
    LARS,
    WarmupCosine,
    scale_learning_rate,
    steps_from_epochs,
)
from simclr_tf.visualize import visualize_views  # noqa: E402

__all__ = [
    "CenterCropResize",
    "Classifier",
    "Distiller",
    "KNNMonitor",
    "LARS",
    "OfficialModel",
    "ProjectionHead",
    "RandomColorDistortion",
    "RandomFlipLeftRight",
    "RandomGaussianBlur",
    "RandomResizedCrop",
    "ResNet",
    "ResumableCheckpoint",
    "SimCLR",
    "SimCLRAugment",
    "ViewSummary",
    "WarmupCosine",
    "build_classifier",
    "check_global_batch",
    "contrastive_loss_and_metrics",
    "distill",
    "export_encoder",
    "export_model",
    "fine_tune",
    "get_strategy",
    "knn_accuracy",
    "knn_classify",
    "linear_evaluation",
    "load_official",
    "nt_xent_loss",
    "nt_logistic_loss",
    "margin_triplet_loss",
    "save_keras",
    "scale_learning_rate",
    "steps_from_epochs",
    "stratified_fraction",
    "visualize_views",
]
