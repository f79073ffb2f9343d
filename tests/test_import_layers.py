"""The package's modules import each other without cycles: every import counts, at module top
or inside a function (an import moved into a function to dodge a cycle is still a layering
fault)."""

import ast
import os
import shutil

import simclr_tf

PACKAGE_DIR = os.path.dirname(simclr_tf.__file__)


def module_imports(package_dir):
    """{module: set of package modules it imports} for every .py file under `package_dir`.

    A sub-package's __init__ is a module (importing anything below it runs it); the top
    package's __init__ (the public re-exports) is left out, and so is a module's import of a
    package that contains it (its own parent's re-exports)."""
    name = os.path.basename(package_dir)
    root = os.path.dirname(package_dir)
    modules = {}
    for folder, _, files in os.walk(package_dir):
        for file in files:
            if file.endswith(".py"):
                dotted = os.path.relpath(os.path.join(folder, file), root)[:-3].replace(os.sep, ".")
                modules[dotted.removesuffix(".__init__")] = os.path.join(folder, file)

    def resolve(target):
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target

    edges = {}
    for module, path in modules.items():
        if module == name:
            continue
        is_package = path.endswith("__init__.py")
        targets = set()
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
                    base = ".".join(parts + ([base] if base else []))
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in names:
                found = resolve(target) if target.startswith(name) else None
                if found and found not in (module, name) and not module.startswith(found + "."):
                    targets.add(found)
        edges[module] = targets
    return edges


def cycles(edges):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    edges = module_imports(PACKAGE_DIR)
    assert len(edges) > 50  # the walk found the package
    assert edges["simclr_tf.study.runner"] >= {"simclr_tf.train", "simclr_tf.study.report"}
    assert cycles(edges) == []


def package_copy(tmp_path, appended_to_workdir):
    """A copy of the package whose workdir.py ends with `appended_to_workdir`."""
    copy = tmp_path / "simclr_tf"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("*.npz", "__pycache__"))
    path = copy / "workdir.py"
    path.write_text(path.read_text() + appended_to_workdir)
    return str(copy)


def test_a_cycle_added_on_purpose_is_found(tmp_path):
    """A copy of the package with one import inside a function that closes a loop."""
    copy = package_copy(tmp_path, "\n\ndef _loop():\n    from simclr_tf import train\n")
    found = cycles(module_imports(copy))
    assert any({"simclr_tf.workdir", "simclr_tf.train"} <= set(c) for c in found), found


# Packages the evaluation protocols (a library) must not import: the command layer built on them,
# and what runs commands.
PROTOCOLS_MUST_NOT_IMPORT = (
    "simclr_tf.evaluation", "simclr_tf.callbacks", "simclr_tf.train", "simclr_tf.study",
    "simclr_tf.workdir",
)


def forbidden_imports(edges, importers, forbidden):
    """{module: sorted forbidden targets} for the modules under `importers` that import any
    module under one of the `forbidden` packages."""

    def under(module, package):
        return module == package or module.startswith(package + ".")

    found = {}
    for module, targets in edges.items():
        if under(module, importers):
            bad = sorted(t for t in targets if any(under(t, p) for p in forbidden))
            if bad:
                found[module] = bad
    return found


def test_protocols_and_callbacks_stay_below_the_evaluation_commands():
    """simclr_tf.protocols imports no command layer, callbacks, train or study; callbacks
    import the protocols, never simclr_tf.evaluation (docs/layout.md)."""
    edges = module_imports(PACKAGE_DIR)
    protocols = [m for m in edges if m.startswith("simclr_tf.protocols.")]
    assert len(protocols) >= 8, protocols  # the walk found the protocol modules
    assert forbidden_imports(edges, "simclr_tf.protocols", PROTOCOLS_MUST_NOT_IMPORT) == {}
    assert "simclr_tf.protocols.knn" in edges["simclr_tf.callbacks.knn_monitor"]
    assert forbidden_imports(edges, "simclr_tf.callbacks", ("simclr_tf.evaluation",)) == {}


# The only imports allowed inside functions: optional dependencies a user may not have installed
# (matplotlib is the `plots` extra), imported where they are needed.
OPTIONAL_DEPENDENCIES = ("matplotlib",)


def function_level_imports(package_dir):
    """["path:line module"] for every import statement inside a function body."""
    found = []
    for folder, _, files in os.walk(package_dir):
        for file in sorted(files):
            if not file.endswith(".py"):
                continue
            path = os.path.join(folder, file)
            with open(path) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import):
                        modules = [alias.name for alias in inner.names]
                    elif isinstance(inner, ast.ImportFrom):
                        modules = [inner.module or "."]
                    else:
                        continue
                    for module in modules:
                        if module.split(".")[0] not in OPTIONAL_DEPENDENCIES:
                            rel = os.path.relpath(path, os.path.dirname(package_dir))
                            found.append(f"{rel}:{inner.lineno} {module}")
    return sorted(set(found))


def test_imports_sit_at_module_top():
    """Imports inside functions hide the layering (and cost on every call); only optional
    dependencies may be imported late."""
    assert function_level_imports(PACKAGE_DIR) == []


def test_a_late_import_added_on_purpose_is_found(tmp_path):
    copy = package_copy(tmp_path, "\n\ndef _late():\n    import json\n    import matplotlib\n")
    found = function_level_imports(copy)
    assert len(found) == 1 and found[0].startswith("simclr_tf/workdir.py:") and found[0].endswith(" json")
