"""Every third-party module the app imports is installed by the runtime requirements.

The suite runs with the development set (requirements/local.txt), which pulls in more than a
deployment installs; a module only the development set brings (`requests` came with
schemathesis) passes every test here and fails `collectstatic` on a deployed host. This walks
the imports of apps/ and config/ and checks that each one's distribution is pinned in
requirements/base.txt or production.txt, or is a dependency of one pinned there (extras included).
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import sys
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_FILES = ("requirements/base.txt", "requirements/production.txt")


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-")


def _pinned() -> list[Requirement]:
    pinned: list[Requirement] = []
    for file in RUNTIME_FILES:
        for line in (ROOT / file).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "-")):
                pinned.append(Requirement(line))
    return pinned


def _with_dependencies(pinned: list[Requirement]) -> set[str]:
    """The distributions a runtime install brings: the pinned ones, their dependencies, and the
    dependencies of the extras asked for (`uvicorn[standard]`), not of every optional extra."""
    seen: set[tuple[str, str]] = set()
    todo = [(_canonical(req.name), extra) for req in pinned for extra in ("", *req.extras)]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            environment = {"extra": extra} if extra else {"extra": ""}
            if req.marker is None or req.marker.evaluate(environment):
                todo.extend((_canonical(req.name), wanted) for wanted in ("", *req.extras))
    return {name for name, _extra in seen}


def _imported_top_level_modules() -> set[str]:
    modules: set[str] = set()
    for path in [*ROOT.joinpath("apps").rglob("*.py"), *ROOT.joinpath("config").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"apps", "config"}


def test_every_imported_module_is_a_runtime_requirement() -> None:
    installed = _with_dependencies(_pinned())
    distributions = metadata.packages_distributions()
    missing = sorted(
        module
        for module in _imported_top_level_modules()
        if not any(_canonical(dist) in installed for dist in distributions.get(module, []))
    )
    assert missing == [], f"imported by the app but not in {RUNTIME_FILES}: {missing}"
