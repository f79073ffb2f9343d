"""ImageNet linear evaluation of a pretrained ResNet-50: the reference README's ImageNet command.

    python -m simclr_tf.train --config=tf_configs/imagenet_linear_eval.py \
        --workdir=gs://BUCKET/simclr_v2_linear --config.eval.checkpoint=gs://BUCKET/simclr_v2 \
        --config.tpu=local

`eval.checkpoint` is a `tf_configs/imagenet_v2.py` or `imagenet_v1.py` pretraining run (its
config.json supplies the architecture) or a checkpoint folder of one.
Protocol, as the reference's `--train_mode=finetune --fine_tune_after_block=4
--zero_init_logits_layer=True --global_bn=False --optimizer=momentum --learning_rate=0.1
--weight_decay=1e-6 --train_epochs=90 --train_batch_size=4096 --warmup_epochs=0`: the encoder
frozen (no gradient) with its batch norm on the pretraining statistics (`eval.bn_training=False`,
the reference's TF1 code, which gave the README's figure below; its TF2 `run.py` normalises each
batch with its own statistics and updates the moving averages: `--config.eval.bn_training=True`,
no published figure), a zero-initialised linear head on the encoder output
trained with Nesterov momentum 0.9 at 0.1 x 4096/256 = 1.6 with cosine decay and no warmup,
an L2 term of 1e-6 on the head's kernel and bias (the reference's `add_weight_decay` under
momentum), 90 epochs of batch 4096 on random crops and flips (`eval.augment=True`), in float32;
top-1 and top-5 on the validation split's centre crops. This is the protocol of the papers'
linear-evaluation numbers. `--config.eval.augment=False` trains the head on cached centre-crop
features instead (one encoder pass per image, much faster; our default elsewhere, usually a
little lower).
Expected result: "around 64.5 %" top-1 after the reference README's 100-epoch pretraining
(`tf_configs/imagenet_v2.py --config.epochs=100`); 71.7 % for SimCLRv2 R50-1x after 800 epochs
and 69.3 % for SimCLR v1 R50-1x after 1000 epochs (the papers).
Expected runtime: not measured here (90 forward passes of ImageNet through a frozen ResNet-50:
an accelerator job).
"""

from simclr_tf.config import default_config


def get_config(arg=None):
    c = default_config()
    c.mode = "linear_eval"
    c.dataset = "imagenet2012"
    c.train_split = "train"
    c.eval_split = "validation"
    c.image_size = 224
    # The architecture, used only when eval.checkpoint carries no config.json.
    c.model.depth = 50
    c.model.head_num_layers = 3
    c.eval.augment = True
    c.eval.bn_training = False  # True: the reference's TF2 run.py (see above)
    c.eval.knn = False  # kNN needs cached features (eval.augment=False)
    c.eval.epochs = 90
    c.eval.batch_size = 4096
    c.eval.optimizer = "momentum"
    c.eval.momentum = 0.9
    c.eval.base_learning_rate = 0.1
    c.eval.learning_rate_scaling = "linear"
    c.eval.weight_decay = 1e-6
    c.eval.warmup_epochs = 0
    return c
