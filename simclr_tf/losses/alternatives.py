"""The paper's other contrastive losses (Table 2): NT-Logistic and margin triplet.

Chen et al. 2020 (arXiv:2002.05709), Section 5.1 and Table 4 compare NT-Xent with

    NT-Logistic      l(u) = -log sigma(u.v+ / tau) - log sigma(-u.v- / tau)
    Margin triplet   l(u) = max(u.v- - u.v+ + m, 0)

(Table 2 writes the *negative* losses), for l2-normalised u, v+, v-. Both weigh every negative
alike, so the paper also trains them with semi-hard negative mining (Schroff et al. 2015): per
anchor, only the negative "within the loss margin and closest in distance, but farther than
positive examples" enters the loss. Appendix B.10: "we only consider the negatives from one
augmentation view (instead of both sides)": the anchor z1[i]'s negatives are the view-2
projections of the other images, z2[k], k != i (and symmetrically for the view-2 anchors).

Choices the paper leaves open, made here and documented:
- Without mining, the negative term is the MEAN over an anchor's N_global - 1 negatives (a sum
  would grow with the batch and swamp the single positive term).
- Semi-hard negative of anchor i: argmax_k {u.v_k : u.v_k < u.v+} over the negatives (the
  closest one still farther than the positive). When no negative is farther than the positive,
  the farthest negative is used (the FaceNet / tf-addons `triplet_semihard_loss` fallback). For
  the margin loss the chosen negative then counts only when it lies within the margin, which is
  exactly "within the loss margin"; NT-Logistic has no margin, so the rule is the same without
  that clause.
- Scale as NT-Xent here (reference scale): `loss = mean over local anchors i of (loss_a[i] +
  loss_b[i])`, view 1 then view 2 as the anchor, negatives gathered from every replica with the
  same `all_gather` as NT-Xent, so 1 replica at batch B equals 2 replicas at B/2 (and a train step
  divides by the replica count as for NT-Xent).
- `contrast_acc` and `contrast_entropy` are computed as for NT-Xent from the cross-view logits
  u.v / temperature (for the margin loss `temperature` only enters these metrics).
"""

import functools
import numbers

import tensorflow as tf

from simclr_tf.losses.common import check_inputs, contrast_metrics, gather_replicas
from simclr_tf.losses.nt_xent import contrastive_loss_and_metrics

LOSSES = ("nt_xent", "nt_logistic", "margin_triplet")


def _similarities(z1, z2, temperature, hidden_norm):
    """Cross-view similarities of the local anchors with every replica's other view.

    Returns (sim_ab, sim_ba, labels): (N, N_global) matrices u.v and each anchor's positive
    column.
    """
    z1 = tf.cast(z1, tf.float32)
    z2 = tf.cast(z2, tf.float32)
    check_inputs(z1, z2, temperature)
    if hidden_norm:
        z1 = tf.math.l2_normalize(z1, axis=-1)
        z2 = tf.math.l2_normalize(z2, axis=-1)
    z1_all, z2_all, offset = gather_replicas(z1, z2)
    global_batch = z1_all.shape[0]
    if global_batch is not None and global_batch < 2:
        raise ValueError(
            "A contrastive loss needs at least 2 images in the global batch: with 1 image a "
            f"view has no negatives. Received: global batch of {global_batch}."
        )
    labels = tf.range(tf.shape(z1)[0]) + offset
    sim_ab = tf.matmul(z1, z2_all, transpose_b=True)
    sim_ba = tf.matmul(z2, z1_all, transpose_b=True)
    return sim_ab, sim_ba, labels


def semi_hard_negatives(similarities, labels):
    """Per anchor, the column of its semi-hard negative (see the module docstring).

    Args:
        similarities: (N, M) anchor-candidate similarities; column `labels[i]` is anchor i's
            positive, every other column a negative.
        labels: (N,) int32.

    Returns:
        (N,) int32 column indices, never the positive's.
    """
    num = tf.shape(similarities)[1]
    is_negative = tf.logical_not(tf.cast(tf.one_hot(labels, num), tf.bool))
    positive = tf.gather(similarities, labels, batch_dims=1)[:, None]
    farther = tf.logical_and(is_negative, similarities < positive)
    # Similarities of l2-normalised vectors lie in [-1, 1] (any finite value without the norm):
    # -inf / +inf fillers keep excluded columns out of the argmax / argmin.
    closest_farther = tf.argmax(
        tf.where(farther, similarities, -float("inf")), axis=1, output_type=tf.int32
    )
    farthest = tf.argmin(
        tf.where(is_negative, similarities, float("inf")), axis=1, output_type=tf.int32
    )
    return tf.where(tf.reduce_any(farther, axis=1), closest_farther, farthest)


def _per_anchor(similarities, labels, pair_loss, semi_hard):
    """mean over negatives (or the semi-hard one) of pair_loss(positive, negative)."""
    num = tf.shape(similarities)[1]
    positive = tf.gather(similarities, labels, batch_dims=1)
    if semi_hard:
        negative = tf.gather(similarities, semi_hard_negatives(similarities, labels), batch_dims=1)
        return pair_loss(positive, negative)
    mask = 1.0 - tf.one_hot(labels, num)
    losses = pair_loss(positive[:, None], similarities)
    return tf.reduce_sum(losses * mask, axis=1) / tf.reduce_sum(mask, axis=1)


