"""ImageNet, SimCLR v1: ResNet-50 (1x), batch 4096, 100 epochs (the paper's main ablation setting).

    python -m simclr_tf.train --config=tf_configs/imagenet_v1.py --workdir=gs://BUCKET/simclr_v1 \
        --config.tpu=local

Settings (paper, Section 2.3 and Appendix B): LARS, learning rate 0.3 x batch/256 with 10 warmup
epochs then cosine decay, weight decay 1e-6, temperature 0.1, colour strength 1.0 with blur and
the v1 paper's additive brightness (`brightness_mode="simclrv1"`, the reference's `impl`
switch), 224 px crops, 2-layer projection head (128-d), global BN, float32 as the paper
(`--config.precision=mixed_bfloat16` is faster on TPUs and GPUs: a deviation, not measured
against float32 at this scale). ImageNet must be prepared for tfds beforehand (manual download).
Linear evaluation afterwards: `tf_configs/imagenet_linear_eval.py` (the paper's protocol).
Expected result: 69.3 % linear evaluation top-1 for R50 1x after 1000 epochs (the paper's
Table 6); several points lower at 100 epochs (the paper's Figure 9 plots batch size x epochs).
Expected runtime: about 1.5 hours on 128 TPU v3 cores (the paper's figure).
"""

from simclr_tf.config import default_config


def get_config(arg=None):
    c = default_config()
    c.dataset = "imagenet2012"
    c.image_size = 224
    c.batch_size = 4096
    c.epochs = 100
    c.model.depth = 50
    c.model.head_num_layers = 2
    c.loss.temperature = 0.1
    c.optimizer.base_learning_rate = 0.3
    c.optimizer.weight_decay = 1e-6
    c.augment.brightness_mode = "simclrv1"
    return c
