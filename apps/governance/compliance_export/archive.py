"""Writes a compliance export's ZIP: messages.json, messages.csv (UTF-8 with a byte order
mark, so Excel reads Chinese), one readable, script-free channels/<id>/archive.html per channel,
and the files of the messages under files/<attachment id>/<name>.

The texts go to temporary files as the batches come and the file bytes straight into the ZIP,
so memory holds one batch of messages and one block of a file, whatever the export's size.
Every text in the HTML is escaped; the page forbids scripts with its own
Content-Security-Policy, so even a browser opening it from disk runs nothing in it.
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from django.utils.html import escape
from django.utils.translation import gettext as _

from apps.chat.models import Channel
from apps.files.storage import iter_stored
from apps.governance.compliance_export.selectors import ExportedAttachment, ExportedMessage

CSV_COLUMNS = [
    "message_id",
    "channel_id",
    "channel",
    "seq",
    "sender_id",
    "sender",
    "created_at",
    "edited_at",
    "deleted_at",
    "thread_root_id",
    "text",
    "edit_count",
    "attachments",
]
# A cell Excel would take for a formula starts with one of these: it gets a leading quote in
# the CSV only (messages.json keeps the exact text).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")

_PAGE_HEAD = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; img-src 'self'">
<title>{title}</title>
<style>
body {{ font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
  margin: 2em; color: #222; }}
.message {{ border-bottom: 1px solid #ddd; padding: .6em 0; }}
.meta {{ color: #555; font-size: .9em; }}
.text {{ white-space: pre-wrap; overflow-wrap: anywhere; margin: .3em 0; }}
.deleted {{ background: #fff4f4; }}
.edits {{ margin-left: 1.5em; color: #444; }}
</style>
</head>
<body>
"""


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def _shown(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else ""


def _csv_cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def safe_file_name(name: str) -> str:
    """A file name fit for a ZIP entry on any system: no directories, no control characters."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip(" .")
    return cleaned[:150] or "file"


def attachment_path(attachment: ExportedAttachment) -> str:
    return f"files/{attachment.id}/{safe_file_name(attachment.name)}"


def channel_label(channel: Channel) -> str:
    return channel.name or f"{channel.get_kind_display()} #{channel.pk}"


class ArchiveWriter:
    """Build one export: `begin_channel`, `add_batch` (as often as needed), `end_channel`,
    for each channel, then `close` with the export's summary. Not thread-safe."""

    def __init__(self, *, zip_file: zipfile.ZipFile, workdir: Path, language: str) -> None:
        self.zip_file = zip_file
        self.workdir = workdir
        self.language = language
        self.message_count = 0
        self.file_count = 0
        self.channels: list[dict[str, Any]] = []
        self._json: IO[str] = (workdir / "messages.json").open("w", encoding="utf-8")
        self._json.write('{"messages": [')
        self._csv_file: IO[str] = (workdir / "messages.csv").open(
            "w", encoding="utf-8-sig", newline=""
        )
        self._csv = csv.writer(self._csv_file)
        self._csv.writerow(CSV_COLUMNS)
        self._html: IO[str] | None = None
        self._channel: Channel | None = None
        self._channel_count = 0
        self._exported_files: set[str] = set()

    # --- channels ------------------------------------------------------------------------------

    def begin_channel(self, channel: Channel) -> None:
        self._channel = channel
        self._channel_count = 0
        self._html = (self.workdir / f"channel-{channel.pk}.html").open("w", encoding="utf-8")
        title = _("Archive of %(channel)s") % {"channel": channel_label(channel)}
        self._html.write(_PAGE_HEAD.format(lang=escape(self.language), title=escape(title)))
        self._html.write(f"<h1>{escape(title)}</h1>\n")
        self._html.write(
            f'<p class="meta">{escape(channel.get_kind_display())} · '
            f"{escape(_('Times are in UTC.'))}</p>\n"
        )

    def end_channel(self) -> None:
        assert self._channel is not None  # noqa: S101
        assert self._html is not None  # noqa: S101
        self._html.write("</body>\n</html>\n")
        self._html.close()
        self.zip_file.write(
            self.workdir / f"channel-{self._channel.pk}.html",
            f"channels/{self._channel.pk}/archive.html",
        )
        self.channels.append(
            {
                "id": self._channel.pk,
                "name": self._channel.name,
                "kind": self._channel.kind,
                "message_count": self._channel_count,
                "archive": f"channels/{self._channel.pk}/archive.html",
            }
        )
        self._channel = self._html = None

    # --- messages ------------------------------------------------------------------------------

    def add_batch(self, batch: list[ExportedMessage]) -> None:
        for exported in batch:
            missing = {a.id for a in exported.attachments if not self._copy_file(a)}
            self._write_json(exported, missing)
            self._write_csv(exported)
            self._write_html(exported, missing)
            self.message_count += 1
            self._channel_count += 1

    def _copy_file(self, attachment: ExportedAttachment) -> bool:
        """Stream the stored bytes into the ZIP; False when they are not exported or gone."""
        if not attachment.storage_name:
            return False
        if attachment.id in self._exported_files:
            return True
        path = attachment_path(attachment)
        try:
            with self.zip_file.open(path, mode="w", force_zip64=True) as target:
                for block in iter_stored(attachment.storage_name):
                    target.write(block)
        except OSError:
            return False  # the bytes are gone from the storage: said so in the message's record
        self._exported_files.add(attachment.id)
        self.file_count += 1
        return True

    def _write_json(self, exported: ExportedMessage, missing: set[str]) -> None:
        message = exported.message
        assert self._channel is not None  # noqa: S101
        record = {
            "id": message.pk,
            "channel_id": message.channel_id,
            "channel": channel_label(self._channel),
            "seq": message.seq,
            "sender_id": message.sender_id,
            "sender_username": message.sender.username,
            "sender_name": message.sender.name,
            "created_at": _iso(message.created_at),
            "edited_at": _iso(message.edited_at) or None,
            "deleted_at": _iso(message.deleted_at) or None,
            "thread_root_id": message.thread_root_id,
            "text": message.body,
            "edits": [
                {
                    "text": revision.body,
                    "written_at": _iso(revision.written_at),
                    "replaced_at": _iso(revision.replaced_at),
                }
                for revision in exported.revisions
            ],
            "attachments": [
                {
                    "id": attachment.id,
                    "name": attachment.name,
                    "content_type": attachment.content_type,
                    "size": attachment.size,
                    "status": attachment.status,
                    "deleted_at": _iso(attachment.deleted_at) or None,
                    "path": None if attachment.id in missing else attachment_path(attachment),
                }
                for attachment in exported.attachments
            ],
        }
        if self.message_count:
            self._json.write(",")
        self._json.write("\n")
        self._json.write(json.dumps(record, ensure_ascii=False))

    def _write_csv(self, exported: ExportedMessage) -> None:
        message = exported.message
        assert self._channel is not None  # noqa: S101
        self._csv.writerow(
            [
                message.pk,
                message.channel_id,
                _csv_cell(channel_label(self._channel)),
                message.seq,
                message.sender_id,
                _csv_cell(message.sender.username),
                _iso(message.created_at),
                _iso(message.edited_at),
                _iso(message.deleted_at),
                message.thread_root_id or "",
                _csv_cell(message.body),
                len(exported.revisions),
                _csv_cell("; ".join(a.name for a in exported.attachments)),
            ]
        )

    def _write_html(self, exported: ExportedMessage, missing: set[str]) -> None:
        message = exported.message
        assert self._html is not None  # noqa: S101
        out = self._html
        css = "message deleted" if message.deleted_at else "message"
        out.write(f'<div class="{css}" id="m{message.pk}">\n<p class="meta">')
        out.write(
            f"<strong>{escape(message.sender.name)}</strong> "
            f"(@{escape(message.sender.username)}) · {escape(_shown(message.created_at))} · "
            f"#{message.pk}"
        )
        if message.thread_root_id:
            reply = _("reply to #%(id)s") % {"id": message.thread_root_id}
            out.write(f' · <a href="#m{message.thread_root_id}">{escape(reply)}</a>')
        if message.edited_at:
            edited = _("edited %(time)s") % {"time": _shown(message.edited_at)}
            out.write(f" · {escape(edited)}")
        if message.deleted_at:
            deleted = _("deleted %(time)s") % {"time": _shown(message.deleted_at)}
            out.write(f" · <strong>{escape(deleted)}</strong>")
        out.write("</p>\n")
        out.write(f'<div class="text">{escape(message.body)}</div>\n')
        if exported.revisions:
            out.write(f'<div class="edits"><p>{escape(_("Earlier versions:"))}</p>\n')
            for revision in exported.revisions:
                out.write(
                    f'<p class="meta">{escape(_shown(revision.written_at))}</p>'
                    f'<div class="text">{escape(revision.body)}</div>\n'
                )
            out.write("</div>\n")
        for attachment in exported.attachments:
            if attachment.id in missing:
                out.write(f"<p>{escape(attachment.name)} ({escape(_('file not included'))})</p>\n")
            else:
                href = "../../" + quote(attachment_path(attachment))
                out.write(f'<p><a href="{escape(href)}">{escape(attachment.name)}</a></p>\n')
        out.write("</div>\n")

    # --- the end -------------------------------------------------------------------------------

    def close(self, *, summary: dict[str, Any]) -> None:
        """Finish messages.json (channels and the export's summary after the messages) and
        messages.csv, and put both in the ZIP."""
        self._json.write("\n],\n")
        self._json.write('"channels": ' + json.dumps(self.channels, ensure_ascii=False) + ",\n")
        export = {**summary, "message_count": self.message_count, "file_count": self.file_count}
        self._json.write('"export": ' + json.dumps(export, ensure_ascii=False) + "\n}\n")
        self._json.close()
        self._csv_file.close()
        self.zip_file.write(self.workdir / "messages.json", "messages.json")
        self.zip_file.write(self.workdir / "messages.csv", "messages.csv")
