"""The import contracts of pyproject.toml ([tool.importlinter]) hold: apps import only the apps
below them, domain code does not import interfaces, migrations import no live code. `make lint`
runs the same check (`lint-imports`); here it also fails a plain pytest run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    # In a process of its own: the graph is built from the source, not from this process's
    # imports.
    lint_imports = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run(
        [lint_imports, "--no-logo", "--no-cache"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert run.returncode == 0, run.stdout + run.stderr


def test_core_imports_no_feature_app() -> None:
    # The layers contract says so too; this names the rule where a reader of tests/core looks.
    from tests.calls.test_layering import imported_modules

    feature_apps = ("accounts", "chat", "files", "search", "ops", "calls")
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {module}"
        for path in (REPO_ROOT / "apps" / "core").rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[:2] in (["apps", app] for app in feature_apps)
    ]

    assert offenders == []
