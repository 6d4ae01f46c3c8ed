"""The layer rule (docs/architecture.md): imports run only downward.

    sw/  (semantics, parameter objects, the network model)            layer 0
    hw/  and  ext/  (the MyHDL and Cython twins; neither imports the other)  layer 1
    equivalence/  (proofs)   and   twinspike/ (application)          layer 2; neither imports the other

Every module of the installed package is read (``ast`` for ``.py``; the ``import`` and
``cimport`` lines of ``.pyx``/``.pxd``), including imports inside functions. The one allowed
upward-looking arrow is ``twinspike hdl verify`` loading the proof levels when it runs.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ALLOWED = {"sw": {"sw"}, "hw": {"sw", "hw"}, "ext": {"sw", "ext"},
           "equivalence": {"sw", "hw", "ext", "equivalence"}, "app": {"sw", "hw", "ext", "app"}}
#: (importing module, imported module): arrows the rule allows by name, each with its reason.
EXCEPTIONS = {("twinspike.cli", "twinspike.equivalence"):
              "`twinspike hdl verify` loads the proof levels when it runs (lazy, with a message "
              "naming the test extra when hypothesis is missing)"}
SUBPACKAGES = ("sw", "hw", "ext", "equivalence")
_CYTHON_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import|c?import\s+([\w.]+))", re.M)


def layer(module: str) -> str | None:
    """The layer of a ``twinspike`` module name (None: not twinspike's)."""
    parts = module.split(".")
    if parts[0] != "twinspike":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in SUBPACKAGES else "app"


def _module_files() -> dict[str, Path]:
    """Every source file of the installed package, by dotted module name."""
    import twinspike.equivalence
    import twinspike.ext
    import twinspike.hw
    import twinspike.sw

    files = {}
    roots = [("twinspike", Path(twinspike.__file__).parent)] + [
        (f"twinspike.{sub}", Path(getattr(twinspike, sub).__file__).parent) for sub in SUBPACKAGES]
    for package, root in roots:
        for path in root.rglob("*"):
            if path.suffix not in (".py", ".pyx", ".pxd") or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(root).with_suffix("")
            if package == "twinspike" and rel.parts[0] in SUBPACKAGES:
                continue                      # an in-tree layout: counted under its own root
            parts = [p for p in rel.parts if p != "__init__"]
            files[".".join([package, *parts])] = path
    return files


def _resolve(module: str, path: Path, level: int, name: str | None) -> str:
    """The absolute name of a relative import ``from .name`` inside ``module``."""
    package = module.split(".") if path.stem == "__init__" else module.split(".")[:-1]
    base = package[:len(package) - level + 1]
    return ".".join(base + ([name] if name else []))


def imports_of(module: str, path: Path) -> set[str]:
    """The twinspike modules ``module`` (source file ``path``) imports, anywhere in the file."""
    text = path.read_text()
    found = set()
    if path.suffix in (".pyx", ".pxd"):
        for match in _CYTHON_IMPORT.finditer(text):
            name = match.group(1) or match.group(2)
            found.add(_resolve(module, path, len(name) - len(name.lstrip(".")),
                               name.lstrip(".")) if name.startswith(".") else name)
    else:
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                name = (_resolve(module, path, node.level, node.module) if node.level
                        else node.module)
                found.add(name)
                found.update(f"{name}.{alias.name}" for alias in node.names)
    return {name for name in found if name and layer(name)}


def violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer(target) in ALLOWED[layer(module)]:
                continue
            if any(module == a and (target == b or target.startswith(b + "."))
                   for a, b in EXCEPTIONS):
                continue
            bad.append(f"{module} ({layer(module)}) imports {target} ({layer(target)})")
    return bad


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return {module: imports_of(module, path) for module, path in _module_files().items()}


def test_the_walk_sees_every_layer(graph):
    for expected in ("twinspike.sw.network_model", "twinspike.hw.toolchain",
                     "twinspike.ext.network", "twinspike.equivalence.levels", "twinspike.cli",
                     "twinspike.convert.report"):
        assert expected in graph, f"{expected} not found among {sorted(graph)}"
    assert "twinspike.sw.network_model" in graph["twinspike.sw.network"]      # relative import
    assert "twinspike.sw.network_model" in graph["twinspike.ext.network"]     # .pyx import


def test_imports_run_only_downward(graph):
    assert violations(graph) == []


def test_the_application_loads_the_proofs_only_where_allowed(graph):
    users = sorted(m for m, targets in graph.items() if layer(m) == "app"
                   and any(layer(t) == "equivalence" for t in targets))
    assert users == ["twinspike.cli"]


def test_an_upward_arrow_is_caught():
    graph = {"twinspike.sw.network": {"twinspike.network"},
             "twinspike.hw.dense_engine": {"twinspike.ext.dense_engine"},
             "twinspike.ext.network": {"twinspike.hw.toolchain"},
             "twinspike.equivalence.network": {"twinspike.convert.convert"},
             "twinspike.glm.experiment": {"twinspike.equivalence.glm_neuron"},
             "twinspike.hwrun": {"twinspike.hw.dense_engine", "twinspike.sw.network"}}
    assert len(violations(graph)) == 5
