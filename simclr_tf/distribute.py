"""Choosing the distribution strategy: TPU, multi-worker, several GPUs, or the default."""

import glob
import json
import numbers
import os

import tensorflow as tf
from absl import logging


def get_strategy(tpu=None, tpu_zone=None, gcp_project=None):
    """The `tf.distribute` strategy for this machine, or for the TPU named by `tpu`.

    In order:
    1. `tpu` given: a `TPUStrategy` on it: `"local"` for a TPU VM (Colab TPU runtimes, Cloud TPU
       VMs), else a Cloud TPU name or a `grpc://` address (`tpu_zone` and `gcp_project` as the
       reference's flags, for named TPUs in another zone or project).
    2. A TPU detected: `COLAB_TPU_ADDR` (legacy Colab TPU node) gives its gRPC address; TPU
       devices, `TPU_ACCELERATOR_TYPE` or `/dev/accel*` (TPU VMs) give `"local"`; `TPU_NAME`
       gives that TPU.
       If connecting fails the search goes on, with a warning.
    3. `TF_CONFIG` listing more than one task (workers plus chief): a
       `MultiWorkerMirroredStrategy`. Every worker runs the same program.
    4. More than one GPU: a `MirroredStrategy` over them.
    5. Otherwise the default strategy (one device).

    Build and compile the model inside `strategy.scope()`. Batch sizes in configs and datasets
    are GLOBAL: each of the R replicas gets batch / R images (`check_global_batch`), and each
    replica's loss is a mean over its own images that the train step divides by R, so the
    summed update is the global-batch mean whatever R is.

    Args:
        tpu: `None` (detect), `"local"`, a TPU name or a `grpc://host:port` address.
        tpu_zone, gcp_project: for a named Cloud TPU; `None` uses the VM's own.

    Example:

    ```python
    strategy = simclr_tf.get_strategy()         # or get_strategy(tpu="local") on Colab
    with strategy.scope():
        model = simclr_tf.SimCLR(...)
        model.compile(optimizer=simclr_tf.LARS(...))
    ```
    """
    if tpu:
        return _tpu_strategy(tpu, tpu_zone, gcp_project)
    address = _detected_tpu()
    if address is not None:
        try:
            return _tpu_strategy(address, tpu_zone, gcp_project)
        except (ValueError, RuntimeError, tf.errors.OpError) as e:  # not a usable TPU after all
            logging.warning("TPU %r detected but not usable (%s); not using a TPU.", address, e)
    workers = _num_workers()
    if workers > 1:
        logging.info("TF_CONFIG lists %d workers: MultiWorkerMirroredStrategy", workers)
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        logging.info("%d GPUs: MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _tpu_strategy(tpu, zone=None, project=None):
    if tpu == "local":
        # A TPU VM's chips are attached to this host: no remote cluster to connect to.
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
    else:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu, zone=zone, project=project
        )
        tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    strategy = tf.distribute.TPUStrategy(resolver)
    logging.info("TPU %s: %d replicas", tpu, strategy.num_replicas_in_sync)
    return strategy


def _detected_tpu():
    """A TPU address to try ("local" or grpc://...), or None when nothing suggests a TPU."""
    if os.environ.get("COLAB_TPU_ADDR"):
        return "grpc://" + os.environ["COLAB_TPU_ADDR"]
    if tf.config.list_physical_devices("TPU"):
        return "local"
    # On TPU VMs the chips show up as TPU devices only once the system is initialised: look for
    # the runtime's environment (TPU VM images, Colab) or the v2-v4 chips' device files.
    if os.environ.get("TPU_NAME"):  # a Cloud TPU node's name, or "local"
        return os.environ["TPU_NAME"]
    if os.environ.get("TPU_ACCELERATOR_TYPE"):
        return "local"
    if glob.glob("/dev/accel[0-9]*"):
        return "local"
    return None


def _num_workers():
    """Tasks of a multi-worker `TF_CONFIG` (workers plus chief); 0 without one."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"TF_CONFIG is not valid JSON ({e}). Received: TF_CONFIG={raw[:200]!r}"
        ) from e
    cluster = config.get("cluster", {}) if isinstance(config, dict) else {}
    if not isinstance(cluster, dict):
        raise ValueError(
            "TF_CONFIG's `cluster` must map task types to address lists. "
            f"Received: TF_CONFIG={raw[:200]!r}"
        )
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def check_global_batch(global_batch_size, strategy=None):
    """The per-replica batch, or a clear error when the global batch cannot be split.

    `SimCLR.fit` runs this check on its dataset's batch; call it yourself to fail early, e.g.
    before building a custom input pipeline with `strategy.distribute_datasets_from_function`.

    The global batch must divide evenly over `strategy.num_replicas_in_sync` (each replica
    gets the same number of images, as TPUs require and as the loss's global-batch mean
    assumes) and hold at least 2 images (with 1, a view has no negatives). One image per
    replica is enough: the negatives are gathered from every replica.

    Args:
        global_batch_size: images per step over all replicas.
        strategy: a `tf.distribute.Strategy`; `None` uses the current one.
    """
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if not isinstance(global_batch_size, numbers.Integral) or global_batch_size < 2:
        raise ValueError(
            "The global batch size must be an integer >= 2: NT-Xent needs at least 2 images "
            "(a single image has no negatives). "
            f"Received: global_batch_size={global_batch_size!r}"
        )
    if global_batch_size % replicas:
        raise ValueError(
            f"The global batch size must be divisible by the number of replicas ({replicas}), "
            f"e.g. {(global_batch_size // replicas + 1) * replicas}. "
            f"Received: global_batch_size={global_batch_size}"
        )
    return global_batch_size // replicas
