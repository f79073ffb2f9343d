"""ImageNet, SimCLRv2: ResNet-50 (1x, optionally SK), 3-layer projection head.

    python -m simclr_tf.train --config=tf_configs/imagenet_v2.py --workdir=gs://BUCKET/simclr_v2 \
        --config.tpu=local [--config.model.sk_ratio=0.0625 --config.model.width_multiplier=2]

Settings (SimCLRv2 paper and the reference README): 3-layer projection head, LARS with learning
rate 0.075 x sqrt(batch) ("sqrt" scaling), weight decay 1e-4, temperature 0.1, batch 4096,
800 epochs, colour strength 1.0 with blur, global BN, float32 as the paper
(`--config.precision=mixed_bfloat16` is faster on TPUs and GPUs: a deviation). The reference
README's 100-epoch command is this config with `--config.epochs=100`; its linear evaluation
(`tf_configs/imagenet_linear_eval.py`) gives "around 64.5 %" top-1 (reference README).
Expected result: 71.7 % linear evaluation top-1 for R50 1x, 74.6 % with SK (SimCLRv2 Table).
Expected runtime: days on a TPU v3-128 pod slice; not measured here.
"""

from simclr_tf.config import default_config


def get_config(arg=None):
    c = default_config()
    c.dataset = "imagenet2012"
    c.image_size = 224
    c.batch_size = 4096
    c.epochs = 800
    c.model.depth = 50
    c.model.head_num_layers = 3
    c.loss.temperature = 0.1
    c.optimizer.base_learning_rate = 0.075
    c.optimizer.learning_rate_scaling = "sqrt"
    c.optimizer.weight_decay = 1e-4
    return c
