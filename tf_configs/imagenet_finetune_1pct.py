"""ImageNet semi-supervised fine-tuning on 1 % of the labels (SimCLRv2, arXiv:2006.10029).

    python -m simclr_tf.train --config=tf_configs/imagenet_finetune_1pct.py \
        --workdir=gs://BUCKET/simclr_v2_ft1 --config.eval.checkpoint=gs://BUCKET/simclr_v2 \
        --config.tpu=local

The same as `--config=tf_configs/imagenet_finetune.py:1pct`, which holds the protocol (the
reference's full-network fine-tuning: from projection layer 1, LARS 0.005 x sqrt(1024), no
weight decay, batch 1024) on `imagenet2012_subset/1pct` (`eval.label_fraction=0.01`) for
60 epochs (the reference command's `--train_epochs=60`).
Expected result: 57.9 % top-1 for ResNet-50 (1x) pretrained with SimCLRv2 (the paper's figure).
Expected runtime: not measured here (an accelerator job: the 1 % subset is about
12,800 images).
"""

import os
import runpy

# config_flags loads a config file by its path, not as a module of a package, so the shared
# definition is read by its path too.
_FINETUNE = runpy.run_path(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet_finetune.py")
)


def get_config(arg=None):
    return _FINETUNE["get_config"]("1pct")
