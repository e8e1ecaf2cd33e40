"""apps.calls depends on chat and accounts, never the reverse: chat reaches calls only through
the operations calls registers (apps.chat.consumers.register_operation)."""

from __future__ import annotations

import ast
from pathlib import Path

APPS = Path(__file__).resolve().parents[2] / "apps"


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_no_lower_app_imports_calls() -> None:
    offenders = [
        str(path.relative_to(APPS))
        for app in ("core", "accounts", "chat", "files", "search", "ops")
        for path in (APPS / app).rglob("*.py")
        if any(m == "apps.calls" or m.startswith("apps.calls.") for m in imported_modules(path))
    ]

    assert offenders == []
