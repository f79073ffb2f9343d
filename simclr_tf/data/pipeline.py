"""The final stage every loader shares: a `Source` -> shuffle -> decode -> batch -> prefetch.

`batched` turns a source into a batched pipeline, `epochs` into the resumable training stream,
`sample_images` and `to_arrays` into numpy arrays; `shard_slice` is each input pipeline's share
of indexed records.
"""

import numpy as np
import tensorflow as tf

from simclr_tf.data.types import check_batch, check_positive_int

# Shuffle buffer of encoded records (tfds), and when the number of examples is unknown.
DEFAULT_SHUFFLE_BUFFER = 10_000


def shard_slice(num_examples, input_context):
    """(start, stop, step) of this input pipeline's share of `num_examples` indexed records.

    Every pipeline gets the same number of records (up to `num_input_pipelines - 1` are left
    out), so all workers run out of data after the same number of batches.
    """
    if input_context is None:
        return 0, num_examples, 1
    n = input_context.num_input_pipelines
    return input_context.input_pipeline_id, num_examples // n * n, n


def map_images(ds, fn, labeled):
    """Applies `fn` to the image of `(image, label)` or `image` elements, in parallel."""
    if labeled:
        return ds.map(lambda x, y: (fn(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)


def _shuffle_buffer(source, shuffle_buffer):
    """The buffer to shuffle `source` with: the argument, else the source's own default, else
    all its records (or `DEFAULT_SHUFFLE_BUFFER` when their number is unknown); never more
    than the records."""
    if shuffle_buffer is None:
        shuffle_buffer = source.shuffle_buffer or source.num_examples or DEFAULT_SHUFFLE_BUFFER
    return min(check_positive_int("shuffle_buffer", shuffle_buffer),
               source.num_examples or shuffle_buffer)


def _cached(source, cache):
    """The records, or with `cache` (True: memory; a str: a file prefix) the decoded images,
    cached."""
    if not cache:
        return source.records
    return source.decode(source.records).cache("" if cache is True else cache)


def batched(source, batch_size, *, shuffle=True, seed=None, cache=False, input_context=None,
            shuffle_buffer=None):
    """shuffle records -> decode -> batch(drop_remainder) -> prefetch; with `cache`:
    decode -> cache -> shuffle -> batch -> prefetch.

    `batch_size` is the GLOBAL batch: with an `input_context` (from
    `strategy.distribute_datasets_from_function`) each pipeline yields
    `input_context.get_per_replica_batch_size(batch_size)` examples per batch (the source is
    already sharded). `drop_remainder=True` because the contrastive loss needs a static batch.
    `cache` is True (memory) or a file prefix (disk); it stores decoded images (canvas images
    unpadded), so it suits datasets that fit, and then the shuffle buffer holds decoded images.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    check_batch(batch_size, source.num_examples, source.where)
    shuffle_buffer = _shuffle_buffer(source, shuffle_buffer)
    ds = _cached(source, cache)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if not cache:
        ds = source.decode(ds)
    ds = source.batch(ds, batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def epochs(source, batch_size, steps_per_epoch, *, first_epoch=0, seed=None, cache=False,
           shuffle_buffer=None):
    """The training stream: epoch after epoch of `steps_per_epoch` batches, from `first_epoch` on.

    Epoch e is `steps_per_epoch` batches of a shuffle seeded with (seed, e) alone (the records
    are reshuffled, with that seed, when an epoch needs more than one pass), so a run resumed
    at epoch e sees exactly the batches that an uninterrupted run sees there. With
    `seed=None` every epoch is a fresh random shuffle. `batch_size`, `cache` and
    `shuffle_buffer` are as in `batched` (no `input_context`: `fit` shards this stream).
    """
    batch_size = check_positive_int("batch_size", batch_size)
    steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch)
    check_batch(batch_size, source.num_examples, source.where)
    shuffle_buffer = _shuffle_buffer(source, shuffle_buffer)
    records = _cached(source, cache)

    def one_epoch(epoch):
        if seed is None:
            ds = records.shuffle(shuffle_buffer, reshuffle_each_iteration=True)
        else:
            # The op seed is a tensor of (seed, epoch); TensorFlow's seed logic compares the
            # graph-level seed with Python `==`, which fails on a tensor op seed when the global
            # seed is 0, so this trace runs without one (the order depends on (seed, e) only).
            graph = tf.compat.v1.get_default_graph()
            global_seed, graph.seed = graph.seed, None
            try:
                epoch_seed = tf.constant(int(seed), tf.int64) * 1_000_003 + epoch
                ds = records.shuffle(shuffle_buffer, seed=epoch_seed, reshuffle_each_iteration=True)
            finally:
                graph.seed = global_seed
        # Decoded pass by pass, then repeated: a folder's decode reports its bad files at the
        # end of each chunk of files, and a pass's last chunk then ends with the pass, which
        # every epoch reads to its end (steps x batch >= the records); decoding the repeated
        # records instead let an epoch stop inside a chunk, its bad files never reported.
        if not cache:
            ds = source.decode(ds)
        ds = ds.repeat()
        return source.batch(ds, batch_size, drop_remainder=True).take(steps_per_epoch)

    ds = tf.data.Dataset.range(int(first_epoch), 2**62).flat_map(one_epoch)
    return ds.prefetch(tf.data.AUTOTUNE)


def sample_images(source, max_examples, seed=0, chunk=256):
    """Up to `max_examples` decoded images of a source, drawn at random (seeded) from all of it,
    as numpy (a dict of arrays `{"image", "image_size"}` for a canvas source); labels dropped.
    Draws from the records before decoding, so only the drawn images are decoded."""
    max_examples = check_positive_int("max_examples", max_examples)
    # The training stream's buffer (all records unless the source says otherwise): a smaller
    # one would draw from the first records only, the first classes of a sorted folder.
    buffer = source.shuffle_buffer or source.num_examples or DEFAULT_SHUFFLE_BUFFER
    records = source.records.shuffle(buffer, seed=seed).take(max_examples)
    images = []
    for batch in source.batch(source.decode(records), chunk).prefetch(2):
        batch = batch[0] if isinstance(batch, tuple) else batch
        images.append(tf.nest.map_structure(lambda t: t.numpy(), batch))
    if not images:
        raise ValueError(f"{source.where} has no examples.")
    if isinstance(images[0], dict):
        return {k: np.concatenate([x[k] for x in images]) for k in images[0]}
    return np.concatenate(images)


def to_arrays(source, max_examples=None, chunk=256):
    """The first `max_examples` decoded `(images, labels)` of a labelled source as numpy;
    `images` is a dict of arrays `{"image", "image_size"}` for a canvas source."""
    ds = source.records if max_examples is None else source.records.take(max_examples)
    images, labels = [], []
    for x, y in source.batch(source.decode(ds), chunk).prefetch(2):
        images.append(tf.nest.map_structure(lambda t: t.numpy(), x))
        labels.append(y.numpy())
    if not images:
        raise ValueError(f"{source.where} has no examples.")
    if isinstance(images[0], dict):
        return {k: np.concatenate([x[k] for x in images]) for k in images[0]}, np.concatenate(labels)
    return np.concatenate(images), np.concatenate(labels)
