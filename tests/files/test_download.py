"""Download, preview and thumbnail: who may fetch a file, now, and how it is served."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable

import pytest
from django.urls import reverse

from apps.accounts.models import Role, User
from apps.chat import services as chat_services
from apps.chat.models import Channel, ChannelKind
from apps.files import services
from apps.files.models import Attachment, AttachmentStatus
from tests.files.support import (
    body_of,
    clean_image_attachment,
    client_of,
    file_url,
    png_bytes,
    send_with,
)

pytestmark = pytest.mark.django_db

MakeUser = Callable[..., User]
ROUTES = ("download", "preview", "thumbnail", "file")


def _clean(user: User, data: bytes, name: str) -> Attachment:
    attachment = services.attachment_upload(uploader=user, source=io.BytesIO(data), name=name)
    Attachment.objects.filter(pk=attachment.pk).update(status=AttachmentStatus.CLEAN)
    attachment.refresh_from_db()
    return attachment


class Scene:
    def __init__(self, make_user: MakeUser, make_channel: Callable[..., Channel]) -> None:
        self.uploader = make_user()
        self.member = make_user()
        self.former = make_user()
        self.non_member = make_user()
        self.guest_inside = make_user(role=Role.GUEST)
        self.guest_outside = make_user(role=Role.GUEST)
        self.admin = make_user(role=Role.ADMIN)
        self.private = make_channel(
            kind=ChannelKind.PRIVATE,
            admins=(self.uploader,),
            members=(self.member, self.former, self.guest_inside),
        )
        self.public = make_channel(kind=ChannelKind.PUBLIC, members=(self.uploader,))
        self.image = clean_image_attachment(self.uploader, name="plan.png")
        send_with(self.uploader, self.private, self.image, body="the plan")
        self.public_image = clean_image_attachment(self.uploader, name="pub.png")
        send_with(self.uploader, self.public, self.public_image)
        chat_services.channel_remove_member(
            actor=self.uploader, channel_id=self.private.pk, user_id=self.former.pk
        )


@pytest.fixture
def scene(make_user: MakeUser, make_channel: Callable[..., Channel]) -> Scene:
    return Scene(make_user, make_channel)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("who", ["uploader", "member", "guest_inside"])
def test_members_of_the_channel_may_fetch(scene: Scene, route: str, who: str) -> None:
    response = client_of(getattr(scene, who)).get(file_url(route, scene.image))

    assert response.status_code == 200


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("who", ["former", "non_member", "guest_outside", "admin"])
def test_outsiders_of_a_private_channel_get_not_found(scene: Scene, route: str, who: str) -> None:
    response = client_of(getattr(scene, who)).get(file_url(route, scene.image))

    assert (response.status_code, response.json()["code"]) == (404, "file_not_found")


@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_is_refused(scene: Scene, route: str) -> None:
    response = client_of(None).get(file_url(route, scene.image))

    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


@pytest.mark.parametrize("route", ["download", "preview"])
def test_public_channel_files_are_readable_by_staff_but_not_guests(
    scene: Scene, route: str
) -> None:
    url = file_url(route, scene.public_image)

    assert client_of(scene.non_member).get(url).status_code == 200
    assert client_of(scene.guest_outside).get(url).status_code == 404


def test_member_who_left_loses_access_at_once(scene: Scene) -> None:
    url = file_url("download", scene.image)
    assert client_of(scene.member).get(url).status_code == 200

    chat_services.channel_leave(user=scene.member, channel_id=scene.private.pk)

    assert client_of(scene.member).get(url).status_code == 404


def test_file_of_a_deleted_message_is_no_longer_served(scene: Scene) -> None:
    scene.image.refresh_from_db()
    chat_services.message_delete(user=scene.uploader, message_id=scene.image.message_id)

    response = client_of(scene.member).get(file_url("download", scene.image))

    assert response.status_code == 404


def test_guessed_ids_answer_like_missing_files(scene: Scene) -> None:
    outsider = client_of(scene.non_member)
    unattached = _clean(scene.uploader, b"draft", "draft.txt")
    probes = [uuid.uuid4(), scene.image.pk, unattached.pk]

    answers = {
        (response.status_code, response.json()["code"])
        for key in probes
        for route in ROUTES
        for response in [outsider.get(file_url(route, key))]
    }

    assert answers == {(404, "file_not_found")}


def test_non_uuid_ids_do_not_route(scene: Scene) -> None:
    response = client_of(scene.member).get("/api/v1/files/1/download")

    assert response.status_code == 404


def test_unattached_upload_is_visible_only_to_its_uploader(scene: Scene) -> None:
    draft = _clean(scene.uploader, b"draft", "draft.txt")

    assert client_of(scene.uploader).get(file_url("download", draft)).status_code == 200
    assert client_of(scene.member).get(file_url("download", draft)).status_code == 404


@pytest.mark.parametrize("status", ["pending", "infected", "failed"])
def test_file_that_is_not_clean_is_never_downloadable(scene: Scene, status: str) -> None:
    Attachment.objects.filter(pk=scene.image.pk).update(status=status)

    for user in (scene.uploader, scene.member):
        for route in ("download", "preview", "thumbnail"):
            response = client_of(user).get(file_url(route, scene.image))
            assert (response.status_code, response.json()["code"]) == (403, "file_not_available")


def test_pending_file_shows_members_only_a_placeholder(scene: Scene) -> None:
    Attachment.objects.filter(pk=scene.image.pk).update(status=AttachmentStatus.PENDING)

    theirs = client_of(scene.member).get(file_url("file", scene.image)).json()
    mine = client_of(scene.uploader).get(file_url("file", scene.image)).json()

    assert (theirs["status"], theirs["name"], theirs["size"]) == ("pending", "", 0)
    assert (mine["status"], mine["name"]) == ("pending", "plan.png")


# --- how files are served -----------------------------------------------------------------------


def test_image_download_is_inline_with_nosniff_and_sandbox(scene: Scene) -> None:
    response = client_of(scene.member).get(file_url("download", scene.image))

    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert body_of(response) == png_bytes()


@pytest.mark.parametrize(
    ("name", "data", "served_as"),
    [
        (
            "page.html",
            b"<html><script>alert(document.cookie)</script></html>",
            "application/octet-stream",
        ),
        (
            "logo.svg",
            b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
            "application/octet-stream",
        ),
        ("notes.txt", b"just text", "text/plain"),
    ],
)
def test_other_types_are_always_downloads(
    user: User, name: str, data: bytes, served_as: str
) -> None:
    attachment = _clean(user, data, name)

    response = client_of(user).get(file_url("download", attachment))

    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Type"] == served_as
    assert response["X-Content-Type-Options"] == "nosniff"
    assert body_of(response) == data


def test_non_image_has_no_preview(user: User) -> None:
    attachment = _clean(user, b"just text", "notes.txt")

    response = client_of(user).get(file_url("preview", attachment))

    assert (response.status_code, response.json()["code"]) == (404, "no_preview")


def test_thumbnail_is_a_small_png(scene: Scene) -> None:
    from PIL import Image

    response = client_of(scene.member).get(file_url("thumbnail", scene.image))

    assert response["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(body_of(response))) as thumbnail:
        assert max(thumbnail.size) <= 400


def test_unicode_file_name_survives_content_disposition(user: User) -> None:
    attachment = _clean(user, b"numbers", "季度报告.txt")

    response = client_of(user).get(file_url("download", attachment))

    assert "filename*=utf-8''%E5%AD%A3" in response["Content-Disposition"]


def test_x_accel_mode_hands_the_bytes_to_nginx(user: User, settings: object) -> None:
    # A file stored in the clear (an encrypted one streams through the app: test_encryption).
    settings.ENCLAVE_FILES_ENCRYPTION_KEYS = ""  # type: ignore[attr-defined]
    settings.ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY = ""  # type: ignore[attr-defined]
    attachment = _clean(user, b"in the clear", "clear.txt")
    settings.ENCLAVE_FILES_X_ACCEL = True  # type: ignore[attr-defined]

    response = client_of(user).get(file_url("download", attachment))

    assert response["X-Accel-Redirect"] == f"/protected-files/{attachment.blob.storage_name}"
    assert response.content == b""
    assert response["X-Content-Type-Options"] == "nosniff"


def test_x_accel_mode_still_checks_access(scene: Scene, settings: object) -> None:
    settings.ENCLAVE_FILES_X_ACCEL = True  # type: ignore[attr-defined]

    response = client_of(scene.former).get(file_url("download", scene.image))

    assert response.status_code == 404
    assert not response.has_header("X-Accel-Redirect")


def test_browser_accept_header_for_images_is_served(scene: Scene) -> None:
    response = client_of(scene.member).get(
        file_url("thumbnail", scene.image), HTTP_ACCEPT="image/avif,image/webp"
    )

    assert response.status_code == 200


# --- channel file list ------------------------------------------------------------------------


def test_channel_file_list_shows_files_of_live_messages_newest_first(scene: Scene) -> None:
    second = clean_image_attachment(scene.uploader, name="second.png")
    send_with(scene.uploader, scene.private, second)

    rows = (
        client_of(scene.member)
        .get(reverse("files_api:channel-files", kwargs={"channel_id": scene.private.pk}))
        .json()["results"]
    )

    assert [row["name"] for row in rows] == ["second.png", "plan.png"]


def test_channel_file_list_is_refused_to_outsiders(scene: Scene) -> None:
    url = reverse("files_api:channel-files", kwargs={"channel_id": scene.private.pk})

    response = client_of(scene.former).get(url)

    assert (response.status_code, response.json()["code"]) == (404, "channel_not_found")


def test_channel_file_list_query_count_does_not_grow_with_files(
    scene: Scene, django_assert_max_num_queries: object
) -> None:
    for index in range(5):
        send_with(
            scene.uploader, scene.private, _clean(scene.uploader, png_bytes(), f"{index}.png")
        )
    url = reverse("files_api:channel-files", kwargs={"channel_id": scene.private.pk})

    with django_assert_max_num_queries(4):  # type: ignore[operator]
        rows = client_of(scene.member).get(url).json()["results"]

    assert len(rows) == 6


def test_pdf_preview_is_inline_without_a_sandbox_but_without_sources(user: User) -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    attachment = _clean(user, pdf, "contract.pdf")

    response = client_of(user).get(file_url("preview", attachment))

    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline")
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert body_of(response) == pdf


def test_download_query_forces_a_download_of_an_image(scene: Scene) -> None:
    response = client_of(scene.member).get(file_url("download", scene.image) + "?download=1")

    assert response["Content-Disposition"].startswith("attachment")
