"""STL-10: pretraining on the 100k unlabelled + 5k labelled training images at 96 px.

    python -m simclr_tf.train --config=tf_configs/stl10.py --workdir=runs/stl10

ResNet-50 at 96 px (standard stem), batch 512, 500 epochs, LARS 1.0 (x batch/256), weight decay
1e-6, temperature 0.5, colour strength 1.0 with blur (blur kernel 9 px at 96 px), 2-layer head.
STL-10 is not in the SimCLR papers: these settings follow the CIFAR recipe scaled to 96 px. The
`unlabelled` split has no labels, so the online probe is off.
Expected result: no reference figure from the SimCLR papers; not measured here.
Expected runtime: not measured here (ResNet-50 at 96 px costs about 9x a 32 px step).
"""

from simclr_tf.config import default_config


def get_config(arg=None):
    c = default_config()
    c.dataset = "stl10"
    c.train_split = "train+unlabelled"
    c.eval_split = "test"
    c.image_size = 96
    c.batch_size = 512
    c.epochs = 500
    c.model.depth = 50
    c.model.head_num_layers = 2
    c.model.probe = False
    c.loss.temperature = 0.5
    c.optimizer.base_learning_rate = 1.0
    c.optimizer.weight_decay = 1e-6
    return c
