"""Pretraining on your own images (tf_configs/folder.py, the README's "Pretraining on your own
images"): a flat folder of mixed sizes with a corrupt file, a tree of class sub-folders, the
probe's on/off rule, and the data keys."""

import csv
import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf import builders
from simclr_tf.config import check_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--config.image_size=16", "--config.batch_size=4", "--config.epochs=1",
        "--config.warmup_epochs=0", "--config.model.width_multiplier=0.125",
        "--config.export=False", "--config.log_images=False",
        "--config.retrieval.num_queries=3", "--config.retrieval.num_neighbours=4"]
# Sizes of every shape and orientation, JPEG and PNG, grey shades set apart.
SIZES = [(20, 30), (50, 17), (16, 16), (64, 48), (9, 70), (33, 33), (40, 25), (12, 60)]


def folder_config(**overrides):
    path = os.path.join(ROOT, "tf_configs", "folder.py")
    spec = importlib.util.spec_from_file_location("folder", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    for key, value in overrides.items():
        section, _, name = key.rpartition("__")
        (config[section] if section else config)[name] = value
    return config


def readme_command(folder, workdir):
    """The README's command for your own images, on `folder` into `workdir`."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme.split("## Pretraining on your own images", 1)[1].split("\n## ", 1)[0]
    line = re.search(r"^python -m simclr_tf\.train .*$", section, re.M).group(0)
    words = [f"--config.dataset=dir:{folder}" if w.startswith("--config.dataset=") else
             f"--workdir={workdir}" if w.startswith("--workdir=") else w for w in line.split()]
    assert words[:3] == ["python", "-m", "simclr_tf.train"]
    assert "--config=tf_configs/folder.py" in words
    return [sys.executable, *words[1:]]


def write_images(folder, sizes, start=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(start)
    for i, (h, w) in enumerate(sizes, start):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        encode, ext = (tf.io.encode_png, "png") if i % 2 else (tf.io.encode_jpeg, "jpg")
        tf.io.write_file(os.path.join(folder, f"{i:02d}.{ext}"), encode(image))


def write_corrupt(path):
    """The first 300 bytes of a real JPEG: a file cut short, as an interrupted copy leaves it."""
    write_images(os.path.dirname(path), [(40, 40)], start=90)
    whole = os.path.join(os.path.dirname(path), "90.jpg")
    with open(whole, "rb") as f:
        head = f.read(300)
    os.remove(whole)
    with open(path, "wb") as f:
        f.write(head)


def test_the_readme_command_on_a_flat_folder_with_a_corrupt_file(tmp_path):
    """The README's command (read from it) on 8 images of 8 sizes and one truncated JPEG, no
    labels, at tiny sizes: it trains with the probe off and says so, skips and names the bad
    file, and ends with the retrieval grid, named in its last line."""
    folder, workdir = str(tmp_path / "photos"), str(tmp_path / "run")
    write_images(folder, SIZES)
    write_corrupt(os.path.join(folder, "cut_short.jpg"))
    command = readme_command(folder, workdir) + [*TINY, "--config.data.canvas_size=48"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "Online linear probe: off (the data has no labels: no class sub-folders)" in log
    assert log.count("has no 'train' sub-folder: reading the folder itself") == 1, log[-3000:]
    assert re.search(r"Skipped corrupt or unreadable image file .*cut_short\.jpg", log)
    summary = json.loads(re.search(r"Done: (\{.*\})", log).group(1))  # the run's last line
    grid = os.path.join(workdir, "retrieval.png")
    assert summary["retrieval_grid"] == grid and summary["probe"].startswith("off")
    assert summary["num_train_examples"] == 9  # files: the bad one is skipped while reading
    # 3 query rows, each the query and 4 neighbours (96 px tiles, 6 px gaps, 16 px captions).
    pixels = tf.io.decode_png(tf.io.read_file(grid)).numpy()
    assert pixels.shape[:2] == (6 + 3 * (16 + 96 + 6), 6 + 5 * (96 + 6) + 6)
    with open(os.path.join(workdir, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and np.isfinite(float(rows[0]["contrast_loss"]))
    assert not [key for key in rows[0] if key.startswith("probe")]
    with open(os.path.join(workdir, "config.json")) as f:
        data = json.load(f)["config"]["data"]
    assert data == {"skip_corrupt": True, "canvas_size": 48}


def test_a_tree_of_class_sub_folders_turns_the_probe_on(tmp_path):
    """Two class sub-folders: the probe trains (its metrics in the history) and the summary
    says so; the retrieval grid is written for labelled data too."""
    from simclr_tf.train import pretrain

    root = tmp_path / "classes"
    write_images(str(root / "cats"), SIZES[:4])
    write_images(str(root / "dogs" / "nested"), SIZES[4:], start=4)
    config = folder_config(dataset=f"dir:{root}", image_size=16, batch_size=4, epochs=1,
                           warmup_epochs=0, model__width_multiplier=0.125, export=False,
                           log_images=False, retrieval__num_queries=2)
    _, summary = pretrain(config, str(tmp_path / "run"))
    assert summary["probe"] == "on (2 classes: cats, dogs)"
    with open(tmp_path / "run" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert 0.0 <= float(rows[0]["probe_top1"]) <= 1.0 and float(rows[0]["probe_loss"]) > 0
    assert os.path.exists(summary["retrieval_grid"])


def test_the_probe_runs_only_on_labels_of_two_classes_or_more(tmp_path):
    flat, one, two = tmp_path / "flat", tmp_path / "one", tmp_path / "two"
    write_images(str(flat), SIZES[:3])
    write_images(str(one / "only"), SIZES[:3])
    write_images(str(two / "a"), SIZES[:2])
    write_images(str(two / "b"), SIZES[2:3])
    cases = {
        flat: (0, "off (the data has no labels: no class sub-folders)"),
        one: (0, "off (one class only: only)"),
        two: (2, "on (2 classes: a, b)"),
    }
    for folder, (classes, said) in cases.items():
        source, probe = builders.build_training_source(folder_config(dataset=f"dir:{folder}"))
        assert (source.info.num_classes, probe) == (classes, said)
        assert source.num_examples == 3
    config = folder_config(dataset=f"dir:{two}")
    config.model.probe = False
    source, probe = builders.build_training_source(config)
    assert (source.info.num_classes, probe) == (0, "off (model.probe=False)")


def test_canvas_size_key_sets_the_canvas(tmp_path):
    write_images(str(tmp_path / "flat"), SIZES[:4])
    shapes = {}
    for canvas in (None, 0, 48):
        config = folder_config(dataset=f"dir:{tmp_path / 'flat'}", image_size=16,
                               data__canvas_size=canvas)
        source, _ = builders.build_training_source(config)
        shapes[canvas] = source.info.image_shape
    # None: 16/7 of the view, rounded up; 0: the host's square resize to the view size.
    assert shapes == {None: (37, 37, 3), 0: (16, 16, 3), 48: (48, 48, 3)}


def test_data_keys_are_checked_before_anything_runs():
    with pytest.raises(ValueError, match=r"--config.dataset=dir:/path/to/images.*dataset='dir:'"):
        check_data(folder_config())  # the config's own default: the folder must be given
    with pytest.raises(ValueError, match=r"data.canvas_size=-1"):
        check_data(folder_config(dataset="dir:x", data__canvas_size=-1))
    check_data(folder_config(dataset="dir:x", data__canvas_size=0))


def test_evaluation_modes_and_the_supervised_baseline_read_the_data_keys(tmp_path):
    """A labelled folder with a corrupt file: the evaluation modes' splits skip it and use the
    config's canvas, as pretraining does (they used to ignore `data.*`)."""
    from simclr_tf.evaluation.splits import LabelSubset, Split

    root = tmp_path / "classes"
    write_images(str(root / "cats"), SIZES[:4])
    write_images(str(root / "dogs"), SIZES[4:], start=4)
    write_corrupt(str(root / "dogs" / "cut_short.jpg"))
    config = folder_config(dataset=f"dir:{root}", image_size=16, data__canvas_size=0)
    split = Split(config, config.dataset, "train", 16)
    images = np.concatenate([x.numpy() for x, _ in split.batches(4)])
    assert images.shape == (8, 16, 16, 3)  # square (canvas_size=0), the bad file skipped
    subset = LabelSubset(config, config.dataset, "train", 16, 0.5)
    assert subset.arrays[0].shape == (4, 16, 16, 3)
    config.data.skip_corrupt = False
    with pytest.raises(tf.errors.InvalidArgumentError, match="cut_short"):
        list(Split(config, config.dataset, "train", 16).batches(4))
