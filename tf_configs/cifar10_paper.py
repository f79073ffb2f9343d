"""CIFAR-10 as in the SimCLR paper (Appendix B.9): ResNet-50 with the CIFAR stem.

    python -m simclr_tf.train --config=tf_configs/cifar10_paper.py --workdir=runs/cifar10_r50

From the paper: ResNet-50 whose first conv is 3x3 stride 1 without max-pool (the CIFAR stem,
chosen by image_size <= 32), batch 1024, colour strength 0.5, no blur, LARS, the v1 paper's
2-layer projection head, float32. The paper tunes temperature and learning rate; this config uses
temperature 0.5, base learning rate 1.0 (x batch/256), weight decay 1e-6 and 1000 epochs (our
choice within the paper's grid; change them with --config.loss.temperature=... etc.).
Expected result: the paper reports 94.0 % linear evaluation top-1 for its best setting.
Expected runtime: not measured here (ResNet-50 costs about 2.3x a ResNet-18 step); meant for
a TPU or several GPUs.
"""

from simclr_tf.config import default_config


def get_config(arg=None):
    c = default_config()
    c.dataset = "cifar10"
    c.train_split = "train"
    c.eval_split = "test"
    c.image_size = 32
    c.batch_size = 1024
    c.epochs = 1000
    c.model.depth = 50
    c.model.head_num_layers = 2
    c.augment.color_jitter_strength = 0.5
    c.augment.blur = False
    c.loss.temperature = 0.5
    c.optimizer.base_learning_rate = 1.0
    c.optimizer.weight_decay = 1e-6
    c.knn_every_epochs = 10
    c.eval.epochs = 100
    return c
