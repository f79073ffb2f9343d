"""The installed package: the public API (`simclr_tf.__all__`, its rule and its list in
docs/layout.md), the `simclr-train` console script and the error without TensorFlow."""

import configparser
import importlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys

import pytest

import simclr_tf
import simclr_tf.train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The rule (simclr_tf/__init__.py's docstring, docs/layout.md#public-api): these layers' whole
# `__all__` is re-exported; the other layers give entry points chosen by name.
WHOLE = ("augment", "callbacks", "export", "optimizers", "protocols")


def documented_api():
    """{layer: (marked whole, [names at the top level])} from the table of docs/layout.md's
    "Public API" section (the names are the backquoted identifiers of the second column)."""
    with open(os.path.join(ROOT, "docs", "layout.md")) as f:
        text = f.read()
    section = re.search(r"^## Public API\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, 'docs/layout.md has no "## Public API" section'
    identifier = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")
    layers = {}
    for line in section.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) != 3:
            continue
        layer = identifier.match(cells[0])
        assert layer, f"a row without a layer: {line!r}"
        assert layer.group(1) not in layers, f"{layer.group(1)} has two rows"
        layers[layer.group(1)] = ("(whole)" in cells[0], identifier.findall(cells[1]))
    return layers


def test_all_is_sorted_unique_and_every_name_resolves():
    names = simclr_tf.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    missing = [name for name in names if not hasattr(simclr_tf, name)]
    assert not missing, missing


@pytest.mark.parametrize("layer", WHOLE)
def test_whole_layers_are_reexported_as_the_same_objects(layer):
    module = importlib.import_module(f"simclr_tf.{layer}")
    absent = [name for name in module.__all__ if name not in simclr_tf.__all__]
    assert not absent, f"simclr_tf.{layer}.__all__ names missing from simclr_tf.__all__: {absent}"
    for name in module.__all__:
        assert getattr(simclr_tf, name) is getattr(module, name), name


def test_every_top_level_name_is_its_layers_object():
    """Each documented name is the object of the layer whose row lists it (in that layer's
    `__all__` where it has one; `simclr_tf.models` has none: its classes live in its modules)."""
    for layer, (_, names) in documented_api().items():
        module = importlib.import_module(f"simclr_tf.{layer}")
        for name in names:
            value = getattr(simclr_tf, name)
            if layer == "models":
                assert value.__module__.startswith("simclr_tf.models."), name
                continue
            if hasattr(module, "__all__"):
                assert name in module.__all__, f"{name} is not in simclr_tf.{layer}.__all__"
            assert getattr(module, name) is value, f"not simclr_tf.{layer}.{name}: {name}"


def test_docs_public_api_lists_exactly_all():
    layers = documented_api()
    assert sorted(layer for layer, (whole, _) in layers.items() if whole) == sorted(WHOLE)
    documented = [name for _, names in layers.values() for name in names]
    duplicated = sorted({name for name in documented if documented.count(name) > 1})
    assert not duplicated, f"listed twice in docs/layout.md: {duplicated}"
    undocumented = sorted(set(simclr_tf.__all__) - set(documented))
    not_exported = sorted(set(documented) - set(simclr_tf.__all__))
    assert not undocumented, f"in simclr_tf.__all__ but not in docs/layout.md: {undocumented}"
    assert not not_exported, f"in docs/layout.md but not in simclr_tf.__all__: {not_exported}"


def test_star_import_gives_exactly_all():
    namespace = {}
    exec("from simclr_tf import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(simclr_tf.__all__)


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
