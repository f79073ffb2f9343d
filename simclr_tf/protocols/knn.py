"""Weighted k-nearest-neighbour classification of embeddings (the kNN monitor of lightly and
solo-learn, after Wu et al. 2018, "Unsupervised Feature Learning via Non-Parametric Instance
Discrimination")."""

import numpy as np
import tensorflow as tf


def knn_classify(
    train_features,
    train_labels,
    query_features,
    num_classes,
    k=200,
    temperature=0.1,
    batch_size=1024,
):
    """Predicts a class for each query from its k most cosine-similar training embeddings.

    Each neighbour votes for its label with weight `exp(similarity / temperature)`; the class
    with the largest total weight wins. k is capped at the size of the training bank.

    Args:
        train_features: (N, D) embeddings of the labelled bank.
        train_labels: (N,) integer labels in [0, num_classes).
        query_features: (M, D) embeddings to classify.
        num_classes: number of classes.
        k: neighbours per query (200 as lightly and solo-learn report it).
        temperature: softmax temperature of the votes (0.1).
        batch_size: queries per similarity block, bounding memory at batch_size x N.

    Returns:
        (M,) int32 numpy array of predicted classes.
    """
    train_features = tf.convert_to_tensor(train_features, tf.float32)
    query_features = tf.convert_to_tensor(query_features, tf.float32)
    train_labels = tf.cast(tf.reshape(train_labels, [-1]), tf.int32)
    if train_features.shape[0] == 0 or query_features.shape[0] == 0:
        raise ValueError(
            "knn_classify needs a non-empty bank and query set. Received: "
            f"{train_features.shape[0]} bank and {query_features.shape[0]} query embeddings."
        )
    if train_features.shape[-1] != query_features.shape[-1]:
        raise ValueError(
            "Bank and query embeddings must have the same width. Received: "
            f"{train_features.shape[-1]} and {query_features.shape[-1]}."
        )
    if k < 1 or temperature <= 0:
        raise ValueError(f"Need k >= 1 and temperature > 0. Received: k={k}, temperature={temperature}")
    k = min(int(k), int(train_features.shape[0]))
    bank = tf.math.l2_normalize(train_features, axis=1)
    bank_onehot = tf.one_hot(train_labels, num_classes)
    predictions = []
    for start in range(0, int(query_features.shape[0]), batch_size):
        queries = tf.math.l2_normalize(query_features[start : start + batch_size], axis=1)
        similarity = tf.matmul(queries, bank, transpose_b=True)
        top_sim, top_idx = tf.math.top_k(similarity, k=k)
        weights = tf.exp(top_sim / temperature)
        votes = tf.gather(bank_onehot, top_idx) * weights[..., None]
        predictions.append(tf.argmax(tf.reduce_sum(votes, axis=1), axis=-1, output_type=tf.int32))
    return np.concatenate([p.numpy() for p in predictions])


def knn_accuracy(train_features, train_labels, query_features, query_labels, num_classes, **kwargs):
    """Top-1 accuracy (a fraction in [0, 1]) of `knn_classify` on labelled queries."""
    predicted = knn_classify(train_features, train_labels, query_features, num_classes, **kwargs)
    return float(np.mean(predicted == np.asarray(query_labels).reshape(-1)))
