"""Fixtures of the backup tests: a backup directory, key and file store of the test's own, and
an installation with users, channels, messages, attachments and an avatar to back up."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from apps.accounts.models import Role
from apps.chat import services as chat_services
from apps.files import services as files_services
from apps.ops.backups.crypto import generate_key
from apps.ops.backups.database import (
    PostgresTarget,
    postgres_create_database,
    postgres_drop_database,
)
from tests.factories import ChannelFactory, MembershipFactory, UserFactory


@dataclass
class BackupPlace:
    root: Path  # ENCLAVE_BACKUP_DIR
    files: Path  # the attachment store (ENCLAVE_FILES_ROOT)
    media: Path  # MEDIA_ROOT (avatars)
    key: str

    def roots(self) -> dict[str, Path]:
        return {"files": self.files, "media": self.media}


@pytest.fixture
def backup_place(settings: Any, tmp_path: Path) -> BackupPlace:
    place = BackupPlace(
        root=tmp_path / "backups",
        files=tmp_path / "store" / "files",
        media=tmp_path / "store" / "media",
        key=generate_key(),
    )
    place.files.mkdir(parents=True)
    place.media.mkdir(parents=True)
    settings.STORAGES = {
        **settings.STORAGES,
        "enclave_files": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(place.files)},
        },
    }
    settings.ENCLAVE_FILES_ROOT = place.files
    settings.MEDIA_ROOT = place.media
    settings.ENCLAVE_BACKUP_DIR = place.root
    settings.ENCLAVE_BACKUP_KEY = place.key
    settings.ENCLAVE_BACKUP_COPY_TO = ""
    return place


@pytest.fixture
def installation(backup_place: BackupPlace) -> dict[str, Any]:
    """Committed data in most tables a backup must carry, and files in both roots."""
    owner = UserFactory(username="olivia", role=Role.OWNER, is_staff=True, is_superuser=True)
    alice = UserFactory(username="alice", display_name="Alice 陈")
    channel = ChannelFactory(name="general")
    for user in (owner, alice):
        MembershipFactory(channel=channel, user=user)
    attachments = [
        files_services.attachment_upload(uploader=alice, source=io.BytesIO(data), name=name)
        for name, data in (
            ("notes.txt", b"quarterly notes\n" * 100),
            ("random.bin", os.urandom(300_000)),
        )
    ]
    for number in range(5):
        chat_services.message_send(
            sender=alice if number % 2 else owner,
            channel_id=channel.pk,
            body=f"message {number}: 会议 at {number} o'clock",
            attachment_ids=[attachment.pk for attachment in attachments] if number == 1 else [],
        )
    avatar = backup_place.media / "avatars" / "alice.png"
    avatar.parent.mkdir(parents=True)
    avatar.write_bytes(b"\x89PNG not really" + os.urandom(1000))
    return {"owner": owner, "alice": alice, "channel": channel, "attachments": attachments}


def tree_digests(*roots: Path) -> dict[str, str]:
    """SHA-256 of every file under the roots, by path relative to its root's parent."""
    digests = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                key = f"{root.name}/{path.relative_to(root).as_posix()}"
                digests[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


@pytest.fixture
def restore_database() -> Iterator[PostgresTarget]:
    """An empty PostgreSQL database of this test process's own, dropped after the test."""
    target = PostgresTarget.configured(f"enclave_backup_restore_{os.getpid()}")
    postgres_create_database(target)
    yield target
    postgres_drop_database(target)
