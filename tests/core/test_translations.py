"""The zh-hans catalogs are complete, safe to format and compiled.

Parses locale/zh_Hans/LC_MESSAGES/{django,djangojs}.po with a small parser (no extra dependency)
and checks every entry: translated, not fuzzy, the same placeholders and HTML tags as the English
text, and the same text in the compiled .mo (a stale .mo means `compilemessages` was forgotten).
"""

from __future__ import annotations

import ast
import gettext
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LC_MESSAGES = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")

# %(name)s, %(n)d, %s, %d, ... (and "%%", which is a literal percent sign, not a placeholder).
PERCENT = re.compile(
    r"%(?:%"  # a literal percent sign
    r"|\((?P<name>\w+)\)[#0 +-]*\d*(?:\.\d+)?[a-zA-Z]"  # %(name)s, %(n)d, %(x).1f
    r"|[#0+-]*\d*(?:\.\d+)?[sdifr])"  # %s, %d, %5.2f
)
BRACE = re.compile(r"(?<!\{)\{(\w*)\}(?!\})")
TAG = re.compile(r"</?([a-zA-Z][\w-]*)\b[^>]*>")


@dataclass
class Entry:
    line: int
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        text = self.msgid if len(self.msgid) <= 70 else self.msgid[:67] + "..."
        return f"line {self.line}: {text!r}"

    @property
    def mo_key(self) -> str:
        return self.msgid if self.msgctxt is None else f"{self.msgctxt}\x04{self.msgid}"


def parse_po(path: Path) -> list[Entry]:
    """The active entries of a .po file (the header and obsolete `#~` entries are left out)."""
    entries: list[Entry] = []
    entry: Entry | None = None
    target: tuple[str, int | None] | None = None

    def finish() -> None:
        if entry is not None and (entry.msgid or entry.msgctxt is not None):
            entries.append(entry)

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
            entry, target = None, None
            continue
        if line.startswith("#~"):
            continue
        if entry is None:
            entry = Entry(line=number)
        if line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            value = ast.literal_eval(line)
        else:
            keyword, _, rest = line.partition(" ")
            value = ast.literal_eval(rest)
            if keyword.startswith("msgstr["):
                target = ("msgstr", int(keyword[7:-1]))
                entry.msgstr[target[1]] = ""
            elif keyword == "msgstr":
                target = ("msgstr", 0)
                entry.msgstr[0] = ""
            elif keyword in ("msgid", "msgid_plural", "msgctxt"):
                target = (keyword, None)
                setattr(entry, keyword, "")
            else:
                raise AssertionError(f"{path.name}:{number}: cannot parse {raw!r}")
        assert target is not None, f"{path.name}:{number}: text outside an entry"
        name, index = target
        if index is not None:
            entry.msgstr[index] += value
        else:
            setattr(entry, name, getattr(entry, name) + value)
    finish()
    return entries


def placeholders(text: str) -> tuple[Counter[str], Counter[str]]:
    """(printf-style placeholders, HTML tags) of a message, as multisets."""
    tokens: Counter[str] = Counter()
    for match in PERCENT.finditer(text):
        token = match.group(0)
        if token == "%%":
            continue
        # A named placeholder may be used more than once; what matters is that it is there.
        tokens[token] = 1 if match.group("name") else tokens[token] + 1
    for match in BRACE.finditer(text):
        tokens["{" + match.group(1) + "}"] = 1
    return tokens, Counter(match.group(0).split()[0].rstrip(">") for match in TAG.finditer(text))


@pytest.fixture(scope="module", params=DOMAINS)
def catalog(request: pytest.FixtureRequest) -> tuple[str, list[Entry]]:
    path = LC_MESSAGES / f"{request.param}.po"
    entries = parse_po(path)
    assert entries, f"{path} has no entries"
    return request.param, entries


def fail_with(domain: str, problem: str, items: list[str]) -> None:
    if items:
        listing = "\n  ".join(items)
        pytest.fail(f"{domain}.po: {len(items)} {problem}:\n  {listing}", pytrace=False)


def test_every_entry_is_translated(catalog: tuple[str, list[Entry]]) -> None:
    domain, entries = catalog
    missing = [
        entry.label
        for entry in entries
        if not entry.msgstr or any(not text for text in entry.msgstr.values())
    ]
    fail_with(domain, "untranslated entries (fill msgstr)", missing)


