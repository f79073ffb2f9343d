"""The offline demo (README's first command): SimCLR on the embedded Fashion-MNIST subset, on CPU.

    bash scripts/demo.sh
    # = python -m simclr_tf.train --config=tf_configs/demo.py --workdir=runs/demo

Pretrains a small ResNet-18 (width 0.25, CIFAR stem) at 28 px on the embedded, stratified
Fashion-MNIST subset shipped with the package (no download), exports the encoder, then runs linear
evaluation on the embedded test split and prints a table: the SimCLR encoder vs the same encoder
randomly initialised vs a linear model on raw pixels. Writes results.json, training_curves.png and
views.png into the work directory.
Expected runtime and result: see the README's "Offline demo" section (measured on a 2-core CPU).
"""

from simclr_tf.config import default_config


def get_config(arg=None):
    c = default_config()
    c.dataset = "embedded_fashion_mnist"
    c.train_split = "train"
    c.eval_split = "test"
    c.image_size = 28
    c.batch_size = 128
    c.epochs = 8
    c.warmup_epochs = 1
    c.model.depth = 18
    c.model.width_multiplier = 0.25
    c.model.head_num_layers = 2
    c.model.head_output_dim = 64
    c.augment.color_jitter_strength = 0.5
    c.augment.blur = False
    c.temperature = 0.2
    c.optimizer.name = "lars"
    c.optimizer.base_learning_rate = 1.0
    c.optimizer.weight_decay = 1e-4
    c.knn_every_epochs = 2
    c.knn_num_examples = 2000
    c.log_images = True
    c.eval.epochs = 30
    c.eval.batch_size = 256
    c.eval.compare_baselines = True
    c.eval.standardize_features = True  # fair to the random-init baseline's tiny feature scale
    c.eval.plots = True
    return c
