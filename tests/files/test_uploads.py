"""Uploads over REST: multipart and resumable, type sniffing, quotas, decompression bombs."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable

import pytest
from django.urls import reverse

from apps.accounts.models import User
from apps.files import services
from apps.files.models import Attachment, AttachmentStatus, StoredBlob
from apps.files.storage import open_stored
from tests.chat.support import raises_domain_error
from tests.files.support import client_of, png_bytes, png_claiming, upload_via_api

pytestmark = pytest.mark.django_db

MakeUser = Callable[..., User]


def test_multipart_upload_returns_a_pending_attachment(user: User) -> None:
    response = upload_via_api(user, b"quarterly numbers", "report.txt")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["name"], body["size"], body["content_type"]) == (
        "pending",
        "report.txt",
        17,
        "text/plain",
    )
    assert Attachment.objects.get(pk=body["id"]).uploader == user


def test_same_bytes_are_stored_once(make_user: MakeUser) -> None:
    first = upload_via_api(make_user(), b"same content", "a.txt").json()
    second = upload_via_api(make_user(), b"same content", "b.txt").json()

    assert first["id"] != second["id"]
    assert StoredBlob.objects.count() == 1
    blob = StoredBlob.objects.get()
    assert open_stored(blob.storage_name).read() == b"same content"


def test_path_and_control_characters_are_stripped_from_the_name(user: User) -> None:
    body = upload_via_api(user, b"x", "report.txt").json()
    attachment = services.attachment_upload(
        uploader=user, source=io.BytesIO(b"x"), name="../../etc/\u202epasswd.txt"
    )

    assert body["name"] == "report.txt"
    assert attachment.original_name == "passwd.txt"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("invoice.pdf", b"MZ\x90\x00" + b"\x00" * 100),
        ("notes.txt", b"<html><script>document.cookie</script></html>"),
        ("photo.png", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"),
        ("photo.jpg", png_bytes()),
    ],
)
def test_content_that_does_not_match_its_name_is_refused(
    user: User, name: str, data: bytes
) -> None:
    response = upload_via_api(user, data, name)

    assert (response.status_code, response.json()["code"]) == (415, "type_mismatch")
    assert not Attachment.objects.exists()


def test_empty_file_is_refused(user: User) -> None:
    response = upload_via_api(user, b"", "empty.txt")

    assert (response.status_code, response.json()["code"]) == (400, "empty_file")


def test_file_above_the_size_limit_is_refused(user: User, settings: object) -> None:
    settings.ENCLAVE_UPLOAD_MAX_BYTES = 10  # type: ignore[attr-defined]

    response = upload_via_api(user, b"eleven byte", "big.txt")

    assert (response.status_code, response.json()["code"]) == (413, "file_too_large")


def test_upload_beyond_the_user_quota_is_refused(user: User, settings: object) -> None:
    settings.ENCLAVE_UPLOAD_USER_QUOTA_BYTES = 20  # type: ignore[attr-defined]
    assert upload_via_api(user, b"0123456789", "a.txt").status_code == 201

    refused = upload_via_api(user, b"0123456789AB", "b.txt")

    assert (refused.status_code, refused.json()["code"]) == (403, "quota_exceeded")
    assert refused.json()["details"] == {"quota_bytes": 20, "used_bytes": 10}


def test_deleted_files_no_longer_count_against_the_quota(user: User, settings: object) -> None:
    settings.ENCLAVE_UPLOAD_USER_QUOTA_BYTES = 15  # type: ignore[attr-defined]
    first = upload_via_api(user, b"0123456789", "a.txt").json()
    client_of(user).delete(reverse("files_api:file", kwargs={"attachment_id": first["id"]}))

    assert upload_via_api(user, b"0123456789", "b.txt").status_code == 201


def test_quota_of_one_user_does_not_limit_another(make_user: MakeUser, settings: object) -> None:
    settings.ENCLAVE_UPLOAD_USER_QUOTA_BYTES = 10  # type: ignore[attr-defined]
    upload_via_api(make_user(), b"0123456789", "a.txt")

    assert upload_via_api(make_user(), b"0123456789", "a.txt").status_code == 201


def test_decompression_bomb_image_is_refused_without_decoding_it(user: User) -> None:
    bomb = png_claiming(100_000, 100_000)  # 10 billion pixels: 30 GB once decoded
    assert len(bomb) < 2048

    tracemalloc.start()
    try:
        response = upload_via_api(user, bomb, "holiday.png")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (response.status_code, response.json()["code"]) == (400, "image_too_large")
    assert peak < 20 * 1024 * 1024
    assert not Attachment.objects.exists()


def test_image_dimensions_are_recorded(user: User) -> None:
    body = upload_via_api(user, png_bytes(40, 30), "chart.png").json()

    attachment = Attachment.objects.get(pk=body["id"])
    assert (attachment.image_width, attachment.image_height) == (40, 30)


def test_anonymous_cannot_upload(api_client: object) -> None:
    response = client_of(None).post(reverse("files_api:files"), {}, format="multipart")

    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


# --- resumable uploads ---------------------------------------------------------------------------


def _start(user: User, name: str, size: int) -> dict[str, object]:
    response = client_of(user).post(
        reverse("files_api:uploads"), {"name": name, "size": size}, format="json"
    )
    assert response.status_code == 201, response.content
    return dict(response.json())


def _put(user: User, session_id: object, index: int, data: bytes) -> object:
    url = reverse("files_api:upload-chunk", kwargs={"session_id": session_id, "index": index})
    return client_of(user).put(url, data, content_type="application/octet-stream")


def _complete(user: User, session_id: object) -> object:
    url = reverse("files_api:upload-complete", kwargs={"session_id": session_id})
    return client_of(user).post(url)


def test_chunks_in_any_order_assemble_into_the_file(user: User, settings: object) -> None:
    settings.ENCLAVE_UPLOAD_CHUNK_BYTES = 4  # type: ignore[attr-defined]
    data = b"0123456789"
    session = _start(user, "log.txt", len(data))
    assert (session["chunk_size"], session["chunk_count"]) == (4, 3)

    for index in (2, 0, 1, 0):  # out of order, and chunk 0 resent after a lost reply
        response = _put(user, session["id"], index, data[index * 4 : index * 4 + 4])
        assert response.status_code == 200, response.content  # type: ignore[attr-defined]
    done = _complete(user, session["id"])

    assert done.status_code == 201  # type: ignore[attr-defined]
    attachment = Attachment.objects.get(pk=done.json()["id"])  # type: ignore[attr-defined]
    assert attachment.status == AttachmentStatus.PENDING
    assert open_stored(attachment.blob.storage_name).read() == data


def test_completing_twice_returns_the_same_attachment(user: User) -> None:
    session = _start(user, "a.txt", 3)
    _put(user, session["id"], 0, b"abc")

    first = _complete(user, session["id"]).json()  # type: ignore[attr-defined]
    second = _complete(user, session["id"]).json()  # type: ignore[attr-defined]

    assert first["id"] == second["id"]
    assert Attachment.objects.count() == 1


def test_completing_with_missing_chunks_is_refused(user: User, settings: object) -> None:
    settings.ENCLAVE_UPLOAD_CHUNK_BYTES = 4  # type: ignore[attr-defined]
    session = _start(user, "a.txt", 10)
    _put(user, session["id"], 1, b"4567")

    response = _complete(user, session["id"])

    assert response.status_code == 409  # type: ignore[attr-defined]
    assert response.json()["details"] == {"missing_chunks": [0, 2]}  # type: ignore[attr-defined]


def test_chunk_of_the_wrong_size_is_refused(user: User, settings: object) -> None:
    settings.ENCLAVE_UPLOAD_CHUNK_BYTES = 4  # type: ignore[attr-defined]
    session = _start(user, "a.txt", 10)

    response = _put(user, session["id"], 0, b"123")

    assert response.json()["code"] == "invalid_chunk"  # type: ignore[attr-defined]


def test_resumable_upload_is_sniffed_like_any_other(user: User) -> None:
    data = b"<html><script>x()</script></html>"
    session = _start(user, "readme.txt", len(data))
    _put(user, session["id"], 0, data)

    response = _complete(user, session["id"])

    assert response.json()["code"] == "type_mismatch"  # type: ignore[attr-defined]


def test_resumable_upload_larger_than_the_limit_is_refused_up_front(
    user: User, settings: object
) -> None:
    settings.ENCLAVE_UPLOAD_MAX_BYTES = 100  # type: ignore[attr-defined]

    response = client_of(user).post(
        reverse("files_api:uploads"), {"name": "big.iso", "size": 101}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (413, "file_too_large")


def test_resumable_upload_beyond_quota_is_refused_up_front(user: User, settings: object) -> None:
    settings.ENCLAVE_UPLOAD_USER_QUOTA_BYTES = 100  # type: ignore[attr-defined]

    response = client_of(user).post(
        reverse("files_api:uploads"), {"name": "big.iso", "size": 101}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (403, "quota_exceeded")


def test_someone_elses_upload_session_does_not_exist_for_you(make_user: MakeUser) -> None:
    owner, other = make_user(), make_user()
    session = _start(owner, "a.txt", 3)

    response = _put(other, session["id"], 0, b"abc")

    assert response.json()["code"] == "upload_not_found"  # type: ignore[attr-defined]


def test_expired_upload_session_is_refused(user: User) -> None:
    session = services.upload_session_create(uploader=user, name="a.txt", size=3)
    session.expires_at = session.created_at
    session.save(update_fields=["expires_at"])

    with raises_domain_error("upload_expired", 409):
        services.upload_session_put_chunk(user=user, session_id=session.pk, index=0, data=b"abc")