def _loss_and_metrics(z1, z2, temperature, hidden_norm, pair_loss, semi_hard):
    sim_ab, sim_ba, labels = _similarities(z1, z2, temperature, hidden_norm)
    temperature = tf.cast(temperature, tf.float32)
    loss_a = _per_anchor(sim_ab, labels, pair_loss, semi_hard)
    loss_b = _per_anchor(sim_ba, labels, pair_loss, semi_hard)
    return {"loss": tf.reduce_mean(loss_a + loss_b), **contrast_metrics(sim_ab / temperature, labels)}


def nt_logistic_loss_and_metrics(z1, z2, temperature=0.1, hidden_norm=True, semi_hard=False):
    """NT-Logistic (paper Table 2) with negatives from every replica, plus NT-Xent's metrics.

    Per anchor u with positive v+: `-log sigma(u.v+ / tau)` plus the mean over its negatives v-
    (or the semi-hard one) of `-log sigma(-u.v- / tau)`. Scale, replicas and metrics as
    `simclr_tf.contrastive_loss_and_metrics`; see this module's docstring for the choices.

    Args:
        z1, z2: (N, D) projections of the two views on this replica.
        temperature: > 0 (the paper tunes it in {0.1, 0.2, 0.5, 1.0}, Appendix B.10).
        hidden_norm: l2-normalise first (the paper uses it for every loss).
        semi_hard: use only each anchor's semi-hard negative.

    Returns:
        The dict of `contrastive_loss_and_metrics`: `loss`, `contrast_acc`, `contrast_entropy`,
        `logits_ab`, `labels`.
    """

    def pair_loss(positive, negative):
        temp = tf.cast(temperature, tf.float32)
        # -log sigma(x) = softplus(-x), stable for large |x|.
        return tf.nn.softplus(-positive / temp) + tf.nn.softplus(negative / temp)

    return _loss_and_metrics(z1, z2, temperature, hidden_norm, pair_loss, semi_hard)


def margin_triplet_loss_and_metrics(
    z1, z2, temperature=0.1, hidden_norm=True, margin=0.4, semi_hard=False
):
    """Margin triplet loss (paper Table 2) with negatives from every replica, plus metrics.

    Per anchor u with positive v+: the mean over its negatives v- (or the semi-hard one) of
    `max(u.v- - u.v+ + margin, 0)`. `temperature` enters only `contrast_entropy` and the
    returned `logits_ab` (u.v / temperature), so the metrics read as NT-Xent's.

    Args:
        z1, z2: (N, D) projections of the two views on this replica.
        temperature: > 0, for the metrics only.
        hidden_norm: l2-normalise first (the paper uses it for every loss).
        margin: >= 0 (the paper tunes it in {0, 0.4, 0.8, 1.6}, Appendix B.10).
        semi_hard: use only each anchor's semi-hard negative.
    """
    if isinstance(margin, numbers.Number) and margin < 0:
        raise ValueError(f"`margin` must be >= 0. Received: margin={margin}")

    def pair_loss(positive, negative):
        return tf.nn.relu(negative - positive + margin)

    return _loss_and_metrics(z1, z2, temperature, hidden_norm, pair_loss, semi_hard)


def nt_logistic_loss(z1, z2, temperature=0.1, hidden_norm=True, semi_hard=False):
    """The float32 scalar NT-Logistic loss (paper Table 2), reference scale.

    Example:

    ```python
    loss = simclr_tf.nt_logistic_loss(z1, z2, temperature=0.2, semi_hard=True)
    ```
    """
    return nt_logistic_loss_and_metrics(z1, z2, temperature, hidden_norm, semi_hard)["loss"]


def margin_triplet_loss(z1, z2, margin=0.4, hidden_norm=True, semi_hard=False):
    """The float32 scalar margin triplet loss (paper Table 2), reference scale.

    Example:

    ```python
    loss = simclr_tf.margin_triplet_loss(z1, z2, margin=0.4, semi_hard=True)
    ```
    """
    return margin_triplet_loss_and_metrics(
        z1, z2, hidden_norm=hidden_norm, margin=margin, semi_hard=semi_hard
    )["loss"]


def get_contrastive_loss(loss):
    """Resolves a loss spec into a function with `contrastive_loss_and_metrics`' signature.

    Args:
        loss: None or "nt_xent" (the default), "nt_logistic", "margin_triplet", or a dict
            `{"name": NAME, **options}` with options `semi_hard` (nt_logistic, margin_triplet)
            and `margin` (margin_triplet).

    Returns:
        `fn(z1, z2, temperature, hidden_norm) -> dict` as `contrastive_loss_and_metrics`.
    """
    received = loss
    if loss is None:
        loss = "nt_xent"
    if isinstance(loss, str):
        loss = {"name": loss}
    if not isinstance(loss, dict) or "name" not in loss:
        raise ValueError(
            f"`loss` must be one of {list(LOSSES)} or a dict {{'name': ..., **options}}. "
            f"Received: loss={received!r}"
        )
    options = dict(loss)
    name = options.pop("name")
    allowed = {"nt_xent": set(), "nt_logistic": {"semi_hard"}, "margin_triplet": {"semi_hard", "margin"}}
    if name not in allowed:
        raise ValueError(
            f"`loss` name must be one of {list(LOSSES)}. Received: loss={received!r}"
        )
    unknown = set(options) - allowed[name]
    if unknown:
        raise ValueError(
            f"Loss {name!r} takes the options {sorted(allowed[name])}; unknown "
            f"{sorted(unknown)}. Received: loss={received!r}"
        )
    if name == "nt_xent":
        return contrastive_loss_and_metrics
    fn = nt_logistic_loss_and_metrics if name == "nt_logistic" else margin_triplet_loss_and_metrics
    return functools.partial(fn, **options)
