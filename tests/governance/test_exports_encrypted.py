"""Exports are stored files too: with encryption at rest on, their ZIPs are stored encrypted
and downloaded decrypted."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.chat.models import Channel, ChannelKind, Message
from apps.files.encryption import MAGIC, generate_key
from apps.files.storage import files_storage
from tests.chat.support import send
from tests.governance.export_support import build_export, export_officer

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)
SECRET = "the merger closes on Friday 7f3a"


@pytest.fixture(autouse=True)
def encryption_on(settings: Any) -> None:
    settings.ENCLAVE_FILES_ENCRYPTION_KEYS = f"export-test:{generate_key()}"
    settings.ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY = "export-test"


def test_a_compliance_export_is_stored_encrypted_and_downloads_in_the_clear(
    make_user: Callable[..., User],
    make_channel: Callable[..., Channel],
    client_for: Callable[[User | None], APIClient],
) -> None:
    member = make_user()
    channel = make_channel(kind=ChannelKind.PUBLIC, members=(member,))
    message = send(member, channel, SECRET)
    Message.objects.filter(pk=message.pk).update(created_at=START + timedelta(hours=1))
    officer = export_officer()

    export = build_export(officer, start=START, end=END, channel_ids=[channel.pk])
    stored = Path(files_storage().path(export.storage_name)).read_bytes()
    download = client_for(officer).get(
        reverse("governance_api:compliance-export-download", args=[export.pk])
    )

    assert stored.startswith(MAGIC)
    assert not stored.startswith(b"PK")
    assert SECRET.encode() not in stored
    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert SECRET in archive.read("messages.csv").decode("utf-8-sig")
