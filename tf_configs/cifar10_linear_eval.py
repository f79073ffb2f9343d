"""CIFAR-10 linear evaluation of a pretrained ResNet-18: the reference README's linear-eval command.

    python -m simclr_tf.train --config=tf_configs/cifar10_linear_eval.py \
        --workdir=runs/cifar10_r18_linear --config.eval.checkpoint=runs/cifar10_r18

`eval.checkpoint` is the work directory of a `tf_configs/cifar10_r18.py` pretraining run (its
config.json supplies the architecture), a checkpoint folder, or an exported encoder
(`runs/cifar10_r18/export/encoder/1`, with `--config.eval.augment=False`).
Protocol, as the reference's `--train_mode=finetune --fine_tune_after_block=4
--zero_init_logits_layer=True --optimizer=momentum --learning_rate=0.1 --weight_decay=0.0
--train_epochs=100 --train_batch_size=512 --warmup_epochs=0`: the encoder frozen (no gradient)
with its batch norm on the pretraining statistics, a zero-initialised linear head trained with
Nesterov momentum 0.9,
learning rate 0.1 x 512/256 with cosine decay, no weight decay, on random crops and flips
(`eval.augment=True`); top-1 and top-5 on the test split. With `eval.weight_decay > 0` the
L2 term covers the head's kernel and bias (the reference's `add_weight_decay` under momentum).
Expected result: "around 91 %" top-1 for the reference's 1000-epoch ResNet-18 (its README).
Batch norm: that README and its figure belong to the reference's TF1 code, whose `model.py` runs
a frozen encoder with `is_training=False`, as `eval.bn_training=False` here. Its TF2 `run.py`
leaves the batch-norm layers inside the frozen blocks trainable, so they normalise each batch
with its own statistics and update their moving averages, which the test pass then uses:
`--config.eval.bn_training=True` (no published figure for it).
Expected runtime: the frozen ResNet-18 runs at about 190 images/s on a 2-core CPU (measured), so
the augmented protocol's 100 epochs take about 7 hours there and minutes on a GPU (not
measured); `--config.eval.augment=False` (cached centre-crop features, one encoder pass per
image) takes about 6 minutes on that CPU and usually scores a little lower.
"""

from simclr_tf.config import default_config


def get_config(arg=None):
    c = default_config()
    c.mode = "linear_eval"
    c.dataset = "cifar10"
    c.train_split = "train"
    c.eval_split = "test"
    c.image_size = 32
    # The architecture, used only when eval.checkpoint carries no config.json.
    c.model.depth = 18
    c.model.head_num_layers = 3
    c.eval.augment = True
    c.eval.bn_training = False  # True: the reference's TF2 run.py (see above)
    c.eval.epochs = 100
    c.eval.batch_size = 512
    c.eval.optimizer = "momentum"
    c.eval.base_learning_rate = 0.1
    c.eval.learning_rate_scaling = "linear"
    c.eval.weight_decay = 0.0
    c.eval.warmup_epochs = 0
    return c
