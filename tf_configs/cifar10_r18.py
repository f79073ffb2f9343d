"""CIFAR-10, ResNet-18: the reference README's CIFAR-10 command (google-research/simclr tf2).

    python -m simclr_tf.train --config=tf_configs/cifar10_r18.py --workdir=runs/cifar10_r18

Settings as that command (`--train_batch_size=512 --train_epochs=1000 --learning_rate=1.0
--weight_decay=1e-4 --temperature=0.5 --dataset=cifar10 --image_size=32 --resnet_depth=18
--use_blur=False --color_jitter_strength=0.5`, everything else at run.py's defaults): ResNet-18
with the CIFAR stem (the reference's rule for image_size <= 32), batch 512, 1000 epochs, LARS
with learning rate 1.0 (x batch/256), 10 warmup epochs then cosine, weight decay 1e-4,
temperature 0.5, colour strength 0.5, no blur, the 3-layer projection head (run.py's
`num_proj_layers` default, which the command leaves alone), online linear probe, float32.
Expected result: linear evaluation "around 91 %" top-1 (the reference README's figure).
Expected runtime: on a 2-core CPU a ResNet-18 32 px step runs at about 30 images/s, so 1000
epochs of 50,000 images would take weeks: use a GPU or a Colab TPU (not measured here).
"""

from simclr_tf.config import default_config


def get_config(arg=None):
    c = default_config()
    c.dataset = "cifar10"
    c.train_split = "train"
    c.eval_split = "test"
    c.image_size = 32
    c.batch_size = 512
    c.epochs = 1000
    c.warmup_epochs = 10
    c.model.depth = 18
    c.model.head_num_layers = 3  # run.py's default; the README command keeps it
    c.augment.color_jitter_strength = 0.5
    c.augment.blur = False
    c.loss.temperature = 0.5
    c.optimizer.base_learning_rate = 1.0
    c.optimizer.weight_decay = 1e-4
    c.knn_every_epochs = 10
    c.eval.epochs = 100
    return c
