"""The light and dark themes of static/css/enclave.css: body text is readable (WCAG AA,
contrast ≥ 4.5:1) on every background it is drawn on, in both, and the dark theme's two
blocks (data-theme="dark", and "system" under prefers-color-scheme: dark) say the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STYLESHEET = Path(__file__).resolve().parents[2] / "static" / "css" / "enclave.css"
AA_BODY_TEXT = 4.5

# (text, background) pairs as the stylesheet draws them.
PAIRS = [
    ("--text", "--bg"),
    ("--text", "--bg-soft"),
    ("--text", "--bg-sidebar"),
    ("--text", "--bg-hover"),
    ("--text", "--bg-active"),
    ("--text", "--accent-soft"),
    ("--text", "--mention-bg"),
    ("--text", "--mention-hover"),
    ("--text", "--warning-bg"),
    ("--text", "--ok-bg"),
    ("--text", "--danger-soft"),
    ("--text", "--code-bg"),
    ("--text", "--pre-bg"),
    ("--text-soft", "--bg"),
    ("--text-soft", "--bg-soft"),
    ("--muted", "--bg"),
    ("--muted", "--bg-soft"),
    ("--muted", "--bg-sidebar"),
    ("--muted", "--bg-hover"),
    ("--accent", "--bg"),
    ("--accent", "--bg-soft"),
    ("--accent-strong", "--bg"),
    ("--danger", "--bg"),
    ("--danger", "--danger-soft"),
    ("--ok", "--bg"),
    ("--on-fill", "--accent-fill"),
    ("--on-fill", "--accent-fill-hover"),
    ("--on-fill", "--danger-fill"),
    ("--on-fill", "--ok-fill"),
    ("--notice-text", "--notice-bg"),
    ("--notice-text", "--notice-info-bg"),
]


def _variables(block: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*([^;]+);", block))


def _block(css: str, selector: str) -> str:
    start = css.index(selector + " {")
    return css[start : css.index("}", start)]


def themes() -> dict[str, dict[str, str]]:
    css = STYLESHEET.read_text()
    light = _variables(_block(css, ":root"))
    dark = {**light, **_variables(_block(css, ':root[data-theme="dark"]'))}
    return {"light": light, "dark": dark}


def _luminance(color: str) -> float:
    hex_digits = color.strip().lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(digit * 2 for digit in hex_digits)
    assert re.fullmatch(r"[0-9a-fA-F]{6}", hex_digits), f"not an opaque hex colour: {color}"

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(hex_digits[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_formula_matches_wcag() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_is_readable_on_its_background(theme: str, text: str, background: str) -> None:
    variables = themes()[theme]

    ratio = contrast(variables[text], variables[background])

    assert ratio >= AA_BODY_TEXT, f"{theme}: {text} on {background} is {ratio:.2f}:1"


def test_dark_theme_redefines_every_colour() -> None:
    css = STYLESHEET.read_text()
    light = _variables(_block(css, ":root"))
    dark = _variables(_block(css, ':root[data-theme="dark"]'))
    colours = {name for name, value in light.items() if re.match(r"#|rgb", value.strip())}

    assert colours - dark.keys() == set()


def test_system_dark_block_equals_the_dark_theme() -> None:
    css = STYLESHEET.read_text()
    media = css[css.index("@media (prefers-color-scheme: dark)") :]

    system = _variables(_block(media, '  :root[data-theme="system"]'))

    assert system == _variables(_block(css, ':root[data-theme="dark"]'))


def _hard_coded_colours(css: str, allowed: re.Pattern[str]) -> list[str]:
    offenders = []
    for rule in re.finditer(r"([^{}]+)\{([^{}]*)\}", css):
        selector, declarations = rule.group(1), rule.group(2)
        if allowed.search(selector):
            continue
        for declaration in declarations.split(";"):
            if re.search(r"#[0-9a-fA-F]{3,8}\b|rgba?\(", declaration) and "var(" not in declaration:
                offenders.append(f"{selector.strip()} {{ {declaration.strip()} }}")
    return offenders


def test_no_hard_coded_colours_outside_the_themes() -> None:
    """Every colour is a variable, except the file viewer's overlay (dark in both themes), the
    avatars' fixed colours (white initials), the black behind call videos and the meeting's
    stage (dark in both themes, like a call's video)."""
    css = STYLESHEET.read_text()
    body = css[css.index("/* --- base") : css.index("/* --- dark theme")]
    others = [(STYLESHEET.parent / name).read_text() for name in ("calls.css", "helpdesk.css")]
    allowed = re.compile(
        r"\.avatar|\.viewer|\.notice \.icon-button|\.call-remote|\.call-local"
        r"|\.meeting-view|\.meeting-status|\.meeting-tile"
    )

    assert _hard_coded_colours("\n".join([body, *others]), allowed) == []


@pytest.mark.parametrize("name", ["enclave.css", "calls.css", "helpdesk.css"])
def test_stylesheet_closes_every_rule(name: str) -> None:
    """An unclosed rule nests everything after it (CSS nesting), the dark theme included."""
    css = re.sub(r"/\*.*?\*/", "", (STYLESHEET.parent / name).read_text(), flags=re.S)
    open_rules: list[str] = []
    for line_number, line in enumerate(css.splitlines(), 1):
        for character in line:
            if character == "{":
                assert not open_rules or open_rules[-1].startswith("@"), (
                    f"{name}:{line_number}: {line.strip()} opens inside {open_rules[-1]}"
                )
                open_rules.append(line.strip())
            elif character == "}":
                assert open_rules, f"{name}:{line_number}: a brace closes nothing"
                open_rules.pop()
    assert open_rules == []
