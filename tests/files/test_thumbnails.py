"""Thumbnails: rendered in a task, once per blob, and bounded against decompression bombs."""

from __future__ import annotations

import io
import tracemalloc

import pytest
from PIL import Image

from apps.accounts.models import User
from apps.core.errors import InvalidInput
from apps.files import services
from apps.files.models import Attachment, AttachmentStatus
from tests.files.support import clean_image_attachment, png_bytes, png_claiming

pytestmark = pytest.mark.django_db


def _big_png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, format="PNG")
    return out.getvalue()


def test_thumbnail_fits_the_configured_box(user: User, settings: object) -> None:
    settings.ENCLAVE_THUMBNAIL_SIZE = 16  # type: ignore[attr-defined]

    attachment = clean_image_attachment(user, name="wide.png")

    assert attachment.thumbnail_name
    from apps.files.storage import open_stored

    with Image.open(open_stored(attachment.thumbnail_name)) as thumbnail:
        assert thumbnail.size == (16, 12)  # the 40 x 30 original, aspect kept


def test_same_image_twice_shares_one_thumbnail(user: User) -> None:
    first = clean_image_attachment(user, name="a.png")
    second = clean_image_attachment(user, name="b.png")

    assert first.thumbnail_name == second.thumbnail_name


def test_render_refuses_an_image_above_the_pixel_limit_before_decoding() -> None:
    source = io.BytesIO(_big_png(4000, 4000))  # 16 MP, 16 MB once decoded

    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput):
            services.render_thumbnail(source, size=400, max_pixels=1_000_000)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 4 * 1024 * 1024


def test_render_refuses_a_header_that_claims_billions_of_pixels() -> None:
    with pytest.raises(InvalidInput):
        services.render_thumbnail(
            io.BytesIO(png_claiming(100_000, 100_000)), size=400, max_pixels=50_000_000
        )


def test_bomb_that_slipped_past_upload_gets_no_thumbnail(user: User, settings: object) -> None:
    attachment = services.attachment_upload(
        uploader=user, source=io.BytesIO(_big_png(2000, 2000)), name="scan.png"
    )
    Attachment.objects.filter(pk=attachment.pk).update(status=AttachmentStatus.CLEAN)
    settings.ENCLAVE_IMAGE_MAX_PIXELS = 1_000_000  # type: ignore[attr-defined]

    result = services.attachment_make_thumbnail(attachment_id=attachment.pk)

    assert result is not None
    assert result.thumbnail_name == ""


def test_no_thumbnail_before_the_file_is_clean(user: User) -> None:
    attachment = services.attachment_upload(
        uploader=user, source=io.BytesIO(png_bytes()), name="a.png"
    )

    services.attachment_make_thumbnail(attachment_id=attachment.pk)

    attachment.refresh_from_db()
    assert attachment.thumbnail_name == ""
