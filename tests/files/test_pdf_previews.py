"""PDF first-page previews: rendered after the scan passes, bounded, refused cleanly when bad.

The PDFs are made here (Pillow writes a real one-page PDF), never downloaded.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from apps.accounts.models import Role, User
from apps.chat.models import Channel, ChannelKind
from apps.files import services
from apps.files.models import Attachment, AttachmentStatus
from apps.files.pdf_render import PdfLimits, PdfPreviewRefused, render_pdf_preview
from apps.files.storage import open_stored
from tests.files.clamd_server import ClamdServer
from tests.files.support import body_of, client_of, file_url, send_with

pytestmark = pytest.mark.django_db

MakeUser = Callable[..., User]
# Not a PDF any parser accepts, but it starts like one: sniffed as application/pdf.
MALFORMED_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nthis is not a PDF body\n"


def pdf_bytes(pages: int = 1, size: tuple[int, int] = (300, 150)) -> bytes:
    """A real PDF: `pages` pages of `size` points, the first one red."""
    images = [Image.new("RGB", size, (200, 30, 30))]
    images += [Image.new("RGB", size, (30, 30, 200)) for _ in range(pages - 1)]
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=72)
    return out.getvalue()


@pytest.fixture
def admin(make_user: MakeUser) -> User:
    return make_user(role=Role.ADMIN)


@pytest.fixture
def release(
    admin: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> Callable[[User, bytes, str], Attachment]:
    """Upload, then find clean: an admin's release runs the same preview step as a clean scan
    (the scan itself needs clamd; `test_pdf_found_clean_by_clamd_gets_its_preview` has one)."""

    def make(uploader: User, data: bytes, name: str) -> Attachment:
        attachment = services.attachment_upload(
            uploader=uploader, source=io.BytesIO(data), name=name
        )
        with django_capture_on_commit_callbacks(execute=True):
            services.attachment_release(actor=admin, attachment_id=attachment.pk)
        attachment.refresh_from_db()
        return attachment

    return make


Release = Callable[[User, bytes, str], Attachment]


def test_clean_pdf_gets_a_picture_of_its_first_page(user: User, release: Release) -> None:
    attachment = release(user, pdf_bytes(pages=2), "report.pdf")

    assert attachment.content_type == "application/pdf"
    assert attachment.thumbnail_name
    with Image.open(open_stored(attachment.thumbnail_name)) as preview:
        assert preview.format == "PNG"
        assert preview.size == (400, 200)  # the 300 x 150 pt page, fitted to the 400 px box
        red, green, blue = preview.convert("RGB").getpixel((200, 100))
        assert red > 150
        assert green < 80
        assert blue < 80


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
def test_pdf_found_clean_by_clamd_gets_its_preview(clamd: ClamdServer, user: User) -> None:
    attachment = services.attachment_upload(
        uploader=user, source=io.BytesIO(pdf_bytes()), name="scanned.pdf"
    )

    attachment.refresh_from_db()
    assert attachment.status == AttachmentStatus.CLEAN
    assert attachment.thumbnail_name


def test_pending_pdf_is_never_parsed(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_run(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("rendered a PDF that is not clean")

    monkeypatch.setattr(services, "render_pdf_preview", must_not_run)
    attachment = services.attachment_upload(
        uploader=user, source=io.BytesIO(pdf_bytes()), name="waiting.pdf"
    )

    services.attachment_make_thumbnail(attachment_id=attachment.pk)

    attachment.refresh_from_db()
    assert attachment.status == AttachmentStatus.PENDING
    assert attachment.thumbnail_name == ""


def test_malformed_pdf_gets_no_preview_and_stays_downloadable(
    make_user: MakeUser, make_channel: Callable[..., Channel], release: Release
) -> None:
    uploader, member = make_user(), make_user()
    channel = make_channel(kind=ChannelKind.PRIVATE, members=(uploader, member))
    attachment = release(uploader, MALFORMED_PDF, "broken.pdf")
    send_with(uploader, channel, attachment)

    assert attachment.content_type == "application/pdf"
    assert attachment.status == AttachmentStatus.CLEAN
    assert attachment.thumbnail_name == ""
    download = client_of(member).get(file_url("download", attachment))
    assert download.status_code == 200
    assert body_of(download) == MALFORMED_PDF
    thumbnail = client_of(member).get(file_url("thumbnail", attachment))
    assert thumbnail.status_code == 404
    assert thumbnail.json()["code"] == "no_thumbnail"


def test_pdf_with_more_pages_than_allowed_gets_no_preview(
    user: User, release: Release, settings: object
) -> None:
    settings.ENCLAVE_PDF_PREVIEW_MAX_PAGES = 2  # type: ignore[attr-defined]

    attachment = release(user, pdf_bytes(pages=3), "long.pdf")

    assert attachment.thumbnail_name == ""


def test_pdf_above_the_size_limit_is_not_even_opened(
    user: User, release: Release, settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("opened a PDF above the size limit")

    monkeypatch.setattr(services, "render_pdf_preview", must_not_run)
    settings.ENCLAVE_PDF_PREVIEW_MAX_BYTES = 100  # type: ignore[attr-defined]

    attachment = release(user, pdf_bytes(), "big.pdf")

    assert attachment.thumbnail_name == ""


def test_renderer_that_runs_out_of_time_is_stopped() -> None:
    limits = PdfLimits(
        box=400, max_pages=10, max_pixels=1_000_000, timeout_seconds=0.01, memory_bytes=1 << 30
    )

    with pytest.raises(PdfPreviewRefused, match="timed out"):
        render_pdf_preview(pdf_bytes(), limits=limits)


def test_renderer_that_runs_out_of_memory_is_refused_not_crashing_the_caller() -> None:
    limits = PdfLimits(
        box=400, max_pages=10, max_pixels=1_000_000, timeout_seconds=20, memory_bytes=16 << 20
    )

    with pytest.raises(PdfPreviewRefused):
        render_pdf_preview(pdf_bytes(), limits=limits)


def test_preview_bitmap_above_the_pixel_limit_is_refused() -> None:
    limits = PdfLimits(
        box=400, max_pages=10, max_pixels=1000, timeout_seconds=20, memory_bytes=1 << 30
    )

    with pytest.raises(PdfPreviewRefused, match="too many pixels"):
        render_pdf_preview(pdf_bytes(), limits=limits)


def test_pdf_preview_is_served_only_to_those_who_may_read_the_channel(
    make_user: MakeUser, make_channel: Callable[..., Channel], release: Release
) -> None:
    uploader, member, outsider = make_user(), make_user(), make_user()
    channel = make_channel(kind=ChannelKind.PRIVATE, members=(uploader, member))
    attachment = release(uploader, pdf_bytes(), "minutes.pdf")
    send_with(uploader, channel, attachment)

    allowed = client_of(member).get(file_url("thumbnail", attachment))
    refused = client_of(outsider).get(file_url("thumbnail", attachment))
    anonymous = client_of(None).get(file_url("thumbnail", attachment))

    assert allowed.status_code == 200
    assert allowed["Content-Type"] == "image/png"
    assert body_of(allowed).startswith(b"\x89PNG")
    assert refused.status_code == 404
    assert refused.json()["code"] == "file_not_found"
    assert anonymous.status_code in (401, 403)
    payload = client_of(member).get(file_url("file", attachment)).json()
    assert payload["has_thumbnail"] is True
    assert payload["is_image"] is False


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
def test_rescan_gives_a_pdf_that_was_clean_before_previews_existed_its_preview(
    clamd: ClamdServer, user: User, make_user: MakeUser
) -> None:
    attachment = services.attachment_upload(
        uploader=user, source=io.BytesIO(pdf_bytes()), name="old.pdf"
    )
    Attachment.objects.filter(pk=attachment.pk).update(thumbnail_name="")  # as before previews

    services.attachment_rescan(actor=make_user(role=Role.ADMIN), attachment_id=attachment.pk)

    attachment.refresh_from_db()
    assert attachment.status == AttachmentStatus.CLEAN
    assert attachment.thumbnail_name
