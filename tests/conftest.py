"""Shared test set-up: two logical CPUs, so MirroredStrategy tests run on one CPU box.

The logical devices must be configured before TensorFlow initialises its runtime, which is why
this happens at import time of conftest, before any test module touches TensorFlow.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    # pytest-xdist runs one worker per core: each worker's kernels get its share of the cores,
    # rather than every worker spreading each op over all of them and contending.
    tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 1) // _workers))

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402


@pytest.fixture(scope="session")
def two_replicas():
    """A MirroredStrategy over two logical CPUs, one for the whole session.

    One instance, because every new MirroredStrategy over the same devices restarts its
    collective instance keys while the runtime keeps the previous ones: a second strategy's
    all_gather then collides with the first one's all_reduce ("Collective instance 100 expected
    type 0 ... but got type 2") and every later collective in the process is aborted.
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def _seed_keras_without_clearing_tf_caches(seed):
    """`keras.utils.set_random_seed` less TensorFlow's global seed (Keras 3.15's own steps)."""
    import random

    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    global_state.set_global_attribute("global_random_seed", seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Each test starts with float32 policy and fresh Keras names, and leaves the logging as it
    found it: a test that runs the training command's `main()` in-process installs its quiet
    filter and verbosity, which would hide later tests' log lines from `caplog`."""
    from absl import logging as absl_logging

    keras.mixed_precision.set_global_policy("float32")
    # Every test starts from the same seeds for Keras' initialisers and Python's and numpy's
    # global generators, so the weights it draws do not depend on which tests ran before it on
    # its worker (a module's tests moved with --dist loadfile, and two unseeded tests then drew
    # initial weights that failed them). Not `keras.utils.set_random_seed`: its
    # `tf.random.set_seed` clears TensorFlow's kernel cache, which made the suite ~25 % slower.
    _seed_keras_without_clearing_tf_caches(0)
    # Not `gc.collect()` (clear_session's default): with a session's worth of TensorFlow objects
    # alive it cost ~2 s before every test, 928 s of a 2,392 s default suite.
    keras.utils.clear_session(free_memory=False)
    verbosity = absl_logging.get_verbosity()
    yield
    keras.mixed_precision.set_global_policy("float32")
    from simclr_tf.train import quiet_logs

    quiet_logs(verbosity=1)  # removes a leftover filter
    absl_logging.set_verbosity(verbosity)
    tf.get_logger().setLevel("WARNING")


@pytest.fixture(scope="session")
def pretrain_workdir(tmp_path_factory):
    """The training command's pretraining (`simclr_tf.train.pretrain`) at `tiny_config` size,
    run once per test run: the evaluation modes' tests start from its work directory (config,
    checkpoints, export) and must not change it.

    Under pytest-xdist every worker is its own session, so the first worker to ask runs it in
    the run's shared temporary folder under a file lock and the others wait for it and read its
    work directory (it took 10 to 13 s per worker); `done` marks a finished run, so a worker
    that died mid-run leaves nothing that a later one would take for finished."""
    import fcntl

    from helpers.tiny import tiny_config

    from simclr_tf.train import pretrain

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        workdir = str(tmp_path_factory.mktemp("pretrain"))
        pretrain(tiny_config(), workdir)
        return workdir
    shared = tmp_path_factory.getbasetemp().parent  # the same folder for every worker
    workdir = shared / "pretrain_shared"
    with open(shared / "pretrain_shared.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (shared / "pretrain_shared.done").exists():
                if workdir.exists():
                    import shutil

                    shutil.rmtree(workdir)
                workdir.mkdir()
                pretrain(tiny_config(), str(workdir))
                (shared / "pretrain_shared.done").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return str(workdir)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
