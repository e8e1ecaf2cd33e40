"""Every feature flag the server or the web client reads is in the registry
(`apps.core.features.FLAGS`), which the admin offers when a flag is created: a flag read under
a name the admin does not offer could never be turned on."""

from __future__ import annotations

import re
from pathlib import Path

from apps.chat.management.commands.seed_demo import DEMO_FLAGS
from apps.core.features import FLAGS

ROOT = Path(__file__).resolve().parents[2]

# How code names a flag: a FLAG constant, require_flag("x"), isEnabled("x"), or the name= of
# access_feature / feature_enabled.
PATTERNS = (
    re.compile(r'\b[A-Z_]*FLAG\s*=\s*"([a-z0-9_]+)"'),
    re.compile(r'\b(?:require_flag|isEnabled)\(\s*"([a-z0-9_]+)"'),
    re.compile(r'\b(?:access_feature|feature_enabled)\([^)]*?\bname="([a-z0-9_]+)"', re.DOTALL),
)


def names_read_by(paths: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        for pattern in PATTERNS:
            for name in pattern.findall(text):
                found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def names_read() -> dict[str, list[str]]:
    # apps/core/features.py names its examples ("new_thing") in its docstring.
    server = [p for p in sorted((ROOT / "apps").rglob("*.py")) if p.name != "features.py"]
    return names_read_by([*server, *sorted((ROOT / "static" / "js").glob("*.js"))])


def test_every_flag_the_product_reads_is_registered() -> None:
    read = names_read()
    unknown = {name: where for name, where in read.items() if name not in FLAGS}
    assert not unknown, unknown
    # The scan sees the flags (a pattern that stopped matching would pass the check above).
    assert {"calls", "dark_mode", "data_export", "workplace_reminders"} <= set(read)


def test_every_registered_flag_is_read_somewhere() -> None:
    assert set(FLAGS) - set(names_read()) == set()


def test_the_demo_turns_on_registered_flags_only() -> None:
    assert set(DEMO_FLAGS) <= set(FLAGS), set(DEMO_FLAGS) - set(FLAGS)
