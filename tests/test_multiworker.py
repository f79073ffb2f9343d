"""Two worker processes under MultiWorkerMirroredStrategy equal one process (loopback only)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "helpers", "multiworker_worker.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.large
def test_two_workers_equal_one_process(tmp_path):
    from helpers.tiny import images_and_labels, tiny_model

    model = tiny_model()
    images, _ = images_and_labels(16)
    model.build(images.shape)
    init = str(tmp_path / "init.npz")
    np.savez(init, **{f"w{i}": v.numpy() for i, v in enumerate(model.weights)})

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    single = str(tmp_path / "single.npz")
    subprocess.run([sys.executable, WORKER, single, "single", init], env=env, check=True, timeout=300)

    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, outs = [], []
    for index in range(2):
        out = str(tmp_path / f"worker{index}.npz")
        worker_env = {**env, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen([sys.executable, WORKER, out, "multi", init], env=worker_env,
                                      stderr=subprocess.PIPE))
        outs.append(out)
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]

    ref, start = np.load(single), np.load(init)
    first = np.load(outs[0])
    for out in outs:
        got = np.load(out)
        # 4 steps, 2 epochs. The first epoch's loss agrees to 1e-4; the second follows updates
        # that differ by a few percent (below), so it may differ by up to about 1 % (seen:
        # 0.1 % and 0.9 % with two random inits; the fused BN of the single process and the
        # workers' synchronized BN round differently).
        np.testing.assert_allclose(got["loss"][0], ref["loss"][0], rtol=1e-4)
        np.testing.assert_allclose(got["loss"][1], ref["loss"][1], rtol=2e-2)
        for key in ref.files:
            if key.startswith("w"):
                np.testing.assert_array_equal(got[key], first[key])  # workers stay in sync
                # Updates agree to a few percent: collective all-reduces (synchronized BN,
                # gradients) sum in another order than one process, and 4 steps amplify it.
                # A wrong replica scaling or per-worker BN would be off by a factor.
                update, expected = got[key] - start[key], ref[key] - start[key]
                norm = np.linalg.norm(expected)
                if norm > 0:
                    assert np.linalg.norm(update - expected) <= 0.1 * norm, key
