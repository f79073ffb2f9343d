"""What every pipeline shares: the dataset description and the final batching stage."""

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the training command needs to know about a dataset split."""

    num_examples: int
    num_classes: int
    class_names: tuple = ()
    image_shape: tuple = ()


def check_batch(batch_size, num_examples, where):
    """A batch larger than the data would yield zero batches with drop_remainder: say so."""
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
    if num_examples == 0:
        raise ValueError(f"{where} has no examples.")
    if batch_size > num_examples:
        raise ValueError(
            f"The batch size ({batch_size}) is larger than {where} ({num_examples} examples): "
            "with drop_remainder no batch could be formed. Lower the batch size."
        )


def finish(ds, batch_size, *, shuffle, seed, cache, input_context, num_examples, shuffle_buffer=10_000):
    """shard -> cache -> shuffle -> batch(drop_remainder) -> prefetch.

    `batch_size` is the GLOBAL batch; with an `input_context` (from
    `strategy.distribute_datasets_from_function`) the dataset is sharded by input pipeline and
    batched at the per-replica size. The contrastive loss needs a static batch, hence
    `drop_remainder=True`.
    """
    if input_context is not None:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(min(shuffle_buffer, max(num_examples, 1)), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def resize_uint8(image, image_size):
    """Host-side resize of one decoded image to (S, S): resize the shorter side to S, then centre
    crop; no-op when the image already has that size. Output uint8."""
    shape = tf.shape(image)
    h, w = shape[0], shape[1]

    def resize():
        scale = tf.cast(image_size, tf.float32) / tf.cast(tf.minimum(h, w), tf.float32)
        new_h = tf.maximum(image_size, tf.cast(tf.round(tf.cast(h, tf.float32) * scale), tf.int32))
        new_w = tf.maximum(image_size, tf.cast(tf.round(tf.cast(w, tf.float32) * scale), tf.int32))
        resized = tf.image.resize(image, [new_h, new_w], method="bilinear", antialias=True)
        top = (new_h - image_size) // 2
        left = (new_w - image_size) // 2
        cropped = resized[top : top + image_size, left : left + image_size]
        return tf.cast(tf.clip_by_value(tf.round(cropped), 0, 255), tf.uint8)

    same = tf.logical_and(tf.equal(h, image_size), tf.equal(w, image_size))
    out = tf.cond(same, lambda: tf.cast(image, tf.uint8), resize)
    return tf.ensure_shape(out, [image_size, image_size, image.shape[-1]])
