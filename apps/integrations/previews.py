"""Link previews: which URLs a message links to, and what an HTML page says about itself
(`<title>`, `<meta name=description>`, Open Graph `og:title`, `og:description`, `og:image`,
`og:site_name`). Parsing stops at `</head>` or the first 256 KiB, whichever comes first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

FLAG = "link_previews"
MAX_LINKS = 3
_URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+", re.IGNORECASE)
_PARSE_LIMIT = 256 * 1024


def urls_in(body: str) -> list[str]:
    """The first few distinct http(s) URLs of a message, trailing punctuation dropped."""
    found: list[str] = []
    for match in _URL.finditer(body):
        url = match.group(0).rstrip(".,;:!?。，；：！？")
        if url not in found:
            found.append(url)
        if len(found) == MAX_LINKS:
            break
    return found


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


@dataclass(frozen=True)
class PageMeta:
    title: str
    description: str
    image_url: str
    site_name: str


class _HeadParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title_parts: list[str] = []
        self.in_title = False
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "title":
            self.in_title = True
        elif tag == "meta":
            values = {k.lower(): (v or "") for k, v in attrs}
            key = (values.get("property") or values.get("name") or "").lower()
            if key and "content" in values and key not in self.meta:
                self.meta[key] = values["content"]
        elif tag == "body":
            self.done = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag == "head":
            self.done = True

    def handle_data(self, data: str) -> None:
        if self.in_title and not self.done:
            self.title_parts.append(data)


def _charset(content_type: str) -> str:
    match = re.search(r"charset=([\w-]+)", content_type, re.IGNORECASE)
    return match.group(1) if match else "utf-8"


def _clean(text: str, limit: int) -> str:
    return " ".join(unescape(text).split())[:limit]


def parse_html(body: bytes, *, base_url: str, content_type: str = "") -> PageMeta:
    head = body[:_PARSE_LIMIT]
    charset = _charset(content_type)
    sniffed = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", head[:4096], re.IGNORECASE)
    if sniffed and "charset=" not in content_type.lower():
        charset = sniffed.group(1).decode("ascii", "replace")
    try:
        text = head.decode(charset, "replace")
    except LookupError:
        text = head.decode("utf-8", "replace")
    parser = _HeadParser()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # noqa: S110 - broken HTML gives what was read so far
        pass
    meta = parser.meta
    title = meta.get("og:title") or "".join(parser.title_parts)
    description = meta.get("og:description") or meta.get("description") or ""
    image = meta.get("og:image") or ""
    image_url = urljoin(base_url, image.strip()) if image.strip() else ""
    if not image_url.startswith(("http://", "https://")):
        image_url = ""
    return PageMeta(
        title=_clean(title, 300),
        description=_clean(description, 500),
        image_url=image_url,
        site_name=_clean(meta.get("og:site_name", ""), 100),
    )
