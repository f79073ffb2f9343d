"""simclr_tf: SimCLR and SimCLRv2 for Keras 3 / TensorFlow.

Chen, Kornblith, Norouzi, Hinton (2020), "A Simple Framework for Contrastive Learning of Visual
Representations", arXiv:2002.05709; Chen et al. (2020), "Big Self-Supervised Models are Strong
Semi-Supervised Learners", arXiv:2006.10029.
"""

__version__ = "0.1.0"

try:
    import tensorflow as _tf  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError(
        "simclr_tf needs TensorFlow, which is chosen by an install extra: "
        "`pip install simclr_tf[cpu]` (tensorflow-cpu), `simclr_tf[gpu]` (tensorflow[and-cuda]) "
        "or `simclr_tf[tpu]` (tensorflow-tpu)."
    ) from e

import os as _os

# Keras 3 must run on TensorFlow here: the train step uses tf.distribute replica contexts.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__all__ = []
