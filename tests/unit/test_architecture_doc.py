"""docs/architecture.md and README's Layout name modules, classes and files that exist: a rename that
forgets the map fails here."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = (REPO / "docs" / "architecture.md", REPO / "README.md")
DOTTED = re.compile(r"`(picks(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
PATH = re.compile(r"`((?:functions|emulator|training|infrastructure|bench|demo|tests|docs)/[^`*<> ]+)`")


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


def _names(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    return sorted({(doc.name, m) for doc in DOCS for m in pattern.findall(doc.read_text())})


@pytest.mark.parametrize(("doc", "dotted"), _names(DOTTED))
def test_named_module_or_attribute_exists(doc: str, dotted: str) -> None:
    assert _resolves(dotted), f"{doc} names {dotted}, which does not exist"


@pytest.mark.parametrize(("doc", "path"), _names(PATH))
def test_named_path_exists(doc: str, path: str) -> None:
    assert (REPO / path.rstrip("/")).exists() or list(REPO.glob(path)), f"{doc} names {path}"


def test_the_map_names_enough_to_be_checked() -> None:
    assert len(_names(DOTTED)) > 30