def test_no_entry_is_fuzzy(catalog: tuple[str, list[Entry]]) -> None:
    domain, entries = catalog
    fuzzy = [entry.label for entry in entries if "fuzzy" in entry.flags]
    fail_with(domain, "fuzzy entries (check the translation, then drop the flag)", fuzzy)


def test_plural_entries_have_one_form(catalog: tuple[str, list[Entry]]) -> None:
    """Chinese has nplurals=1: msgstr[0] only; plain entries have no msgstr[n]."""
    domain, entries = catalog
    wrong = [
        f"{entry.label}: forms {sorted(entry.msgstr)}"
        for entry in entries
        if sorted(entry.msgstr) != [0]
    ]
    fail_with(domain, "entries with the wrong plural forms", wrong)


def test_placeholders_and_markup_match(catalog: tuple[str, list[Entry]]) -> None:
    domain, entries = catalog
    wrong = []
    for entry in entries:
        # The one Chinese form stands for the plural, which always carries the count.
        source = entry.msgid_plural if entry.msgid_plural is not None else entry.msgid
        expected_tokens, expected_tags = placeholders(source)
        for index, text in entry.msgstr.items():
            if not text:
                continue  # reported by test_every_entry_is_translated
            tokens, tags = placeholders(text)
            if tokens != expected_tokens:
                wrong.append(
                    f"{entry.label}: msgstr[{index}] placeholders {sorted(tokens.elements())}"
                    f" != {sorted(expected_tokens.elements())}"
                )
            if tags != expected_tags:
                wrong.append(
                    f"{entry.label}: msgstr[{index}] tags {sorted(tags.elements())}"
                    f" != {sorted(expected_tags.elements())}"
                )
    fail_with(domain, "entries whose placeholders or HTML differ from the English", wrong)


def test_mo_is_compiled_from_the_po(catalog: tuple[str, list[Entry]]) -> None:
    domain, entries = catalog
    mo_path = LC_MESSAGES / f"{domain}.mo"
    assert mo_path.exists(), f"{mo_path} is missing: run `manage.py compilemessages`"
    with mo_path.open("rb") as handle:
        compiled: dict[object, str] = dict(gettext.GNUTranslations(handle)._catalog)  # type: ignore[attr-defined]
    compiled.pop("", None)  # the header
    expected: dict[object, str] = {}
    for entry in entries:
        if not entry.msgstr or any(not text for text in entry.msgstr.values()):
            continue  # msgfmt leaves untranslated entries out
        if "fuzzy" in entry.flags:
            continue  # and fuzzy ones
        if entry.msgid_plural is None:
            expected[entry.mo_key] = entry.msgstr[0]
        else:
            for index, text in entry.msgstr.items():
                expected[(entry.mo_key, index)] = text
    stale = [
        f"{key!r}: .mo has {compiled.get(key)!r}, .po has {text!r}"
        for key, text in expected.items()
        if compiled.get(key) != text
    ]
    stale += [f"{key!r}: only in the .mo" for key in compiled.keys() - expected.keys()]
    fail_with(domain, "differences from the .mo (run `manage.py compilemessages`)", stale)


# The names `makemessages` (xgettext) looks for. A translation function imported under any
# other name (`gettext_lazy as _lazy`) still translates at run time, but its strings never
# reach the catalog: they show in English to everyone (the assistant's errors did).
EXTRACTED_NAMES = {
    "_",
    "gettext",
    "gettext_lazy",
    "gettext_noop",
    "ngettext",
    "ngettext_lazy",
    "pgettext",
    "pgettext_lazy",
    "npgettext",
    "npgettext_lazy",
}


def test_translation_functions_keep_names_makemessages_extracts() -> None:
    root = LC_MESSAGES.parents[2]
    hidden = []
    for path in [*root.glob("apps/**/*.py"), *root.glob("config/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "django.utils.translation":
                hidden += [
                    f"{path.relative_to(root)}:{node.lineno}: {alias.name} as {alias.asname}"
                    for alias in node.names
                    if alias.asname is not None and alias.asname not in EXTRACTED_NAMES
                ]
    assert hidden == []
