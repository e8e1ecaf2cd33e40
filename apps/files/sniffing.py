"""Tell a file's real type from its first bytes, and refuse names that lie about it.

Deliberately small and dependency-free: a table of magic numbers for the formats people share
at work, a text check, and a list of markup a browser would execute. The extension must name
the same family as the content; anything not recognised is `application/octet-stream` and is
always served as a download.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

OCTET_STREAM = "application/octet-stream"
SNIFF_BYTES = 8192

# (offset, magic, content type)
_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"MZ", "application/x-msdownload"),
    (0, b"\x7fELF", "application/x-executable"),
]

# Markup a browser would run; never inline, and never accepted under a harmless name.
_ACTIVE_MARKUP = re.compile(
    rb"<\s*(!doctype\s+html|html|head|body|script|iframe|svg|object|embed|meta|link|style)\b",
    re.IGNORECASE,
)

# Extension -> content types its content may sniff as. Zip-based office formats sniff as zip,
# OLE2 ones (doc, xls, ppt, msg) as OLE storage.
_OFFICE_ZIP = {"application/zip"}
_TEXT = {"text/plain"}
EXTENSIONS: dict[str, set[str]] = {
    "png": {"image/png"},
    "jpg": {"image/jpeg"},
    "jpeg": {"image/jpeg"},
    "gif": {"image/gif"},
    "webp": {"image/webp"},
    "bmp": {"image/bmp"},
    "tif": {"image/tiff"},
    "tiff": {"image/tiff"},
    "pdf": {"application/pdf"},
    "zip": {"application/zip"},
    "docx": _OFFICE_ZIP,
    "xlsx": _OFFICE_ZIP,
    "pptx": _OFFICE_ZIP,
    "odt": _OFFICE_ZIP,
    "ods": _OFFICE_ZIP,
    "odp": _OFFICE_ZIP,
    "jar": _OFFICE_ZIP,
    "apk": _OFFICE_ZIP,
    "doc": {"application/x-ole-storage"},
    "xls": {"application/x-ole-storage"},
    "ppt": {"application/x-ole-storage"},
    "msg": {"application/x-ole-storage"},
    "gz": {"application/gzip"},
    "tgz": {"application/gzip"},
    "7z": {"application/x-7z-compressed"},
    "rar": {"application/vnd.rar"},
    "mp3": {"audio/mpeg"},
    "ogg": {"audio/ogg"},
    "flac": {"audio/flac"},
    "wav": {"audio/wav"},
    "webm": {"video/webm"},
    "mkv": {"video/webm"},
    "mp4": {"video/mp4"},
    "m4a": {"video/mp4"},
    "mov": {"video/mp4"},
    "exe": {"application/x-msdownload"},
    "dll": {"application/x-msdownload"},
    "txt": _TEXT,
    "log": _TEXT,
    "md": _TEXT,
    "csv": _TEXT,
    "tsv": _TEXT,
    "json": _TEXT,
    "xml": _TEXT,
    "yaml": _TEXT,
    "yml": _TEXT,
    "ini": _TEXT,
    "conf": _TEXT,
    "py": _TEXT,
    "java": _TEXT,
    "c": _TEXT,
    "h": _TEXT,
    "cpp": _TEXT,
    "go": _TEXT,
    "rs": _TEXT,
    "sql": _TEXT,
    "sh": _TEXT,
    "css": _TEXT,
    # Active content: accepted only under its own name, and always served as a download.
    "html": {"text/html"},
    "htm": {"text/html"},
    "svg": {"image/svg+xml"},
    "js": {"text/plain", "text/javascript"},
    "mjs": {"text/plain", "text/javascript"},
}
# What a recognised extension says the file is, when the content alone is ambiguous.
_TYPE_FOR_TEXT_EXTENSION = {
    "csv": "text/csv",
    "md": "text/markdown",
    "json": "application/json",
    "xml": "application/xml",
    "js": "text/javascript",
    "mjs": "text/javascript",
    "css": "text/css",
}
_TYPE_FOR_ZIP_EXTENSION = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
}
_TYPE_FOR_OLE_EXTENSION = {
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "msg": "application/vnd.ms-outlook",
}


@dataclass(frozen=True, slots=True)
class Sniffed:
    content_type: str
    # Why the name and the content disagree; None when they agree.
    mismatch: str | None


def sniff_content(head: bytes) -> str:
    """The content type of a file that starts with `head` (up to SNIFF_BYTES bytes)."""
    for offset, magic, content_type in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if b"\x00" in head:
        return OCTET_STREAM
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut off at the end of the sample is still text.
        if error.start < len(head) - 3:
            return OCTET_STREAM
        text = head[: error.start].decode("utf-8")
    if _ACTIVE_MARKUP.search(head):
        return "image/svg+xml" if re.search(r"<\s*svg\b", text, re.IGNORECASE) else "text/html"
    return "text/plain"


def extension_of(name: str) -> str:
    return os.path.splitext(name)[1].lower().lstrip(".")


def sniff(*, name: str, head: bytes) -> Sniffed:
    """Sniff `head` and check it against the extension of `name`."""
    detected = sniff_content(head)
    extension = extension_of(name)
    expected = EXTENSIONS.get(extension)
    if expected is None:
        # Unknown or no extension: fine for inert content, refused for active markup, which
        # must carry its own name so nobody opens it believing it is something else.
        if detected in ("text/html", "image/svg+xml"):
            return Sniffed(detected, "active content needs a .html or .svg name")
        return Sniffed(detected, None)
    if detected not in expected:
        return Sniffed(detected, f".{extension} file whose content is {detected}")
    if detected == "text/plain":
        return Sniffed(_TYPE_FOR_TEXT_EXTENSION.get(extension, "text/plain"), None)
    if detected == "application/zip":
        return Sniffed(_TYPE_FOR_ZIP_EXTENSION.get(extension, detected), None)
    if detected == "application/x-ole-storage":
        return Sniffed(_TYPE_FOR_OLE_EXTENSION.get(extension, detected), None)
    return Sniffed(detected, None)
