"""The offline demo (README's first command): SimCLR on the embedded Fashion-MNIST subset, on CPU.

    bash scripts/demo.sh
    # = python -m simclr_tf.train --config=tf_configs/demo.py --workdir=runs/demo

Pretrains a small ResNet-18 (width 0.25, CIFAR stem) at 28 px on the embedded, stratified
Fashion-MNIST subset shipped with the package (no download), exports the encoder, then runs linear
evaluation on the embedded test split and prints a table: the SimCLR encoder vs the same encoder
randomly initialised vs a linear model on raw pixels. Writes results.json, training_curves.png and
views.png into the work directory.
Expected runtime and result: see the README's "Offline demo" section (measured on a 2-core CPU).

How the recipe was chosen (issue 25, part 4: at most 10 minutes in all on 2 quiet cores). Every
choice was measured on a validation split carved from the 10,000 TRAIN images (pretrain on all
10,000 without labels; linear classifiers and kNN fitted on 8,000 of them, scored on the other
2,000, class-stratified, seed 123; the report's own `evaluate_features`, 3 label draws); the
2,000 test images were never used to choose anything. Columns: 1 % / 10 % / all labels / kNN.
Raw pixels on this split: 67.1 / 79.6 / 83.5 / 79.3.

- epochs = 18 (was 8): the time budget, not a tuned value. On a quiet machine an epoch takes
  24 to 37 s (490 s for the 18) and the rest of the command 75 s from a fresh clone (venv 45 s,
  export and evaluation 30 s): 9 min 25 s in all, measured; 20 epochs would pass 10 minutes. Longer helps: the former recipe gave
  62.4 / 75.8 / 81.5 / 75.1 after 4 epochs and 64.8 / 78.5 / 83.1 / 76.9 after 8.
- optimizer.base_learning_rate = 2.0 (LARS, x B/256 = 1.0; was 1.0): at 4 epochs
  65.5 / 77.2 / 82.0 / 74.3 against 62.4 / 75.8 / 81.5 / 75.1 at 1.0.
- loss.temperature = 0.5 (was 0.2): with LR 2.0, at 4 epochs 64.3 / 78.1 / 82.4 / 75.6 against
  65.5 / 77.2 / 82.0 / 74.3 at 0.2 (better in three columns and in their sum; the 1 % column is
  the noisiest: raw pixels score 65.2 to 70.6 over the 3 label draws).
- The result, this config's encoder (that of the README's run 1) on the validation split:
  70.2 / 80.1 / 84.4 / 78.6 against raw pixels' 67.1 / 79.6 / 83.5 / 79.3: 3 points ahead at
  1 %, not at 10 % or in kNN (issue 25's goal, not reached within the 10 minutes).
- Kept: width 0.25 (at width 0.5 the first epoch had not ended after 9 1/2 min, where width
  0.25 took 1 1/2 to 2 min on the same loaded machine: fewer than 4 epochs would fit), batch 128, warmup 1 epoch (the test commands run 2-epoch demos, so it stays
  at most 2), 2-layer head to 64, colour strength 0.5 (on grey images only brightness and
  contrast act), no blur. A crop area of (0.2, 1) instead of (0.08, 1) gave, at 4 epochs and
  the former LR / temperature, 64.5 / 76.6 / 80.9 / 75.8 (+2.1 / +0.8 / -0.5 / +0.7); no config
  key sets it, so it is not used.
"""

from simclr_tf.config import default_config


def get_config(arg=None):
    c = default_config()
    c.dataset = "embedded_fashion_mnist"
    c.train_split = "train"
    c.eval_split = "test"
    c.image_size = 28
    c.batch_size = 128
    c.epochs = 18
    c.warmup_epochs = 1
    c.model.depth = 18
    c.model.width_multiplier = 0.25
    c.model.head_num_layers = 2
    c.model.head_output_dim = 64
    c.augment.color_jitter_strength = 0.5
    c.augment.blur = False
    c.loss.temperature = 0.5
    c.optimizer.name = "lars"
    c.optimizer.base_learning_rate = 2.0
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
