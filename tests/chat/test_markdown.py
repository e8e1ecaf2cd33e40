"""apps.chat.markdown: Markdown, mentions and emoji rendered to sanitised HTML.

Pure functions, no database.  ``xss_corpus.txt`` holds one payload per line; a literal ``\\n``
in a line stands for a newline, so multi-line Markdown (fences, reference links) fits on a line.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path

import pytest

from apps.chat import markdown
from apps.chat.markdown import (
    _NOT_PLAIN_RE,
    MentionTarget,
    RenderedMessage,
    extract_mention_usernames,
    render_message,
)

USERS: dict[str, MentionTarget] = {
    "alice": MentionTarget(user_id=12, display_name="Alice Martin"),
    "zhangwei": MentionTarget(user_id=34, display_name="张伟"),
    "bob.smith": MentionTarget(user_id=56, display_name="Bob Smith"),
    "evil": MentionTarget(user_id=66, display_name='"><img src=x onerror=alert(1)>'),
}
LINK_REL = "noopener noreferrer nofollow"


def resolve_known_users(usernames: set[str]) -> Mapping[str, MentionTarget]:
    return {name: USERS[name] for name in usernames if name in USERS}


def render(source: str) -> RenderedMessage:
    return render_message(source, resolve_usernames=resolve_known_users)


def render_html(source: str) -> str:
    return render(source).html


class RecordingResolver:
    def __init__(self) -> None:
        self.calls: list[set[str]] = []

    def __call__(self, usernames: set[str]) -> Mapping[str, MentionTarget]:
        self.calls.append(set(usernames))
        return resolve_known_users(usernames)


# --- Markdown -------------------------------------------------------------------------------


def test_double_asterisks_render_strong() -> None:
    assert render_html("a **bold** word") == "<p>a <strong>bold</strong> word</p>"


def test_underscores_render_emphasis() -> None:
    assert render_html("an _emphasised_ word") == "<p>an <em>emphasised</em> word</p>"


def test_double_tildes_render_strikethrough() -> None:
    assert render_html("~~gone~~") == "<p><s>gone</s></p>"


def test_dash_lines_render_bullet_list() -> None:
    assert render_html("- milk\n- eggs") == "<ul>\n<li>milk</li>\n<li>eggs</li>\n</ul>"


def test_numbered_list_keeps_its_start_number() -> None:
    assert render_html("3. third\n4. fourth").startswith('<ol start="3">')


def test_greater_than_renders_blockquote() -> None:
    assert render_html("> quoted") == "<blockquote>\n<p>quoted</p>\n</blockquote>"


def test_single_newline_renders_line_break() -> None:
    assert render_html("line one\nline two") == "<p>line one<br>\nline two</p>"


def test_fenced_code_keeps_language_class_and_escapes_content() -> None:
    html = render_html("```python\nif a < b:\n    pass\n```")

    assert html == ('<pre><code class="language-python">if a &lt; b:\n    pass\n</code></pre>')


def test_fenced_code_with_unsafe_language_has_no_class() -> None:
    html = render_html('```"onmouseover=x\ncode\n```')

    assert html == "<pre><code>code\n</code></pre>"


def test_pipe_table_renders_table_without_inline_styles() -> None:
    html = render_html("| a | b |\n|:--|--:|\n| 1 | 2 |")

    assert html.startswith("<table>\n<thead>")
    assert "<td>2</td>" in html
    assert "style" not in html


def test_heading_renders_as_strong_paragraph() -> None:
    assert render_html("# Release notes") == "<p><strong>Release notes</strong></p>"


def test_raw_html_is_shown_as_text() -> None:
    assert render_html("<b>hi</b>") == "<p>&lt;b&gt;hi&lt;/b&gt;</p>"


def test_whitespace_only_source_renders_empty_html() -> None:
    assert render(" \n\t\u3000") == RenderedMessage(
        html="", mentioned_user_ids=frozenset(), mentions_everyone=False
    )


# --- Links and images -----------------------------------------------------------------------


def test_link_opens_in_new_tab_with_exact_rel() -> None:
    html = render_html("[docs](https://docs.example.com/a?b=1&c=2)")

    assert html == (
        '<p><a href="https://docs.example.com/a?b=1&amp;c=2" target="_blank"'
        f' rel="{LINK_REL}">docs</a></p>'
    )


def test_bare_url_is_linkified() -> None:
    html = render_html("see https://example.com/page for details")

    assert f'<a href="https://example.com/page" target="_blank" rel="{LINK_REL}">' in html


def test_angle_bracket_autolink_becomes_link() -> None:
    html = render_html("<https://example.com>")

    assert html == (
        f'<p><a href="https://example.com" target="_blank" rel="{LINK_REL}">'
        "https://example.com</a></p>"
    )


def test_mailto_link_is_kept() -> None:
    assert 'href="mailto:ops@example.com"' in render_html("[mail](mailto:ops@example.com)")


def test_javascript_link_stays_as_text() -> None:
    assert render_html("[x](javascript:alert(1))") == "<p>[x](javascript:alert(1))</p>"


def test_relative_link_stays_as_text() -> None:
    assert render_html("[x](/admin/)") == "<p>[x](/admin/)</p>"


def test_image_becomes_link_to_its_url_without_img_tag() -> None:
    html = render_html("![diagram](https://example.com/d.png)")

    assert html == (
        f'<p><a href="https://example.com/d.png" target="_blank" rel="{LINK_REL}">diagram</a></p>'
    )


def test_image_without_alt_text_shows_its_url() -> None:
    html = render_html("![](https://example.com/d.png)")

    assert ">https://example.com/d.png</a>" in html
    assert "<img" not in html


def test_image_inside_link_becomes_its_alt_text() -> None:
    html = render_html("[![logo](https://example.com/l.png)](https://example.com)")

    assert html == (
        f'<p><a href="https://example.com" target="_blank" rel="{LINK_REL}">logo</a></p>'
    )


# --- Mentions -------------------------------------------------------------------------------


def test_user_mention_renders_display_name_and_user_id() -> None:
    rendered = render("hi @alice")

    assert rendered.html == (
        '<p>hi <span class="mention" data-user-id="12">@Alice Martin</span></p>'
    )
    assert rendered.mentioned_user_ids == frozenset({12})


def test_mention_username_is_case_insensitive() -> None:
    assert render("@ALICE").mentioned_user_ids == frozenset({12})


def test_mention_username_may_contain_dots() -> None:
    assert render("@bob.smith").mentioned_user_ids == frozenset({56})


def test_trailing_dot_is_not_part_of_mention() -> None:
    html = render_html("thanks @alice.")

    assert html.endswith("@Alice Martin</span>.</p>")


def test_unknown_mention_stays_text() -> None:
    rendered = render("@nobody there?")

    assert rendered.html == "<p>@nobody there?</p>"
    assert rendered.mentioned_user_ids == frozenset()


def test_email_address_is_not_a_mention() -> None:
    resolver = RecordingResolver()

    rendered = render_message("write to ops@alice.dev", resolve_usernames=resolver)

    assert resolver.calls == []
    assert "mention" not in rendered.html


def test_mention_inside_code_span_is_not_a_mention() -> None:
    rendered = render("`@alice`")

    assert rendered.html == "<p><code>@alice</code></p>"
    assert rendered.mentioned_user_ids == frozenset()


def test_mention_inside_fenced_code_is_not_a_mention() -> None:
    rendered = render("```\n@alice @all\n```")

    assert rendered.mentioned_user_ids == frozenset()
    assert rendered.mentions_everyone is False


def test_mention_inside_link_text_is_not_a_mention() -> None:
    rendered = render("[@alice @all](https://example.com)")

    assert "<span" not in rendered.html
    assert rendered.mentioned_user_ids == frozenset()
    assert rendered.mentions_everyone is False


def test_mention_inside_image_alt_text_is_not_a_mention() -> None:
    rendered = render("![@alice](https://example.com/a.png)")

    assert ">@alice</a>" in rendered.html
    assert rendered.mentioned_user_ids == frozenset()


def test_escaped_at_sign_is_not_a_mention() -> None:
    assert render("\\@alice").html == "<p>@alice</p>"


def test_chinese_display_name_is_rendered() -> None:
    assert render_html("@zhangwei") == (
        '<p><span class="mention" data-user-id="34">@张伟</span></p>'
    )


def test_mention_directly_after_chinese_text_is_a_mention() -> None:
    assert render("谢谢@zhangwei").mentioned_user_ids == frozenset({34})


def test_display_name_is_html_escaped() -> None:
    html = render_html("@evil")

    assert html == (
        '<p><span class="mention" data-user-id="66">'
        '@"&gt;&lt;img src=x onerror=alert(1)&gt;</span></p>'
    )


def test_typed_mention_markup_is_escaped_not_trusted() -> None:
    rendered = render('<span class="mention" data-user-id="1">@admin</span>')

    assert rendered.html.startswith("<p>&lt;span")
    assert rendered.mentioned_user_ids == frozenset()


@pytest.mark.parametrize(
    ("source", "data_mention"),
    [("@all", "all"), ("@everyone", "all"), ("@channel", "channel")],
)
def test_wildcard_mention_notifies_everyone(source: str, data_mention: str) -> None:
    rendered = render(source)

    assert rendered.html == (
        f'<p><span class="mention mention-all" data-mention="{data_mention}">{source}</span></p>'
    )
    assert rendered.mentions_everyone is True


def test_wildcards_are_not_sent_to_resolver() -> None:
    resolver = RecordingResolver()

    render_message("@all @channel @everyone", resolve_usernames=resolver)

    assert resolver.calls == []


def test_resolver_is_called_once_with_all_candidates() -> None:
    resolver = RecordingResolver()

    rendered = render_message(
        "@alice @Alice @zhangwei @ghost **@bob.smith**", resolve_usernames=resolver
    )

    assert resolver.calls == [{"alice", "zhangwei", "ghost", "bob.smith"}]
    assert rendered.mentioned_user_ids == frozenset({12, 34, 56})


def test_resolver_is_not_called_without_mentions() -> None:
    resolver = RecordingResolver()

    render_message("no mentions here", resolve_usernames=resolver)

    assert resolver.calls == []


def test_extract_mention_usernames_skips_code_and_wildcards() -> None:
    usernames = extract_mention_usernames("@Alice `@bob` @all @zhangwei a@b.example")

    assert usernames == {"alice", "zhangwei"}


# --- Emoji ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shortcode", "expected"),
    [(":thumbs_up:", "👍"), (":+1:", "👍"), (":smile:", "😄")],
)
def test_emoji_shortcode_becomes_unicode(shortcode: str, expected: str) -> None:
    assert render_html(f"nice {shortcode}") == f"<p>nice {expected}</p>"


def test_emoji_shortcode_directly_after_chinese_text_is_converted() -> None:
    assert render_html("好的:thumbs_up:") == "<p>好的👍</p>"


def test_unknown_shortcode_stays_as_typed() -> None:
    assert render_html(":not_an_emoji:") == "<p>:not_an_emoji:</p>"


@pytest.mark.parametrize("source", ["10:30:45", "score 3:100:2"])
def test_time_is_not_read_as_emoji(source: str) -> None:
    assert render_html(source) == f"<p>{source}</p>"


def test_shortcode_inside_code_span_is_not_converted() -> None:
    assert render_html("`:smile:`") == "<p><code>:smile:</code></p>"


# --- XSS corpus -----------------------------------------------------------------------------

XSS_CORPUS = [
    line.replace("\\n", "\n")
    for line in (Path(__file__).parent / "xss_corpus.txt").read_text("utf-8").splitlines()
    if line.strip()
]
FORBIDDEN_TAGS = frozenset(
    {"script", "style", "iframe", "object", "embed", "img", "svg", "form", "input", "math"}
    | {"link", "meta", "base", "video", "audio", "source", "frame", "frameset"}
)
ALLOWED_HREF_PREFIXES = ("http://", "https://", "mailto:")
ALLOWED_CLASS_VALUES = frozenset({"mention", "mention mention-all"})


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def unsafe_parts(html: str) -> list[str]:
    collector = TagCollector()
    collector.feed(html)
    collector.close()
    problems = []
    for tag, attrs in collector.tags:
        if tag in FORBIDDEN_TAGS:
            problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in {"style", "src", "srcdoc", "formaction"}:
                problems.append(f"attribute {name} on <{tag}>")
            if name == "href" and not (value or "").lower().startswith(ALLOWED_HREF_PREFIXES):
                problems.append(f"href {value!r}")
            if name == "class" and tag == "span" and value not in ALLOWED_CLASS_VALUES:
                problems.append(f"span class {value!r}")
            if name == "class" and tag == "code" and not (value or "").startswith("language-"):
                problems.append(f"code class {value!r}")
    return problems


def test_xss_corpus_has_at_least_sixty_payloads() -> None:
    assert len(XSS_CORPUS) >= 60


@pytest.mark.parametrize("payload", XSS_CORPUS)
def test_xss_payload_renders_without_active_content(payload: str) -> None:
    html = render_html(payload)

    assert unsafe_parts(html) == [], html


# --- the plain-text shortcut -------------------------------------------------------------------

# Letters and digits of several scripts, the punctuation the shortcut lets through, and a few
# of everything it must not: generated sources mix them so that both branches are exercised.
_PLAIN_ALPHABET = "abcXYZ019 ,.?;%$()'/:\n你好。，？！：、日本語한국어éüß€😀\u3000\u200d"
_RISKY_ALPHABET = '\\`*_[]<>#+-=|~!&@"{}\t\r\xa0\u2028'
_WORDS = ["http://x.io", "www.x.io", ":smile:", "1. ", "- ", "> ", "a@b.c", "@alice", "  ", "//"]


def full_pipeline_html(source: str) -> str:
    """What render_message made before the shortcut: always parse and sanitise."""
    return markdown._render_full(source, resolve_usernames=resolve_known_users).html


def generated_sources(count: int) -> list[str]:
    randomness = random.Random(20261127)
    sources = []
    for _ in range(count):
        parts = []
        for _ in range(randomness.randint(1, 12)):
            roll = randomness.random()
            if roll < 0.8:
                parts.append(
                    "".join(randomness.choices(_PLAIN_ALPHABET, k=randomness.randint(1, 6)))
                )
            elif roll < 0.9:
                parts.append(randomness.choice(_RISKY_ALPHABET))
            else:
                parts.append(randomness.choice(_WORDS))
        sources.append("".join(parts).strip())
    return [source for source in sources if source]


def test_the_plain_text_shortcut_renders_what_the_full_pipeline_renders() -> None:
    sources = generated_sources(20000) + [
        line.replace("\\n", "\n")
        for line in (Path(__file__).parent / "xss_corpus.txt").read_text().splitlines()
        if line.strip()
    ]
    shortcut = 0
    for source in sources:
        assert render_html(source) == full_pipeline_html(source), source
        shortcut += _NOT_PLAIN_RE.search(source) is None
    # Both branches were exercised, each many times.
    assert 2000 < shortcut < len(sources) - 2000


@pytest.mark.parametrize(
    "source",
    [
        "Meeting moved to 10:30, same room",
        "ok",
        "好的，我下午看一下",
        "it's 100% done (mostly); see a/b?",
        "line one\nline two",
    ],
)
def test_everyday_plain_messages_take_the_shortcut(source: str) -> None:
    assert _NOT_PLAIN_RE.search(source) is None
    assert render_html(source) == full_pipeline_html(source)
