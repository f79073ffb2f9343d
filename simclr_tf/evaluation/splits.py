"""The data of the evaluation modes: the labelled training split at `eval.label_fraction`, the
test split, and the partly labelled training data of distillation."""

import numpy as np
import tensorflow as tf

from simclr_tf import data
from simclr_tf.config import data_options
from simclr_tf.protocols.label_fractions import labelled_dataset, stratified_fraction
from simclr_tf.protocols.recipe import training_dataset


class Split:
    """One split of a dataset: read once in order (features, tests), or shuffled and repeated
    in full batches (`fit`). Streams from its source, so it suits splits of any size."""

    def __init__(self, config, name, split, image_size, labeled=True):
        self.config, self.name, self.split, self.labeled = config, name, split, labeled
        self.image_size = image_size
        self.source = data.get_source(
            name, split, image_size, labeled=labeled, shuffle=False, **data_options(config)
        )
        self.info = self.source.info
        self.arrays = None

    def batches(self, batch_size):
        """Every example once, in order, the last batch partial."""
        ds = self.source.decode(self.source.records)
        return self.source.batch(ds, batch_size).prefetch(tf.data.AUTOTUNE)

    def repeated(self, batch_size):
        """`(dataset, batch_size, num_examples)`: shuffled, full batches, repeated."""
        c = self.config
        ds, info = data.get_dataset(
            self.name, self.split, batch_size, self.image_size, labeled=self.labeled,
            shuffle=True, seed=c.seed, cache=c.cache, with_info=True, **data_options(c),
        )
        num_examples = c.num_train_examples or info.num_examples
        if not num_examples:
            raise ValueError(
                f"The size of {self.name} split {self.split!r} is unknown; set "
                "--config.num_train_examples."
            )
        return ds.repeat(), batch_size, int(num_examples)


class LabelSubset(Split):
    """A stratified, seeded label fraction of a split (`stratified_fraction`), in memory."""

    def __init__(self, config, name, split, image_size, fraction):
        self.config, self.name, self.split, self.labeled = config, name, split, True
        self.image_size = image_size
        images, labels = data.load_arrays(name, split, image_size, **data_options(config))
        keep = stratified_fraction(labels, fraction, config.eval.label_fraction_seed)
        self.arrays = (data.take(images, keep), labels[keep])
        self.info = None

    def batches(self, batch_size):
        return tf.data.Dataset.from_tensor_slices(self.arrays).batch(batch_size)

    def repeated(self, batch_size):
        return training_dataset(self.arrays, batch_size, seed=self.config.seed)


def labelled_splits(config, image_size):
    """`(train, test)`: the training split at `eval.label_fraction` (ImageNet's official
    subsets through tfds, a stratified fraction otherwise) and the `eval_split`."""
    name, fraction = labelled_dataset(config.dataset, config.eval.label_fraction)
    if fraction is None:
        train = Split(config, name, config.train_split, image_size)
    else:
        train = LabelSubset(config, name, config.train_split, image_size, fraction)
    test = Split(config, config.dataset, config.eval_split, image_size)
    if not test.info.num_classes:
        raise ValueError(
            f"{config.dataset} split {config.eval_split!r} has no labels to evaluate on."
        )
    return train, test


def partly_labelled_arrays(config, image_size):
    """The training split in memory with the labels outside `eval.label_fraction` set to -1
    (unlabelled), for distillation's labelled term."""
    name, fraction = labelled_dataset(config.dataset, config.eval.label_fraction)
    if name != config.dataset:
        raise ValueError(
            f"distill.alpha < 1 marks the labelled images of {config.dataset} in memory; the "
            f"official {name} subset cannot be. Use distill.alpha=1.0 (distillation only)."
        )
    images, labels = data.load_arrays(
        config.dataset, config.train_split, image_size, **data_options(config)
    )
    if fraction is not None:
        keep = stratified_fraction(labels, fraction, config.eval.label_fraction_seed)
        masked = np.full_like(labels, -1)
        masked[keep] = labels[keep]
        labels = masked
    return images, labels
