"""The layer's import structure: no import cycles, and no imports hidden inside functions.

A function-local import is how a cycle hides: the module imports fine until the function runs.
So every import in ``picks`` sits at module level (or under ``TYPE_CHECKING``), except the few
allowed below for a stated reason; the import graph has no cycle; and every module imports on its
own in a fresh interpreter, whatever was imported before it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import picks

LAYER = Path(picks.__file__).resolve().parent
ROOT = LAYER.parent

# (module, imported module) -> why the import is inside a function.
ALLOWED_FUNCTION_IMPORTS = {
    ("picks.services", "boto3"): "Services.build alone needs boto3's session; a Lambda importing "
    "picks.services for the types should not pay for importing boto3",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(LAYER.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The modules an import statement names (for ``from X import y``: X, and X.y if y is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def _imports(path: Path, *, in_functions: bool) -> list[tuple[str, int]]:
    """(imported module, line) of the module's runtime imports: at module level (``in_functions``
    False: what importing it runs), or inside functions (True).  ``TYPE_CHECKING`` blocks are skipped."""
    module = _module_name(path)
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                if in_function == in_functions:
                    names = _imported(child, module, path.name == "__init__.py")
                    found.extend((name, child.lineno) for name in names)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, True)
            else:
                visit(child, in_function)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def test_no_imports_inside_functions_except_the_allowed_ones() -> None:
    hidden = []
    for module, path in _modules().items():
        for imported, line in _imports(path, in_functions=True):
            if imported.split(".")[0] == "picks" and imported not in _modules():
                continue  # ``from picks.x import name``: the module itself is reported
            if (module, imported) not in ALLOWED_FUNCTION_IMPORTS:
                hidden.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert hidden == [], (
        "move these imports to module level (or allow them here, with the reason):\n" + "\n".join(hidden)
    )


def test_the_allow_list_names_imports_that_exist() -> None:
    modules = _modules()
    for module, imported in ALLOWED_FUNCTION_IMPORTS:
        assert imported in {name for name, _ in _imports(modules[module], in_functions=True)}, (
            module,
            imported,
        )


def _module_graph() -> dict[str, set[str]]:
    """Module -> the layer modules it imports, at module level or in a function (a cycle through a
    function's import is a cycle all the same).  Importing ``a.b.c`` also runs the ``a`` and ``a.b``
    package inits; those edges are left out (a package's init importing its own submodules is how
    it re-exports them), the module named is kept."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        imported = _imports(path, in_functions=False) + _imports(path, in_functions=True)
        graph[module] = {name for name, _ in imported if name in modules and name != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """A cycle of the graph (its modules, sorted), if it has one: the standard library's topological
    sort names one when it meets it."""
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        return [sorted(set(error.args[1]))]
    return []


def test_imports_have_no_cycle() -> None:
    assert _cycles(_module_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


_IMPORT_EACH_ALONE = """
import importlib, json, sys, traceback
failures = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m == "picks" or m.startswith("picks.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failures[name] = traceback.format_exc(limit=-3)
print(json.dumps(failures))
"""


def test_every_module_imports_on_its_own_in_a_fresh_interpreter() -> None:
    # One interpreter, picks dropped from sys.modules before each module: each import starts from
    # nothing of picks (third-party modules stay loaded, which changes no import order in picks).
    names = sorted(_modules())
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH_ALONE, json.dumps(names)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
        timeout=300,
    )
    assert json.loads(result.stdout.splitlines()[-1]) == {}


def test_job_entry_point_does_not_import_scikit_learn() -> None:
    """Every job process (imports, batch jobs, training) starts with ``training.train``; scikit-learn
    takes most of a second to import and only text featurisation needs it."""
    probe = (
        "import json, sys, training.train; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT.parents[2],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT.parents[2])])},
    )
    assert json.loads(result.stdout) == []
