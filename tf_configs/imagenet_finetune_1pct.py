"""ImageNet semi-supervised fine-tuning on 1 % of the labels (SimCLRv2, arXiv:2006.10029).

    python -m simclr_tf.train --config=tf_configs/imagenet_finetune_1pct.py \
        --workdir=gs://BUCKET/simclr_v2_ft1 --config.eval.checkpoint=gs://BUCKET/simclr_v2 \
        --config.tpu=local

`eval.checkpoint` is a `tf_configs/imagenet_v2.py` pretraining run (3-layer projection head; its
config.json supplies the architecture). `eval.label_fraction=0.01` reads the official subset
`imagenet2012_subset/1pct` through tfds (prepared from the same manual ImageNet download);
the test is the full validation split.
Protocol, as the reference's full-network fine-tuning command (`--fine_tune_after_block=-1
--zero_init_logits_layer=True --global_bn=True --optimizer=lars --learning_rate=0.005
--learning_rate_scaling=sqrt --weight_decay=0 --train_epochs=60 --train_batch_size=1024
--warmup_epochs=0 --num_proj_layers=3 --ft_proj_selector=1`): the whole network trains from the
first projection-head layer (layers 2 and 3 are dropped), a zero-initialised linear head, LARS
at 0.005 x sqrt(1024) = 0.16 with cosine decay, no weight decay, no warmup, global batch norm,
random crops and flips only, float32 (`--config.precision=mixed_bfloat16`: faster, a
deviation), batch 1024, 60 epochs.
Expected result: 57.9 % top-1 for ResNet-50 (1x) pretrained with SimCLRv2 (the paper's figure).
Expected runtime: not measured here (an accelerator job: the 1 % subset is about
12,800 images).
"""

from simclr_tf.config import default_config


def get_config(arg=None):
    c = default_config()
    c.mode = "finetune"
    c.dataset = "imagenet2012"
    c.train_split = "train"
    c.eval_split = "validation"
    c.image_size = 224
    # The architecture, used only when eval.checkpoint carries no config.json.
    c.model.depth = 50
    c.model.head_num_layers = 3
    c.eval.label_fraction = 0.01
    c.eval.from_projection_layer = 1
    c.eval.fine_tune_after_block = -1
    c.eval.epochs = 60
    c.eval.batch_size = 1024
    c.eval.optimizer = "lars"
    c.eval.base_learning_rate = 0.005
    c.eval.learning_rate_scaling = "sqrt"
    c.eval.weight_decay = 0.0
    c.eval.warmup_epochs = 0
    return c
