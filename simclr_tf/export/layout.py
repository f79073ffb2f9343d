"""The TF-Serving directory layout `<base>/<model_name>/<version>/`, written atomically.

TF-Serving watches `<base>/<model_name>/` and loads the highest integer child folder. Two facts
shape this module: the server may look while an export is being written (and would load half a
SavedModel), and it ignores children whose names are not integers. So every export is written to a
hidden sibling (`.tmp-<version>-<random>`) and renamed into place when complete; replacing a
version renames the old one aside first, so the version folder is missing for the instant
between two renames but never half-written.
"""

import os
import re
import uuid

import tensorflow as tf

_VERSION = re.compile(r"0|[1-9][0-9]*")


def split_version_path(path):
    """`(model_dir, version)` of `<base>/<model_name>/<version>`, or ValueError.

    Accepts local paths and any filesystem `tf.io.gfile` reads (`gs://...`).
    """
    if hasattr(path, "__fspath__"):
        path = os.fspath(path)
    if not isinstance(path, str) or not path.strip("/\\"):
        raise ValueError(
            "`path` must be a folder path ending in an integer version, the TF-Serving layout "
            f"<base>/<model_name>/<version> (e.g. 'exports/simclr_encoder/1'). Received: path={path!r}"
        )
    trimmed = path.rstrip("/\\")
    cut = max(trimmed.rfind("/"), trimmed.rfind("\\"))
    model_dir, version = trimmed[:cut] if cut > 0 else trimmed[: cut + 1], trimmed[cut + 1 :]
    if not _VERSION.fullmatch(version):
        raise ValueError(
            "`path` must end in an integer version folder, the TF-Serving layout "
            "<base>/<model_name>/<version> (e.g. 'exports/simclr_encoder/1'; no leading zeros). "
            f"Received: path={path!r}"
        )
    return model_dir or ".", int(version)


def existing_versions(model_dir):
    """The integer versions already under `model_dir` (sorted), as TF-Serving would see them."""
    if not tf.io.gfile.isdir(model_dir):
        return []
    names = (name.rstrip("/") for name in tf.io.gfile.listdir(model_dir))
    return sorted(int(name) for name in names if _VERSION.fullmatch(name))


def check_version_path(path, overwrite=False):
    """`(model_dir, version, target)`; ValueError for a bad path, FileExistsError for a taken
    version unless `overwrite`."""
    model_dir, version = split_version_path(path)
    target = os.fspath(path).rstrip("/\\")
    if tf.io.gfile.exists(target) and not overwrite:
        versions = existing_versions(model_dir)
        next_path = os.path.join(model_dir, str(max(versions, default=version) + 1))
        raise FileExistsError(
            f"Version {version} of the model in '{model_dir}' already exists ({target}). "
            f"Pass `overwrite=True` to replace it, or export to the next version, '{next_path}'."
        )
    return model_dir, version, target


def write_version(path, write_fn, overwrite=False):
    """Calls `write_fn(tmp_dir)` and moves the result to `path`, a version folder.

    Args:
        path: `<base>/<model_name>/<version>`.
        write_fn: writes a complete SavedModel to the folder it is given.
        overwrite: replace an existing version; without it an existing version is an error.

    Returns:
        The version folder (`path` without a trailing separator).
    """
    model_dir, version, target = check_version_path(path, overwrite)
    tf.io.gfile.makedirs(model_dir)
    token = uuid.uuid4().hex[:8]
    tmp = os.path.join(model_dir, f".tmp-{version}-{token}")
    old = os.path.join(model_dir, f".old-{version}-{token}")
    try:
        write_fn(tmp)
        if tf.io.gfile.exists(target):
            _move_tree(target, old)
        _move_tree(tmp, target)
    except BaseException:
        if tf.io.gfile.exists(old) and not tf.io.gfile.exists(target):
            _move_tree(old, target)  # Put the previous version back.
        raise
    finally:
        for leftover in (tmp, old):
            _remove_tree(leftover)
    return target


def _move_tree(source, target):
    """Renames a folder: one atomic rename on a local disk; elsewhere (object stores such as
    `gs://`, where a folder rename copies object by object, and `ram://`, which renames no
    folder contents) a file-by-file copy with `saved_model.pb` last, so that the target is
    not a SavedModel until every other file is in place, then the source is deleted."""
    if "://" not in os.fspath(source):
        tf.io.gfile.rename(source, target)
        return
    files = []
    for folder, _, names in tf.io.gfile.walk(source):
        rel = os.path.relpath(folder, source) if folder != source else ""
        files += [(rel, name) for name in names]
    files.sort(key=lambda f: (f == ("", "saved_model.pb"), f))
    for rel, name in files:
        tf.io.gfile.makedirs(os.path.join(target, rel) if rel else target)
        tf.io.gfile.copy(os.path.join(source, rel, name), os.path.join(target, rel, name), overwrite=True)
    _remove_tree(source)


def _remove_tree(path):
    try:
        if tf.io.gfile.exists(path):
            tf.io.gfile.rmtree(path)
    except tf.errors.NotFoundError:  # ram:// lists folders it cannot delete
        pass
