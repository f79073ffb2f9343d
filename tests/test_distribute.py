"""get_strategy's choice of strategy and the global-batch checks.

TPUs, several workers and several GPUs are not available here: their constructors are replaced
by fakes that record how they were called, so the decision logic is what is tested (the
two-process multi-worker run is in test_multiworker.py).
"""

import json

import numpy as np
import pytest
import tensorflow as tf

import simclr_tf.distribute as distribute
from simclr_tf.distribute import check_global_batch, get_strategy

_TPU_ENV = ("TF_CONFIG", "COLAB_TPU_ADDR", "TPU_NAME", "TPU_ACCELERATOR_TYPE")


@pytest.fixture
def clean_env(monkeypatch):
    for name in _TPU_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(distribute.glob, "glob", lambda pattern: [])
    return monkeypatch


@pytest.fixture
def fakes(clean_env):
    """Replaces the TPU / multi-worker / mirrored constructors; returns the calls made."""
    calls = []

    def fake_tpu(tpu, zone=None, project=None):
        calls.append(("tpu", tpu, zone, project))
        return "tpu-strategy"

    clean_env.setattr(distribute, "_tpu_strategy", fake_tpu)
    clean_env.setattr(
        tf.distribute, "MultiWorkerMirroredStrategy", lambda: calls.append(("multi",)) or "multi"
    )
    clean_env.setattr(
        tf.distribute, "MirroredStrategy", lambda: calls.append(("mirrored",)) or "mirrored"
    )
    return calls


def test_default_strategy_on_cpu(clean_env):
    strategy = get_strategy()
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


def test_explicit_and_detected_tpus(fakes, clean_env):
    assert get_strategy(tpu="local") == "tpu-strategy"
    assert get_strategy(tpu="my-tpu", tpu_zone="europe-west4-a", gcp_project="p") == "tpu-strategy"
    clean_env.setenv("COLAB_TPU_ADDR", "10.0.0.2:8470")
    get_strategy()
    clean_env.delenv("COLAB_TPU_ADDR")
    clean_env.setenv("TPU_ACCELERATOR_TYPE", "v2-8")
    get_strategy()
    clean_env.delenv("TPU_ACCELERATOR_TYPE")
    clean_env.setenv("TPU_NAME", "node-1")
    get_strategy()
    clean_env.delenv("TPU_NAME")
    clean_env.setattr(distribute.glob, "glob", lambda pattern: ["/dev/accel0"])
    get_strategy()
    assert fakes == [
        ("tpu", "local", None, None),
        ("tpu", "my-tpu", "europe-west4-a", "p"),
        ("tpu", "grpc://10.0.0.2:8470", None, None),
        ("tpu", "local", None, None),
        ("tpu", "node-1", None, None),
        ("tpu", "local", None, None),
    ]


def test_unusable_detected_tpu_falls_back(clean_env):
    def failing(tpu, zone=None, project=None):
        raise tf.errors.NotFoundError(None, None, "no TPU platform")

    clean_env.setattr(distribute, "_tpu_strategy", failing)
    clean_env.setenv("TPU_ACCELERATOR_TYPE", "v2-8")
    assert get_strategy() is tf.distribute.get_strategy()


def test_multi_worker_from_tf_config(fakes, clean_env):
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    clean_env.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    )
    assert get_strategy() == "multi"
    one = {"cluster": {"chief": ["127.0.0.1:1"]}, "task": {"type": "chief", "index": 0}}
    clean_env.setenv("TF_CONFIG", json.dumps(one))
    assert get_strategy() is tf.distribute.get_strategy()  # a one-task cluster is one machine
    chief_and_worker = {"cluster": {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]}}
    clean_env.setenv("TF_CONFIG", json.dumps(chief_and_worker))
    assert get_strategy() == "multi"
    assert fakes == [("multi",), ("multi",)]


def test_bad_tf_config(clean_env):
    clean_env.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        get_strategy()
    clean_env.setenv("TF_CONFIG", json.dumps({"cluster": ["127.0.0.1:1"]}))
    with pytest.raises(ValueError, match="`cluster` must map"):
        get_strategy()


def test_mirrored_for_several_gpus(fakes, clean_env):
    real = tf.config.list_logical_devices

    def with_gpus(kind=None):
        return ["/gpu:0", "/gpu:1"] if kind == "GPU" else real(kind)

    clean_env.setattr(tf.config, "list_logical_devices", with_gpus)
    assert get_strategy() == "mirrored"
    assert fakes == [("mirrored",)]


def test_global_batch_checks(two_replicas):
    assert check_global_batch(8, two_replicas) == 4
    assert check_global_batch(np.int64(2), two_replicas) == 1  # one image per replica is enough
    assert check_global_batch(2) == 2
    with pytest.raises(
        ValueError,
        match=r"divisible by the number of replicas \(2\), e.g. 8. Received: global_batch_size=7",
    ):
        check_global_batch(7, two_replicas)
    for bad in (1, 0, 8.0):
        with pytest.raises(ValueError, match=f"global_batch_size={bad!r}"):
            check_global_batch(bad, tf.distribute.get_strategy())
