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


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Each test starts with float32 policy and fresh Keras names, and leaves the logging as it
    found it: a test that runs the training command's `main()` in-process installs its quiet
    filter and verbosity, which would hide later tests' log lines from `caplog`."""
    from absl import logging as absl_logging

    keras.mixed_precision.set_global_policy("float32")
    # Not `gc.collect()` (clear_session's default): with a session's worth of TensorFlow objects
    # alive it cost ~2 s before every test, 928 s of a 2,392 s default suite.
    keras.utils.clear_session(free_memory=False)
    # Every test starts from seed 0 (Python, numpy, TensorFlow, Keras' initialisers), after the
    # session reset that clears Keras' seed state, so what it draws does not depend on which
    # tests ran before it on its worker: with --dist loadfile two unseeded tests drew initial
    # weights that failed them. (Its `tf.random.set_seed` clears TensorFlow's kernel cache; the
    # suite measured no slower for it: 323 and 325 s with it, 317 s without, same machine.)
    keras.utils.set_random_seed(0)
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
    import shutil

    from helpers.tiny import tiny_config

    from simclr_tf.train import pretrain

    base = tmp_path_factory.getbasetemp()
    # Workers' base folders are siblings in the run's folder; a lone process uses its own.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    workdir, done = shared / "pretrain_shared", shared / "pretrain_shared.done"
    with open(shared / "pretrain_shared.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                shutil.rmtree(workdir, ignore_errors=True)  # a worker that died mid-run
                workdir.mkdir()
                pretrain(tiny_config(), str(workdir))
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return str(workdir)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
