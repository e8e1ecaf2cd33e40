"""Helpers shared by the files tests."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
import zlib
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.response import Response
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.chat import services as chat_services
from apps.chat.models import Channel, Message
from apps.files.models import Attachment
from tests.api_matrix import clean_image_attachment, png_bytes

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

__all__ = ["EICAR", "clean_image_attachment", "png_bytes"]


def zip_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def gzip_of(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9)


def tar_gz_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return out.getvalue()


def zip_nested(depth: int, name: str, data: bytes) -> bytes:
    """`data` as `name` inside `depth` zip files, each inside the next."""
    archive = zip_of({name: data})
    for level in range(1, depth):
        archive = zip_of({f"level-{level}.zip": archive})
    return archive


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims `width` x `height` pixels (a decompression bomb's shape)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64 * 1024, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def client_of(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def upload_via_api(user: User, data: bytes, name: str) -> Response:
    return client_of(user).post(
        reverse("files_api:files"), {"file": SimpleUploadedFile(name, data)}, format="multipart"
    )


def send_with(user: User, channel: Channel, *attachments: Attachment, body: str = "") -> Message:
    return chat_services.message_send(
        sender=user,
        channel_id=channel.pk,
        body=body,
        attachment_ids=[a.pk for a in attachments],
    ).message


def file_url(name: str, attachment: Attachment | Any) -> str:
    key = attachment.pk if isinstance(attachment, Attachment) else attachment
    return reverse(f"files_api:{name}", kwargs={"attachment_id": key})


def body_of(response: Any) -> bytes:
    if hasattr(response, "streaming_content"):
        return b"".join(response.streaming_content)
    return bytes(response.content)
