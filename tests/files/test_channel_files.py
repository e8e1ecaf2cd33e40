"""A channel's file list narrowed by kind (the channel details' Files tab and the viewer's
previous/next), and the PDF preview the viewer frames."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from django.urls import reverse
from PIL import Image

from apps.accounts.models import User
from apps.chat.models import Channel, ChannelKind
from apps.files import services
from apps.files.models import Attachment, AttachmentStatus
from tests.files.support import client_of, file_url, png_bytes, send_with

pytestmark = pytest.mark.django_db


def _pdf_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 80), (200, 30, 30)).save(out, format="PDF", resolution=72)
    return out.getvalue()


def _attach(user: User, channel: Channel, data: bytes, name: str, *, clean: bool = True) -> str:
    attachment = services.attachment_upload(uploader=user, source=io.BytesIO(data), name=name)
    if clean:
        Attachment.objects.filter(pk=attachment.pk).update(status=AttachmentStatus.CLEAN)
    attachment.refresh_from_db()
    send_with(user, channel, attachment, body=name)
    return attachment.original_name


@pytest.fixture
def files_channel(
    make_user: Callable[..., User], make_channel: Callable[..., Channel]
) -> tuple[Channel, User, User, User]:
    """A private channel with four files (one still being scanned): its uploader, a member
    who sees only id and status of the pending one (name ""), and an outsider."""
    owner, reader, outsider = make_user(), make_user(), make_user()
    channel = make_channel(kind=ChannelKind.PRIVATE, admins=(owner,), members=(reader,))
    _attach(owner, channel, png_bytes(), "photo.png")
    _attach(owner, channel, _pdf_bytes(), "report.pdf")
    _attach(owner, channel, b"just some notes\n", "notes.txt")
    _attach(owner, channel, png_bytes(), "scanning.png", clean=False)
    return channel, owner, reader, outsider


def _names(user: User, channel: Channel, kind: str | None) -> list[str]:
    url = reverse("files_api:channel-files", kwargs={"channel_id": channel.pk})
    response = client_of(user).get(url, {"type": kind} if kind else {})
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (None, ["", "notes.txt", "report.pdf", "photo.png"]),
        ("image", ["", "photo.png"]),
        ("pdf", ["report.pdf"]),
        ("media", ["report.pdf", "photo.png"]),
        ("other", ["notes.txt"]),
    ],
)
def test_channel_files_are_narrowed_by_kind(
    files_channel: tuple[Channel, User, User, User], kind: str | None, expected: list[str]
) -> None:
    channel, _owner, reader, _outsider = files_channel

    assert _names(reader, channel, kind) == expected


def test_an_unknown_kind_is_a_400_naming_the_field(
    files_channel: tuple[Channel, User, User, User],
) -> None:
    channel, owner, _reader, _outsider = files_channel
    url = reverse("files_api:channel-files", kwargs={"channel_id": channel.pk})

    response = client_of(owner).get(url, {"type": "video"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "type" in response.json()["details"]


def test_the_narrowed_list_is_refused_to_outsiders(
    files_channel: tuple[Channel, User, User, User],
) -> None:
    channel, _owner, _reader, outsider = files_channel
    url = reverse("files_api:channel-files", kwargs={"channel_id": channel.pk})

    response = client_of(outsider).get(url, {"type": "media"})

    assert (response.status_code, response.json()["code"]) == (404, "channel_not_found")


def test_a_pdf_preview_may_be_framed_by_our_own_pages_only(
    files_channel: tuple[Channel, User, User, User],
) -> None:
    channel, owner, _reader, _outsider = files_channel
    pdf = Attachment.objects.get(channel=channel, original_name="report.pdf")

    response = client_of(owner).get(file_url("preview", pdf))

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]


def test_an_image_preview_and_every_download_stay_unframeable(
    files_channel: tuple[Channel, User, User, User],
) -> None:
    channel, owner, _reader, _outsider = files_channel
    image = Attachment.objects.get(channel=channel, original_name="photo.png")
    pdf = Attachment.objects.get(channel=channel, original_name="report.pdf")

    preview = client_of(owner).get(file_url("preview", image))
    download = client_of(owner).get(file_url("download", pdf) + "?download=1")

    assert preview["X-Frame-Options"] == "DENY"
    assert download["X-Frame-Options"] == "DENY"
