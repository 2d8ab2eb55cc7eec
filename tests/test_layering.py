"""The dependency direction of the packages: bot → handlers → houston → views → storage."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Each package and the project packages it may import; its own package is always allowed.
ALLOWED = {
    "storage": set(),
    "views": {"storage"},
    "houston": {"views", "storage"},
    "handlers": {"houston", "views", "storage"},
    "bot": {"handlers", "houston", "views", "storage"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_allowed(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        forbidden = imported_packages(path) - ALLOWED[package] - {package}
        if forbidden:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(forbidden)}")
    assert offenders == []
