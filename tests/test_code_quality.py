"""The tree stays formatted and lint-clean (ruff, configured in pyproject.toml)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_code_is_formatted() -> None:
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_passes_lint() -> None:
    result = ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }


# Adapters to the outside world, with the Nameko dependency provider that hands them out.
ADAPTERS = {"services/notifications/mailer.py"}


def test_domain_code_knows_nothing_of_nameko() -> None:
    """Only `service.py` holds Nameko entrypoints and dependencies; domain modules are plain
    functions on a unit of work, testable without a broker."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if m.startswith(("nameko", "shared.dependencies"))
        )
        for path in sorted(ROOT.glob("services/*/*.py"))
        if path.name != "service.py" and str(path.relative_to(ROOT)) not in ADAPTERS
    }
    assert {path: found for path, found in offenders.items() if found} == {}
