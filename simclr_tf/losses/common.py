"""What every contrastive loss here shares: input checks, the cross-replica gather, metrics."""

import numbers

import tensorflow as tf


def check_inputs(z1, z2, temperature):
    """Raises ValueError for `temperature <= 0` or inputs not (batch, dim) of equal shapes."""
    if isinstance(temperature, numbers.Number):
        if not temperature > 0:
            raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature}")
    if z1.shape.rank != 2 or z2.shape.rank != 2:
        raise ValueError(
            "`z1` and `z2` must have shape (batch, dim). "
            f"Received: z1.shape={z1.shape}, z2.shape={z2.shape}"
        )
    if not z1.shape.is_compatible_with(z2.shape):
        raise ValueError(
            "`z1` and `z2` must have the same shape (two views of the same images). "
            f"Received: z1.shape={z1.shape}, z2.shape={z2.shape}"
        )


def gather_replicas(z1, z2):
    """(z1_all, z2_all, offset): every replica's projections, and this replica's first row.

    ONE `all_gather` of `[z1 | z2 | replica id]`: differentiable (the gradient of another
    replica's loss with respect to this replica's projections flows back through it), and each
    replica's N x (2D + 1) values move once, unlike the reference's scatter-into-zeros +
    all_reduce, which sums R x N x D tensors that are mostly zeros. The replica-id column gives
    the offset of this replica's rows without a second collective, also when the local batches
    differ (a partial last batch of 7 splits 4 + 3). Outside a multi-replica context the local
    tensors are the global ones.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return z1, z2, tf.constant(0, tf.int32)
    replica_id = tf.cast(context.replica_id_in_sync_group, tf.float32)  # exact below 2**24
    ids = tf.fill([tf.shape(z1)[0], 1], replica_id)
    gathered = context.all_gather(tf.concat([z1, z2, ids], axis=1), axis=0)
    dim = z1.shape[1] if z1.shape[1] is not None else tf.shape(z1)[1]
    z1_all, z2_all, row_ids = tf.split(gathered, [dim, dim, 1], axis=1)
    offset = tf.reduce_sum(tf.cast(row_ids[:, 0] < replica_id, tf.int32))
    return z1_all, z2_all, offset


def contrast_metrics(logits_ab, labels):
    """The reference's two logged metrics from the cross-view logits, plus those logits.

    `contrast_acc`: the fraction of view-1 anchors whose largest cross-view logit is their
    positive; `contrast_entropy`: the mean entropy of the softmax over the cross-view logits.
    -sum p log p with log_softmax: exact where the reference's log(p + 1e-8) is off by at most
    N_global * 1e-8.
    """
    hits = tf.equal(tf.argmax(logits_ab, axis=1, output_type=tf.int32), labels)
    entropy = -tf.reduce_sum(
        tf.nn.softmax(logits_ab, axis=1) * tf.nn.log_softmax(logits_ab, axis=1), axis=1
    )
    return {
        "contrast_acc": tf.reduce_mean(tf.cast(hits, tf.float32)),
        "contrast_entropy": tf.reduce_mean(entropy),
        "logits_ab": logits_ab,
        "labels": labels,
    }
