"""get_strategy and the global-batch checks."""

import json

import pytest
import tensorflow as tf

from simclr_tf.distribute import _num_workers, check_global_batch, get_strategy


def test_default_strategy_on_cpu(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)
    assert get_strategy().num_replicas_in_sync == 1


def test_tf_config_parsing(monkeypatch):
    cluster = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    assert _num_workers() == 2
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        _num_workers()


def test_global_batch_checks(two_replicas):
    assert check_global_batch(8, two_replicas) == 4
    with pytest.raises(ValueError, match="divisible by the number of replicas"):
        check_global_batch(7, two_replicas)
    with pytest.raises(ValueError, match="at least 2 images"):
        check_global_batch(1, tf.distribute.get_strategy())
