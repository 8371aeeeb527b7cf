"""The Lambda layer (``layers/picks/python/picks``) holds only what runs on AWS.

The emulator's own machinery (the in-process workflow runner, training jobs as subprocesses, the
orphan guard) lives in ``emulator/``; the layer never imports it, nor anything beyond the standard
library, itself and the dependencies its ``requirements.txt`` ships.  Read from the source (``ast``),
so imports inside functions count too.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARY_ROOT = REPO_ROOT / "layers" / "picks" / "python"
LAYER_REQUIREMENTS = REPO_ROOT / "layers" / "picks" / "requirements.txt"
# What AWS runs: the Lambda handlers, and the training job SageMaker runs with the same library.
AWS_ENTRY_POINTS = ("functions", "training")
# Layer modules nothing on AWS imports, on purpose: the declaration CDK synthesizes the API from
# (the emulator dispatches by it too), and the client helper for callers of a deployed stack.
NOT_RUN_BY_AWS = {
    "picks.routes": "the API declaration CDK and the emulator both derive from",
    "picks.client": "boto3 clients signed for a deployed picks API, for its callers",
}
# Libraries a layer module may use where they are installed (the training image, the dev venv) but
# the layer does not ship: imported under ``try: ... except ImportError`` only, with a fallback.
OPTIONAL_OUTSIDE = {
    ("picks.ingest.arrow_reader", "pyarrow"): "the import job's CSV reader; without it imports read "
    "with picks.ingest.csv_reader (tests/unit/test_csv_reader_selection.py runs that without pyarrow)",
}
# Modules only a local process manager needs; Lambda starts no processes.
EMULATOR_ONLY_STDLIB = {"subprocess", "ctypes", "multiprocessing", "signal"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(LIBRARY_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


def _guarded_imports(path: Path) -> set[str]:
    """Modules imported inside a ``try`` whose handler catches ImportError."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Try) and any(
            "ImportError" in ast.unparse(handler.type) for handler in node.handlers if handler.type
        ):
            for child in node.body:
                if isinstance(child, ast.Import):
                    found.update(alias.name for alias in child.names)
    return found


LAYER = {_module_name(path): path for path in sorted((LIBRARY_ROOT / "picks").rglob("*.py"))}


def _shipped_distributions() -> set[str]:
    names = set()
    for line in LAYER_REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            names.add(re.split(r"[\[=<>~! ]", requirement, maxsplit=1)[0].lower().replace("-", "_"))
    return names


def test_the_layer_imports_only_the_stdlib_itself_and_what_its_requirements_ship() -> None:
    shipped = _shipped_distributions()
    outside = {
        f"{module} imports {imported}"
        for module, path in LAYER.items()
        for imported in _imports(path, module)
        if (top := imported.split(".")[0]) != "picks"
        and top not in sys.stdlib_module_names
        and top not in shipped
        and not ((module, top) in OPTIONAL_OUTSIDE and imported in _guarded_imports(path))
    }
    assert "numpy" in shipped and "aws_lambda_powertools" in shipped
    assert outside == set()


def test_optional_imports_are_guarded_and_not_shipped() -> None:
    shipped = _shipped_distributions()
    for module, top in OPTIONAL_OUTSIDE:
        assert top not in shipped, (module, top)
        imported = {name for name in _imports(LAYER[module], module) if name.split(".")[0] == top}
        assert imported and imported <= _guarded_imports(LAYER[module]), (module, imported)


def test_the_layer_neither_imports_the_emulator_nor_manages_processes() -> None:
    offending = {
        f"{module} imports {imported}"
        for module, path in LAYER.items()
        for imported in _imports(path, module)
        if imported.split(".")[0] in {"emulator", "tests", "bench", "demo", "infrastructure", "moto"}
        or imported.split(".")[0] in EMULATOR_ONLY_STDLIB
    }
    assert offending == set()


def test_every_layer_module_is_run_by_aws() -> None:
    # Given every layer module reached from the handlers and the training entry point
    pending = [
        imported
        for folder in AWS_ENTRY_POINTS
        for path in (REPO_ROOT / folder).rglob("*.py")
        for imported in _imports(path, "")
    ]
    reached: set[str] = set()
    while pending:
        imported = pending.pop()
        parts = imported.split(".")
        for end in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            module = ".".join(parts[:end])
            if module in LAYER and module not in reached:
                reached.add(module)
                pending.extend(_imports(LAYER[module], module))

    # Then the layer holds nothing else (an emulator-only module belongs in emulator/)
    assert {"picks.services", "picks.workflows.training_jobs", "picks.npz"} <= reached
    assert set(LAYER) - reached == set(NOT_RUN_BY_AWS)
