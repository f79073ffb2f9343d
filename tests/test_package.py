"""The installed package: the `simclr-train` console script and the error without TensorFlow."""

import configparser
import importlib.metadata
import os
import shutil
import subprocess
import sys

import pytest

import simclr_tf.train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def console_scripts():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(line.replace(" ", "").split("=", 1) for line in lines)


def test_console_script_resolves_to_the_training_command():
    assert console_scripts() == {"simclr-train": "simclr_tf.train:run"}
    module, name = console_scripts()["simclr-train"].split(":")
    assert getattr(sys.modules[module], name) is simclr_tf.train.run
    # The installed distribution declares the same entry point (scripts/test.sh installs it).
    installed = importlib.metadata.entry_points(group="console_scripts", name="simclr-train")
    assert [ep.value for ep in installed] == ["simclr_tf.train:run"]


def test_console_script_runs_and_reports_a_usage_error(tmp_path):
    """The installed `simclr-train` parses its flags and the config file, and a mode without its
    inputs stops with absl's usage error (exit 1, no traceback) before any work."""
    script = shutil.which("simclr-train", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("simclr-train is not installed next to this Python (pip install -e .)")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}
    done = subprocess.run(
        [script, "--config=tf_configs/demo.py", f"--workdir={tmp_path / 'w'}",
         "--config.mode=finetune"],
        cwd=ROOT, env=env, capture_output=True, timeout=300,
    )
    assert done.returncode == 1, done.stderr.decode()[-3000:]
    assert b"needs --config.eval.checkpoint" in done.stderr
    assert b"Traceback" not in done.stderr
    assert not os.path.exists(tmp_path / "w" / "checkpoints")


def test_missing_tensorflow_names_the_install_extras():
    """Without TensorFlow, `import simclr_tf` says which extra to install (in a fresh process
    where importing tensorflow fails as if it were not installed)."""
    code = (
        "import sys\n"
        "class NoTensorFlow:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'tensorflow':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoTensorFlow())\n"
        "import simclr_tf\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          env={**os.environ, "PYTHONPATH": ROOT}, timeout=60)
    assert done.returncode == 1
    last = done.stderr.decode().strip().splitlines()[-1]
    assert last == (
        "ModuleNotFoundError: simclr_tf needs TensorFlow; install it with one of the extras: "
        "`pip install simclr_tf[cpu]`, `simclr_tf[gpu]` or `simclr_tf[tpu]`."
    )


def test_setup_stops_when_the_install_fails(tmp_path):
    """scripts/_venv.sh (behind both README commands) stops with pip's status when the install
    fails, rather than going on with whatever a reused venv already holds (a green run that
    hides a missing install step). The venv's python is a stub whose `pip install` fails and
    whose `pip check` passes, as an old, consistent install's would."""
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\n[ "$3" = install ] && { echo "ERROR: no matching distribution"; exit 3; }\nexit 0\n')
    python.chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", 'EXTRAS=cpu,test; source scripts/_venv.sh; echo "went on"'],
        cwd=ROOT, env={**os.environ, "SIMCLR_VENV": str(tmp_path / "venv")},
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert "went on" not in done.stdout
    assert "ERROR: no matching distribution" in done.stdout
    assert "failed (pip exit status 3)" in done.stderr
