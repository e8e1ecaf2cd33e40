"""Hand-written SQL lives only in each app's `queries.py` (and, frozen, in migrations).

Reads the source of `apps/` and fails on any other module that opens a cursor, executes a
statement, uses `.raw()`, `.extra()` or `RawSQL`, or holds a string that is a SQL statement.
Docstrings and comments may mention SQL. See apps/chat/queries.py and
docs/architecture/README.md ("Hand-written SQL").
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

APPS = Path(__file__).resolve().parents[2] / "apps"

# Modules that run SQL by nature, not queries of an app. Each with its reason.
ALLOWED = {
    # The executor of the queries modules' statements: prepared cursors, one round trip.
    "core/runtime/sqlrows.py",
    # Backups and restore drills: a dump, a checksum of every table and a restore, on
    # connections of their own to whole databases (tables the ORM does not know).
    "ops/backups/database.py",
}
_STATEMENT = re.compile(
    r"^\s*(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|WITH)\s|\bSELECT\s+\S.*\bFROM\s|"
    r"\bINSERT\s+INTO\s|\bDELETE\s+FROM\s|\bUPDATE\s+\S+\s+SET\s",
    re.DOTALL,
)
_CALLS = {"cursor", "raw", "extra", "executemany"}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for statement in body:
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                    found.add(id(statement.value))
    return found


def raw_sql_in(source: str) -> list[str]:
    """What in this module's source is hand-written SQL or runs it, one line each."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            # `.execute()` without arguments is a Redis pipeline's, not a statement.
            if name in _CALLS or (name == "execute" and (node.args or node.keywords)):
                found.append(f"{line}: .{name}(...)")
        elif isinstance(node, ast.Name) and node.id == "RawSQL":
            found.append(f"{line}: RawSQL")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and _STATEMENT.search(node.value)
        ):
            found.append(f"{line}: {node.value.strip()[:60]!r}")
    return found


def test_hand_written_sql_lives_only_in_queries_modules_and_migrations() -> None:
    offenders = {}
    for path in sorted(APPS.rglob("*.py")):
        relative = path.relative_to(APPS).as_posix()
        if path.name == "queries.py" or "/migrations/" in relative or relative in ALLOWED:
            continue
        found = raw_sql_in(path.read_text())
        if found:
            offenders[relative] = found
    assert offenders == {}, "move these into the app's queries.py:\n" + "\n".join(
        f"  apps/{module}: {', '.join(found)}" for module, found in offenders.items()
    )


def test_the_check_finds_each_kind_of_raw_sql() -> None:
    source = '''
def f(connection, Message, pipe):
    """SELECT in a docstring is prose."""
    pipe.execute()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    Message.objects.raw("x")
    Message.objects.extra(where=["1"])
    RawSQL("x", [])
    text = f"UPDATE {table} SET last_seq = 1"
    fragment = "EXISTS (SELECT 1 FROM chat_mention x WHERE x.id = 1)"
'''
    found = raw_sql_in(source)

    kinds = sorted(entry.split(": ", 1)[1][:9] for entry in found)
    assert kinds == sorted(
        [".cursor(.", ".execute(", "'SELECT 1", ".raw(...)", ".extra(..", "RawSQL", "'UPDATE'",
         "'EXISTS ("]
    )  # fmt: skip
    flagged_lines = {int(entry.split(":")[0]) for entry in found}
    assert flagged_lines.isdisjoint({3, 4})  # the docstring, the Redis pipeline


def test_every_app_with_hand_written_sql_has_its_queries_module() -> None:
    expected = {"accounts", "chat", "core", "search"}

    have = {path.parent.name for path in APPS.glob("*/queries.py")}

    assert expected <= have
