"""Server-side Markdown rendering for chat messages.

A message is rendered once, when it is written, and the stored HTML is what clients display, so
this module is the only thing between user input and the DOM of every member of a channel.  It
is deliberately pure (no ORM, no settings): the service layer passes a resolver that turns the
candidate ``@usernames`` into users with one query.

Pipeline: markdown-it (CommonMark, raw HTML off, plus tables, strikethrough, linkify, and our
mention and emoji inline rules) -> HTML -> nh3 with an explicit allow-list.  Markdown-it already
escapes everything the user typed; nh3 is the second wall, so that a future rule or plugin that
emits something unexpected still cannot put a script, an image or a foreign URL scheme on screen.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import emoji
import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

__all__ = [
    "MentionTarget",
    "RenderedMessage",
    "extract_mention_usernames",
    "render_message",
]


@dataclass(frozen=True, slots=True)
class MentionTarget:
    """A user an ``@username`` resolved to."""

    user_id: int
    display_name: str


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """Sanitised HTML of a message and who it notifies."""

    html: str
    mentioned_user_ids: frozenset[int]
    mentions_everyone: bool


UsernameResolver = Callable[[set[str]], Mapping[str, MentionTarget]]

# "Word character" for the mention and emoji boundaries is ASCII on purpose: e-mail local parts
# and clock times are ASCII, while Chinese writers put a mention or an emoji straight after a
# character without a space ("谢谢@bob", "好的:thumbs_up:"), which must still work.
_ASCII_WORD_CHARS: Final = frozenset(string.ascii_letters + string.digits + "_")
_USERNAME_RE: Final = re.compile(r"[A-Za-z0-9_.-]+")
# Keyword typed after "@" -> value of data-mention.  "everyone" is an alias of "all".
_WILDCARD_MENTIONS: Final[Mapping[str, str]] = {
    "all": "all",
    "everyone": "all",
    "channel": "channel",
}
_ALLOWED_LINK_PREFIXES: Final = ("http://", "https://", "mailto:")
_CODE_LANGUAGE_CLASS_RE: Final = re.compile(r"language-[A-Za-z0-9_+#-]{1,32}")
_ENV_KEY: Final = "enclave_mentions"


def _build_shortcode_table() -> dict[str, str]:
    """Map every ``language="alias"`` shortcode (without colons) to its emoji.

    ``emoji.emojize`` finds a name with a linear scan over all emoji on every cache miss, which
    anyone can trigger with made-up shortcodes; a dict built once keeps the hot path O(1).  The
    precedence (aliases first, then CLDR names, fully-qualified emoji only) is emojize's own.
    """
    fully_qualified = emoji.STATUS["fully_qualified"]
    by_alias: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for unicode_emoji, data in emoji.EMOJI_DATA.items():
        if data["status"] > fully_qualified:
            continue
        for alias in data.get("alias", ()):
            by_alias.setdefault(alias.strip(":"), unicode_emoji)
        if "en" in data:
            by_name.setdefault(data["en"].strip(":"), unicode_emoji)
    return by_name | by_alias


_SHORTCODES: Final = _build_shortcode_table()
_LONGEST_SHORTCODE: Final = max(len(name) for name in _SHORTCODES)
_SHORTCODE_RE: Final = re.compile(rf":([^\s:]{{1,{_LONGEST_SHORTCODE}}}):")


@dataclass(slots=True)
class _MentionState:
    """Per-render scratchpad, kept in the markdown-it ``env``."""

    candidate_usernames: set[str] = field(default_factory=set)
    resolved: Mapping[str, MentionTarget] = field(default_factory=dict)
    mentioned_user_ids: set[int] = field(default_factory=set)
    mentions_everyone: bool = False


def _mention_rule(state: StateInline, silent: bool) -> bool:
    """Inline rule: ``@username`` becomes a ``mention`` token.

    As an inline rule it never sees code spans, code blocks or link destinations, which other
    rules consume first.  Inside a link's text it does nothing: a mention pill that navigates to
    an arbitrary URL would let anyone dress a link up as trusted UI.  Whether the user exists is
    decided at render time, after the single resolver call.
    """
    position = state.pos
    source = state.src
    if source[position] != "@" or (position > 0 and source[position - 1] in _ASCII_WORD_CHARS):
        return False
    if state.linkLevel > 0:
        return False
    match = _USERNAME_RE.match(source, position + 1, state.posMax)
    if match is None:
        return False
    username = match.group().rstrip(".")
    if not username:
        return False
    end = position + 1 + len(username)
    if not silent:
        key = username.lower()
        token = state.push("mention", "", 0)
        token.content = source[position:end]
        token.meta = {"key": key}
        if key not in _WILDCARD_MENTIONS:
            state.env[_ENV_KEY].candidate_usernames.add(key)
    state.pos = end
    return True


def _lookup_shortcode(name: str) -> str | None:
    if not name.isascii():
        # emojize normalises names the same way ("piñata" typed with a combining tilde).
        name = unicodedata.normalize("NFKC", name)
    return _SHORTCODES.get(name)


def emoji_for_shortcode(name: str) -> str | None:
    """The Unicode emoji of a shortcode without its colons ("tada", "+1"), or None."""
    return _lookup_shortcode(name)


def _emoji_rule(state: StateInline, silent: bool) -> bool:
    """Inline rule: ``:shortcode:`` becomes its Unicode emoji; unknown ones stay as typed.

    The colons must not touch an ASCII word character on the outside, so ``10:30:45`` or
    ``3:100:2`` are not read as ``:30:`` / ``:100:``.
    """
    position = state.pos
    source = state.src
    if source[position] != ":" or (position > 0 and source[position - 1] in _ASCII_WORD_CHARS):
        return False
    match = _SHORTCODE_RE.match(source, position, state.posMax)
    if match is None:
        return False
    end = match.end()
    if end < state.posMax and source[end] in _ASCII_WORD_CHARS:
        return False
    unicode_emoji = _lookup_shortcode(match.group(1))
    if unicode_emoji is None:
        return False
    if not silent:
        state.append_pending(unicode_emoji)
    state.pos = end
    return True


def _is_allowed_link(url: str) -> bool:
    """Markdown-level link filter: anything else is left as the text the user typed.

    Relative URLs are refused too: a chat message has no meaningful base URL.  ``url`` is
    already normalised (entities decoded, percent-encoded) by markdown-it.
    """
    return url.lower().startswith(_ALLOWED_LINK_PREFIXES)


def _plain_text(tokens: Sequence[Token]) -> str:
    """Escaped text of an image's alt tokens, with mentions as typed (see `_mention_rule`)."""
    parts: list[str] = []
    for token in tokens:
        if token.type in {"text", "text_special", "code_inline", "mention"}:
            parts.append(token.content)
        elif token.type in {"softbreak", "hardbreak"}:
            parts.append(" ")
        elif token.children:
            parts.append(_plain_text(token.children))
    return escapeHtml("".join(parts))


