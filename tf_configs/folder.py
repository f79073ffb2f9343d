"""Pretraining on your own images: a folder of JPEG/PNG files of any sizes, labelled or not.

    python -m simclr_tf.train --config=tf_configs/folder.py --config.dataset=dir:PATH --workdir=DIR

PATH is a flat folder of images (no labels) or a tree of one sub-folder per class (searched
recursively); PATH/train is read instead when it exists. Pretrains a ResNet-18 at 96 px (the
ImageNet stem) on views cropped from each image at native resolution (canvas 220 px), batch 128,
100 epochs: the reference's CIFAR-10 recipe (LARS 1.0 x B/256, weight decay 1e-4, temperature
0.5) with the ImageNet augmentation (colour strength 1.0, blur; tf_configs/stl10.py's at 96 px).
Corrupt or unreadable files are skipped and each is logged (`data.skip_corrupt`). The online
linear probe runs when the folder has class sub-folders (two or more) and is off for a flat
folder; the log says which ("Online linear probe: on (...)" / "off (...)").

Writes into DIR: checkpoints (re-running resumes), history.csv, TensorBoard logs with views,
the encoder as a SavedModel (export/encoder/1), and retrieval.png: 8 images of the folder, each
beside its 5 nearest neighbours among 1,000 drawn from it (cosine of the encoder's features).
The run's last line ("Done: {...}") names the grid and says whether the probe ran.
Expected runtime: measured on the project's 2-core CPU while other jobs shared it (load
average 8), on 1,000 images of 40 to 120 px (Fashion-MNIST pictures written as JPEG and PNG at
mixed sizes): 100 to 160 s an epoch after the first (191 s, graph building included), so the
100 epochs take 3 to 4.5 hours there. That 3-epoch run used 2 min 46 s of CPU time in all
(start-up, export and grid included), at most 55 s an epoch: on two idle cores an estimated
45 min for 100 epochs. The retrieval grid adds under a minute. Not measured on a GPU.
A folder of fewer than 128 images needs a smaller batch (`--config.batch_size=32`).
Expected result: none measured (there is no fixed test set); the retrieval grid shows what the
encoder finds alike.
"""

from simclr_tf.config import default_config


def get_config(arg=None):
    c = default_config()
    c.dataset = "dir:"  # the folder: --config.dataset=dir:PATH (required)
    c.train_split = "train"  # PATH/train when it exists, else PATH
    c.eval_split = "test"
    c.image_size = 96
    c.batch_size = 128
    c.epochs = 100
    c.warmup_epochs = 10
    c.model.depth = 18
    c.model.head_num_layers = 2
    c.data.skip_corrupt = True  # a photo folder often holds a bad file; each one is logged
    c.loss.temperature = 0.5
    c.optimizer.base_learning_rate = 1.0
    c.optimizer.weight_decay = 1e-4
    c.retrieval.num_queries = 8
    c.retrieval.num_neighbours = 5
    c.retrieval.num_examples = 1000
    return c
