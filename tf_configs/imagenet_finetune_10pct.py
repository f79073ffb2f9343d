"""ImageNet semi-supervised fine-tuning on 10 % of the labels (SimCLRv2, arXiv:2006.10029).

    python -m simclr_tf.train --config=tf_configs/imagenet_finetune_10pct.py \
        --workdir=gs://BUCKET/simclr_v2_ft10 --config.eval.checkpoint=gs://BUCKET/simclr_v2 \
        --config.tpu=local

The same as `--config=tf_configs/imagenet_finetune.py:10pct`, which holds the protocol (the
reference's full-network fine-tuning: from projection layer 1, LARS 0.005 x sqrt(1024), no
weight decay, batch 1024) on `imagenet2012_subset/10pct` (`eval.label_fraction=0.1`) for
30 epochs (the paper's).
Expected result: 68.4 % top-1 for ResNet-50 (1x) pretrained with SimCLRv2 (the paper's figure).
Expected runtime: not measured here (an accelerator job: the 10 % subset is about
128,000 images).
"""

import os
import runpy

# config_flags loads a config file by its path, not as a module of a package, so the shared
# definition is read by its path too.
_FINETUNE = runpy.run_path(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet_finetune.py")
)


def get_config(arg=None):
    return _FINETUNE["get_config"]("10pct")