def _inside_link(tokens: Sequence[Token], index: int) -> bool:
    depth = 0
    for token in tokens[:index]:
        if token.type == "link_open":
            depth += 1
        elif token.type == "link_close":
            depth -= 1
    return depth > 0


class _ChatRenderer(RendererHTML):
    """RendererHTML plus chat tokens; methods are picked up as rules by token type."""

    def mention(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        state: _MentionState = env[_ENV_KEY]
        key: str = token.meta["key"]
        wildcard = _WILDCARD_MENTIONS.get(key)
        if wildcard is not None:
            state.mentions_everyone = True
            return (
                f'<span class="mention mention-all" data-mention="{wildcard}">'
                f"{escapeHtml(token.content)}</span>"
            )
        target = state.resolved.get(key)
        if target is None:
            return escapeHtml(token.content)
        state.mentioned_user_ids.add(target.user_id)
        return (
            f'<span class="mention" data-user-id="{target.user_id:d}">'
            f"@{escapeHtml(target.display_name)}</span>"
        )

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        # Loading a remote image would tell a third party who read the message and when, so an
        # image is shown as a link to it (or only as its alt text when already inside a link).
        token = tokens[idx]
        label = _plain_text(token.children or [])
        if _inside_link(tokens, idx):
            return label
        href = escapeHtml(str(token.attrs["src"]))
        return f'<a href="{href}">{label or href}</a>'

    def heading_open(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        # Page-sized headings are too loud in a message list; keep the emphasis only.
        return "<p><strong>"

    def heading_close(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        return "</strong></p>\n"


def _build_markdown() -> MarkdownIt:
    markdown = MarkdownIt(
        "commonmark",
        {"html": False, "linkify": True, "breaks": True, "xhtmlOut": False},
        renderer_cls=_ChatRenderer,
    )
    markdown.enable(["table", "strikethrough", "linkify"])
    # Only links with a scheme: in a developer chat "manage.py" or "README.md" is a file name,
    # not a website in Paraguay or Moldova.
    if markdown.linkify is not None:
        markdown.linkify.set({"fuzzy_link": False})
    markdown.disable(["html_block", "html_inline"])
    markdown.inline.ruler.push("mention", _mention_rule)
    markdown.inline.ruler.push("emoji", _emoji_rule)
    markdown.validateLink = _is_allowed_link  # type: ignore[method-assign]
    return markdown


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3 hook for the attributes whose values an allow-list of names cannot pin down."""
    if tag == "code" and attribute == "class":
        return value if _CODE_LANGUAGE_CLASS_RE.fullmatch(value) else None
    if attribute == "data-user-id":
        return value if value.isascii() and value.isdigit() else None
    return value


# Built once at import (the hot path).  Both are read-only after configuration and keep no
# per-call state (a render's state lives in its `env`), so threads can share them.
_MARKDOWN: Final = _build_markdown()
_CLEANER: Final = nh3.Cleaner(
    # Headings are rendered as <p><strong>, images as links: neither tag is ever allowed.
    tags=(
        {"p", "br", "hr", "blockquote", "pre", "code", "ul", "ol", "li"}
        | {"strong", "em", "del", "s", "a", "span"}
        | {"table", "thead", "tbody", "tr", "th", "td"}
    ),
    clean_content_tags={"script", "style"},
    attributes={
        "a": {"href", "title"},
        "span": {"data-user-id"},
        "code": {"class"},
        "ol": {"start"},
    },
    # rel and target are not in `attributes`: nh3 drops whatever came in and sets these.
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    tag_attribute_values={"span": {"data-mention": {"all", "channel"}}},
    allowed_classes={"span": {"mention", "mention-all"}},
    attribute_filter=_filter_attribute,
    url_schemes={"http", "https", "mailto"},
    url_relative="deny",
)


# Anything that might make Markdown, a link, an emoji, a mention or an escaped character: a
# source without any of it renders as one paragraph of itself, lines joined by <br>. Markup and
# escapes: \ ` * _ [ ] < > # + - = | ~ ! & @ " { } and NBSP (which the sanitiser writes as
# &nbsp;); a colon other than in a time (schemes, :shortcodes:); "//" and "www." (links);
# tabs, other control characters, line separators; a line that starts or ends with white
# space (code blocks, hard breaks, blank lines), or starts with a digit (ordered lists).
_NOT_PLAIN_RE: Final = re.compile(
    r"[\\`*_\[\]<>#+\-=|~!&@\"{}\x00-\x09\x0b-\x1f\x7f-\xa0\u2028\u2029\ud800-\udfff]"
    r"|(?<![0-9]):|//|www\.|^\s|\s$|^[0-9]",
    re.MULTILINE | re.IGNORECASE,
)


def _parse(source: str) -> tuple[list[Token], dict[str, Any]]:
    mention_state = _MentionState()
    env: dict[str, Any] = {_ENV_KEY: mention_state}
    return _MARKDOWN.parse(source, env), env


def render_message(source: str, *, resolve_usernames: UsernameResolver) -> RenderedMessage:
    """Render a message's Markdown to sanitised HTML and collect whom it mentions.

    ``resolve_usernames`` receives the lower-cased usernames mentioned outside code and returns
    the existing ones; it is called at most once, and not at all when nobody is mentioned.
    Unknown ``@names`` stay plain text.  ``mentions_everyone`` is set by ``@all`` /
    ``@everyone`` / ``@channel``.  Whitespace-only source renders to ``""``.
    """
    if not source.strip():
        return RenderedMessage(html="", mentioned_user_ids=frozenset(), mentions_everyone=False)
    if _NOT_PLAIN_RE.search(source) is None:
        # Plain text (most chat messages): what `_render_full` makes of it, without parsing
        # and sanitising it (tests/chat/test_markdown.py holds the two equal).
        paragraph = "<p>" + source.replace("\n", "<br>\n") + "</p>"
        return RenderedMessage(
            html=paragraph, mentioned_user_ids=frozenset(), mentions_everyone=False
        )
    return _render_full(source, resolve_usernames=resolve_usernames)


def _render_full(source: str, *, resolve_usernames: UsernameResolver) -> RenderedMessage:
    tokens, env = _parse(source)
    mention_state: _MentionState = env[_ENV_KEY]
    if mention_state.candidate_usernames:
        mention_state.resolved = resolve_usernames(set(mention_state.candidate_usernames))
    html: str = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, env)
    return RenderedMessage(
        html=_CLEANER.clean(html).strip(),
        mentioned_user_ids=frozenset(mention_state.mentioned_user_ids),
        mentions_everyone=mention_state.mentions_everyone,
    )


def extract_mention_usernames(source: str) -> set[str]:
    """Return the lower-cased usernames written as ``@name`` outside code, without wildcards.

    These are exactly the names :func:`render_message` would pass to its resolver (same parser).
    """
    if not source.strip():
        return set()
    _, env = _parse(source)
    mention_state: _MentionState = env[_ENV_KEY]
    return mention_state.candidate_usernames
