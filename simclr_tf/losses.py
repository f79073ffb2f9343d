"""NT-Xent, SimCLR's contrastive loss, with negatives from every replica."""

import tensorflow as tf

# Added to the self-similarity logits. Finite (so 0 * mask stays 0 and nothing becomes NaN) and
# far below any cosine / temperature value, computed in float32 where it is representable;
# the reference's 1e9 mask in float16 would overflow to inf, hence the cast to float32 first.
_MASK_VALUE = -1e9


def _gather_replicas(tensor):
    """(local, gathered, replica id): `all_gather` over replicas, differentiable.

    Outside a multi-replica context the gathered tensor is the local one. The gather moves each
    replica's N x D projections once, unlike the reference's scatter-into-zeros + all_reduce,
    which sends an R x N x D tensor of mostly zeros.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tensor, tf.constant(0, tf.int32)
    replica_id = tf.cast(context.replica_id_in_sync_group, tf.int32)
    return context.all_gather(tensor, axis=0), replica_id


def contrastive_loss_and_metrics(z1, z2, temperature=0.1, hidden_norm=True):
    """NT-Xent over the 2N views of the global batch, plus the reference's metrics.

    `z1[i]` and `z2[i]` are the projections of two views of image i. For each view the positive
    is the other view of the same image and the 2N-2 views of the other images of the GLOBAL
    batch are the negatives: under `tf.distribute`, every replica's projections are gathered
    with `all_gather` and the labels are offset by the replica id.

    Scale: `loss = mean over the local anchors i of (loss_a[i] + loss_b[i])`, where loss_a uses
    view 1 as anchor and loss_b view 2, exactly as google-research/simclr `tf2/objective.py`, so
    its published learning rates and temperatures transfer. The paper's L averages over all 2N
    anchors, i.e. `loss = 2 * L`. Under R replicas each replica returns the mean over its own
    N/R anchors; a train step dividing it by R and summing the replica gradients (as
    `SimCLR.train_step` does) gets the gradient of the global-batch mean.

    Logits, softmax and loss are computed in float32 whatever the input dtype (mixed precision).

    Args:
        z1, z2: (N, D) projections of the two views on this replica.
        temperature: > 0, the softmax temperature.
        hidden_norm: L2-normalise the projections first (cosine similarity).

    Returns:
        dict of float32 scalars `loss`, `contrast_acc` (fraction of view-1 anchors whose
        largest cross-view logit is their positive) and `contrast_entropy` (mean entropy of
        the softmax over the cross-view logits), and the tensors `logits_ab` (N, N_global) and
        `labels` (N,) (index of each anchor's positive).
    """
    if not temperature > 0:
        raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature}")
    z1 = tf.cast(z1, tf.float32)
    z2 = tf.cast(z2, tf.float32)
    if z1.shape.rank != 2 or z2.shape.rank != 2:
        raise ValueError(
            f"Projections must have shape (batch, dim). Received: {z1.shape} and {z2.shape}"
        )
    if hidden_norm:
        z1 = tf.math.l2_normalize(z1, axis=-1)
        z2 = tf.math.l2_normalize(z2, axis=-1)
    z1_all, replica_id = _gather_replicas(z1)
    z2_all, _ = _gather_replicas(z2)
    global_batch = z1_all.shape[0]
    if global_batch is not None and global_batch < 2:
        raise ValueError(
            "NT-Xent needs at least 2 images in the global batch: with 1 image a view has no "
            f"negatives. Received: global batch of {global_batch}."
        )
    local_batch = tf.shape(z1)[0]
    labels = tf.range(local_batch) + replica_id * local_batch
    if global_batch is None:
        tf.debugging.assert_greater_equal(
            tf.shape(z1_all)[0], 2,
            message="NT-Xent needs at least 2 images in the global batch (1 has no negatives)",
        )
    self_mask = tf.one_hot(labels, tf.shape(z1_all)[0]) * _MASK_VALUE
    inv_t = 1.0 / temperature
    logits_aa = tf.matmul(z1, z1_all, transpose_b=True) * inv_t + self_mask
    logits_bb = tf.matmul(z2, z2_all, transpose_b=True) * inv_t + self_mask
    logits_ab = tf.matmul(z1, z2_all, transpose_b=True) * inv_t
    logits_ba = tf.matmul(z2, z1_all, transpose_b=True) * inv_t
    # The positive sits at column `labels` of [ab | aa] (resp. [ba | bb]).
    loss_a = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels, tf.concat([logits_ab, logits_aa], axis=1)
    )
    loss_b = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels, tf.concat([logits_ba, logits_bb], axis=1)
    )
    loss = tf.reduce_mean(loss_a + loss_b)

    hits = tf.equal(tf.argmax(logits_ab, axis=1, output_type=tf.int32), labels)
    probs = tf.nn.softmax(logits_ab, axis=1)
    entropy = -tf.reduce_mean(tf.reduce_sum(probs * tf.math.log(probs + 1e-8), axis=1))
    return {
        "loss": loss,
        "contrast_acc": tf.reduce_mean(tf.cast(hits, tf.float32)),
        "contrast_entropy": entropy,
        "logits_ab": logits_ab,
        "labels": labels,
    }


def nt_xent_loss(z1, z2, temperature=0.1, hidden_norm=True):
    """NT-Xent loss of SimCLR (Chen et al. 2020, eq. 1), at the reference's scale.

    Returns the float32 scalar `contrastive_loss_and_metrics(...)["loss"]`: the mean over this
    replica's anchors of `loss_a + loss_b`, which is twice the paper's L (the paper averages
    over all 2N views). Negatives: the 2N-2 other views of the global batch, gathered from every
    replica under `tf.distribute`.

    Args:
        z1, z2: (N, D) projections of two views of the same N images.
        temperature: > 0 (0.1 on ImageNet, 0.5 on CIFAR in the reference).
        hidden_norm: L2-normalise before the dot products (cosine similarity).

    Example:

    ```python
    loss = simclr_tf.nt_xent_loss(z1, z2, temperature=0.1)
    ```
    """
    return contrastive_loss_and_metrics(z1, z2, temperature, hidden_norm)["loss"]
