"""NT-Xent, SimCLR's contrastive loss, with negatives from every replica."""

import numbers

import tensorflow as tf

from simclr_tf.losses.common import check_inputs, contrast_metrics, gather_replicas

# Added to the self-similarity logits, always in float32 (the inputs are cast first). Finite, so
# `0 * mask` stays 0 and no softmax row can become NaN; far below any logit of normalised
# projections (|logit| <= 1 / temperature). The reference adds -1e9 in the compute dtype, which
# overflows to -inf in float16 (max 65504): computing the logits in float32 is what makes the
# value safe whatever the input dtype.
_MASK_VALUE = -1e9


def _no_negatives_error(global_batch):
    return (
        "NT-Xent needs at least 2 images in the global batch: with 1 image a view has no "
        f"negatives. Received: global batch of {global_batch}."
    )


def contrastive_loss_and_metrics(z1, z2, temperature=0.1, hidden_norm=True):
    """NT-Xent over the 2N views of the global batch, plus the reference's metrics.

    `z1[i]` and `z2[i]` are the projections of two views of image i. Each view is an anchor
    whose positive is the other view of the same image; the 2N-2 views of the other images of
    the GLOBAL batch are its negatives. Under `tf.distribute` every replica's projections are
    gathered with `ReplicaContext.all_gather` and the positives' indices are offset by the
    rows of the replicas before this one.

    Scale: `loss = mean over the local anchors i of (loss_a[i] + loss_b[i])`, loss_a with view 1
    as the anchor and loss_b with view 2, as google-research/simclr `tf2/objective.py`, so its
    published learning rates and temperatures transfer. The paper's L (eq. 1) averages over all
    2N anchors, so `loss = 2 * L`.

    Distribution contract: under R replicas each replica returns the mean over ITS OWN N/R
    anchors (negatives still global). `tf.distribute` sums the replicas' gradients, so a custom
    train step must divide this loss by R before differentiating (Keras' `Loss.__call__` does
    that scaling, a hand-written `train_step` must do it; `SimCLR.train_step` does): the update
    is then the gradient of the global-batch mean, identical to one replica on the whole batch.

    Logits, softmax and loss are float32 whatever the input dtype (mixed precision).

    Args:
        z1, z2: (N, D) projections of the two views on this replica, any float dtype.
        temperature: > 0, the softmax temperature (0.1 ImageNet, 0.5 CIFAR in the reference).
        hidden_norm: L2-normalise the projections first (cosine similarity), as the reference.

    Returns:
        A dict of float32 scalars `loss`; `contrast_acc`, the fraction of view-1 anchors whose
        largest cross-view logit is their positive; `contrast_entropy`, the mean entropy of
        the softmax over the cross-view logits (the reference's two logged metrics, computed
        from `logits_ab` as it does); and the tensors `logits_ab`, (N, N_global), and `labels`,
        (N,), the column of each anchor's positive in `logits_ab`.

    Raises:
        ValueError: `temperature <= 0`, inputs not (batch, dim) of equal shapes, or a global
            batch of 1 image when shapes are static (an `InvalidArgumentError` at run time when
            they are not).

    Example:

    ```python
    out = simclr_tf.contrastive_loss_and_metrics(z1, z2, temperature=0.5)
    out["loss"], out["contrast_acc"], out["contrast_entropy"]
    ```
    """
    z1 = tf.cast(z1, tf.float32)
    z2 = tf.cast(z2, tf.float32)
    check_inputs(z1, z2, temperature)
    checks = []
    if not isinstance(temperature, numbers.Number):
        checks.append(
            tf.debugging.assert_positive(temperature, message="`temperature` must be > 0")
        )
    if hidden_norm:
        z1 = tf.math.l2_normalize(z1, axis=-1)
        z2 = tf.math.l2_normalize(z2, axis=-1)
    z1_all, z2_all, offset = gather_replicas(z1, z2)

    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    global_batch = z1_all.shape[0]
    if global_batch is None and z1.shape[0] is not None:
        global_batch = z1.shape[0] * replicas
    if global_batch is not None and global_batch < 2:
        raise ValueError(_no_negatives_error(global_batch))
    if global_batch is None:
        checks.append(
            tf.debugging.assert_greater_equal(
                tf.shape(z1_all)[0], 2, message=_no_negatives_error("fewer than 2")
            )
        )
    with tf.control_dependencies(checks):
        labels = tf.range(tf.shape(z1)[0]) + offset
    temperature = tf.cast(temperature, tf.float32)

    self_mask = tf.one_hot(labels, tf.shape(z1_all)[0]) * _MASK_VALUE
    logits_aa = tf.matmul(z1, z1_all, transpose_b=True) / temperature + self_mask
    logits_bb = tf.matmul(z2, z2_all, transpose_b=True) / temperature + self_mask
    logits_ab = tf.matmul(z1, z2_all, transpose_b=True) / temperature
    logits_ba = tf.matmul(z2, z1_all, transpose_b=True) / temperature
    # The positive sits at column `labels` of [ab | aa] (resp. [ba | bb]); the masked diagonal
    # of aa (bb) leaves the other 2N-2 columns as negatives.
    loss_a = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels, tf.concat([logits_ab, logits_aa], axis=1)
    )
    loss_b = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels, tf.concat([logits_ba, logits_bb], axis=1)
    )
    loss = tf.reduce_mean(loss_a + loss_b)
    return {"loss": loss, **contrast_metrics(logits_ab, labels)}


def nt_xent_loss(z1, z2, temperature=0.1, hidden_norm=True):
    """NT-Xent loss of SimCLR (Chen et al. 2020, arXiv:2002.05709, eq. 1), reference scale.

    The float32 scalar `contrastive_loss_and_metrics(...)["loss"]`: the mean over this
    replica's anchors of `loss_a + loss_b`, as google-research/simclr `tf2/objective.py`, which
    is TWICE the paper's L (the paper averages over all 2N views). The negatives of each view
    are the 2N-2 views of the other images of the global batch, gathered from every replica
    under `tf.distribute`. Under R replicas, divide by R before taking gradients (they are
    summed over replicas); see `contrastive_loss_and_metrics` for the full contract.

    Args:
        z1, z2: (N, D) projections of two views of the same N images (any float dtype).
        temperature: > 0 (0.1 on ImageNet, 0.5 on CIFAR in the reference).
        hidden_norm: L2-normalise before the dot products (cosine similarity).

    Example:

    ```python
    z1, z2 = tf.split(projection_head(encoder(tf.concat([view1, view2], 0))), 2)
    loss = simclr_tf.nt_xent_loss(z1, z2, temperature=0.1)
    ```
    """
    return contrastive_loss_and_metrics(z1, z2, temperature, hidden_norm)["loss"]
