"""Choosing the distribution strategy: TPU, multi-worker, several GPUs, or the default."""

import json
import os

import tensorflow as tf
from absl import logging


def get_strategy(tpu=None):
    """The strategy for this machine, or for the TPU named by `tpu`.

    Order: an explicit `tpu` ("local" on Colab / Cloud TPU VMs, or a TPU name / grpc address)
    gives a `TPUStrategy`; otherwise a TPU is auto-detected (a TPU VM, or `COLAB_TPU_ADDR` on
    legacy Colab TPU runtimes); a `TF_CONFIG` with more than one worker gives a
    `MultiWorkerMirroredStrategy`; more than one GPU gives a `MirroredStrategy`; else the default
    strategy (one device). Build and compile the model inside `strategy.scope()`.

    The batch size in configs and datasets is the GLOBAL batch; each of the R replicas gets
    batch / R, which must divide evenly (`check_global_batch`).
    """
    if tpu:
        return _tpu_strategy(tpu)
    detected = _detect_tpu()
    if detected is not None:
        return detected
    if _num_workers() > 1:
        logging.info("TF_CONFIG lists several workers: MultiWorkerMirroredStrategy")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        logging.info("%d GPUs: MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _tpu_strategy(tpu):
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    if tpu != "local":
        tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    logging.info("TPU %s: %s", tpu, resolver.num_accelerators())
    return tf.distribute.TPUStrategy(resolver)


def _detect_tpu():
    if os.environ.get("COLAB_TPU_ADDR"):
        return _tpu_strategy("grpc://" + os.environ["COLAB_TPU_ADDR"])
    # TPU VMs expose the chips through libtpu: they appear as "TPU" physical devices only after
    # initialisation, so look for the accel devices instead of asking TensorFlow.
    if os.path.exists("/dev/accel0") or os.path.isdir("/dev/vfio") and os.environ.get("TPU_NAME"):
        try:
            return _tpu_strategy("local")
        except (ValueError, tf.errors.OpError) as e:  # not a TPU after all
            logging.warning("TPU detection failed (%s); not using a TPU.", e)
    return None


def _num_workers():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}). Received: {raw[:200]}") from e
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def check_global_batch(global_batch_size, strategy=None):
    """The per-replica batch, or a clear error when the global batch cannot be split.

    Each replica needs at least one image (and the global batch at least 2, for negatives).
    """
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if global_batch_size < 2:
        raise ValueError(
            "NT-Xent needs at least 2 images per global batch (a single image has no negatives). "
            f"Received: batch_size={global_batch_size}"
        )
    if global_batch_size % replicas:
        raise ValueError(
            f"The global batch size ({global_batch_size}) must be divisible by the number of "
            f"replicas ({replicas}). Received: batch_size={global_batch_size}"
        )
    return global_batch_size // replicas
