"""ImageNet semi-supervised fine-tuning on 1 % or 10 % of the labels (SimCLRv2, arXiv:2006.10029).

    python -m simclr_tf.train --config=tf_configs/imagenet_finetune.py:1pct \
        --workdir=gs://BUCKET/simclr_v2_ft1 --config.eval.checkpoint=gs://BUCKET/simclr_v2 \
        --config.tpu=local

`:10pct` for 10 %. `tf_configs/imagenet_finetune_1pct.py` and `imagenet_finetune_10pct.py` are
the same two configs under their own names. The two differ in `eval.label_fraction` and
`eval.epochs` only (`SUBSETS`).
`eval.checkpoint` is a `tf_configs/imagenet_v2.py` pretraining run (3-layer projection head; its
config.json supplies the architecture). `eval.label_fraction` 0.01 / 0.1 reads the official
subset `imagenet2012_subset/1pct` / `10pct` through tfds (prepared from the same manual ImageNet
download); the test is the full validation split.
Protocol, as the reference's full-network fine-tuning command for 1 % (`--fine_tune_after_block=-1
--zero_init_logits_layer=True --global_bn=True --optimizer=lars --learning_rate=0.005
--learning_rate_scaling=sqrt --weight_decay=0 --train_epochs=60 --train_batch_size=1024
--warmup_epochs=0 --num_proj_layers=3 --ft_proj_selector=1`), with the paper's 30 epochs for
10 %: the whole network trains from the first projection-head layer (layers 2 and 3 are
dropped), a zero-initialised linear head, LARS at 0.005 x sqrt(1024) = 0.16 with cosine decay,
no weight decay, no warmup, global batch norm, random crops and flips only, float32
(`--config.precision=mixed_bfloat16`: faster, a deviation), batch 1024; 60 epochs on 1 %, 30 on
10 %.
Expected result: 57.9 % (1 %) / 68.4 % (10 %) top-1 for ResNet-50 (1x) pretrained with SimCLRv2
(the paper's figures).
Expected runtime: not measured here (an accelerator job: the 1 % subset is about 12,800 images,
the 10 % one about 128,000).
"""

from simclr_tf.config import default_config

# The label subsets: eval.label_fraction (the official tfds subset) and eval.epochs.
SUBSETS = {
    "1pct": {"label_fraction": 0.01, "epochs": 60},
    "10pct": {"label_fraction": 0.1, "epochs": 30},
}


def get_config(arg=None):
    if arg not in SUBSETS:
        raise ValueError(
            "Name the label subset after the file: --config=tf_configs/imagenet_finetune.py:1pct "
            f"or :10pct. Received: {arg!r}"
        )
    c = default_config()
    c.mode = "finetune"
    c.dataset = "imagenet2012"
    c.train_split = "train"
    c.eval_split = "validation"
    c.image_size = 224
    # The architecture, used only when eval.checkpoint carries no config.json.
    c.model.depth = 50
    c.model.head_num_layers = 3
    c.eval.label_fraction = SUBSETS[arg]["label_fraction"]
    c.eval.from_projection_layer = 1
    c.eval.fine_tune_after_block = -1
    c.eval.epochs = SUBSETS[arg]["epochs"]
    c.eval.batch_size = 1024
    c.eval.optimizer = "lars"
    c.eval.base_learning_rate = 0.005
    c.eval.learning_rate_scaling = "sqrt"
    c.eval.weight_decay = 0.0
    c.eval.warmup_epochs = 0
    return c
