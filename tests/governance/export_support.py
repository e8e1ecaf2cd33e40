"""Helpers of the compliance export tests: officers, dated messages, built exports opened."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime
from typing import Any

from django.core.management import call_command

from apps.accounts.models import Role, User
from apps.files.storage import open_stored
from apps.governance.compliance_export import services
from apps.governance.models import ComplianceExport
from tests.factories import UserFactory


def export_officer(role: str = Role.ADMIN, **kwargs: Any) -> User:
    """A user given `governance.export_compliance` with the command, fetched fresh."""
    user = UserFactory(role=role, **kwargs)
    call_command("compliance_exporter", user.username, stdout=io.StringIO())
    return User.objects.get(pk=user.pk)


def build_export(
    officer: User,
    *,
    start: datetime,
    end: datetime,
    user_ids: list[int] | None = None,
    channel_ids: list[int] | None = None,
) -> ComplianceExport:
    """Request an export and build it now (as the task would after the commit)."""
    export = services.compliance_export_request(
        actor=officer,
        user_ids=user_ids or [],
        channel_ids=channel_ids or [],
        start=start,
        end=end,
    )
    built = services.compliance_export_build(export_id=export.pk)
    assert built is not None
    return built


def open_zip(export: ComplianceExport) -> zipfile.ZipFile:
    with open_stored(export.storage_name) as handle:
        return zipfile.ZipFile(io.BytesIO(handle.read()))


def zip_messages_json(archive: zipfile.ZipFile) -> dict[str, Any]:
    return json.loads(archive.read("messages.json").decode("utf-8"))


def zip_csv_rows(archive: zipfile.ZipFile) -> list[dict[str, str]]:
    raw = archive.read("messages.csv")
    assert raw.startswith(b"\xef\xbb\xbf"), "messages.csv starts with the UTF-8 byte order mark"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
