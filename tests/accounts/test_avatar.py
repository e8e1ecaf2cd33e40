"""Profile pictures: PUT/DELETE /api/v1/users/me/avatar/ and how they are served."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from apps.accounts import services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

AVATAR_URL = "/api/v1/users/me/avatar/"


def picture(width: int = 600, height: int = 400, image_format: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, format=image_format)
    return out.getvalue()


def put_avatar(client: APIClient, data: bytes, name: str = "me.jpg") -> object:
    upload = SimpleUploadedFile(name, data, "image/jpeg")
    return client.put(AVATAR_URL, {"avatar": upload}, format="multipart")


def signed_in() -> tuple[APIClient, object]:
    user = UserFactory()
    client = APIClient()
    client.force_authenticate(user)
    return client, user


def test_upload_is_redrawn_as_a_256_pixel_png() -> None:
    client, user = signed_in()
    original = picture()
    response = put_avatar(client, original)
    assert response.status_code == 200
    url = response.json()["avatar_url"]
    assert url.startswith("/media/avatars/")
    assert url.endswith(".png")
    user.refresh_from_db()
    stored = user.avatar.read()
    assert stored != original
    with Image.open(io.BytesIO(stored)) as image:
        assert (image.format, image.size) == ("PNG", (256, 256))


def test_non_image_is_refused_with_a_code() -> None:
    client, user = signed_in()
    response = put_avatar(client, b"%PDF-1.4 not a picture", name="cv.png")
    assert response.status_code == 400
    assert response.json()["code"] == "avatar_not_image"
    user.refresh_from_db()
    assert not user.avatar


def test_missing_field_is_refused() -> None:
    client, _user = signed_in()
    response = client.put(AVATAR_URL, {}, format="multipart")
    assert (response.status_code, response.json()["code"]) == (400, "avatar_required")


def test_file_over_5_mb_is_refused() -> None:
    client, _user = signed_in()
    too_big = picture(10, 10, "PNG") + b"\0" * (5 * 1024 * 1024)
    response = put_avatar(client, too_big, name="big.png")
    assert (response.status_code, response.json()["code"]) == (400, "avatar_too_large")


def test_picture_over_4096_pixels_wide_is_refused() -> None:
    client, _user = signed_in()
    response = put_avatar(client, picture(4097, 10, "PNG"), name="wide.png")
    assert (response.status_code, response.json()["code"]) == (400, "avatar_too_many_pixels")


def test_anonymous_gets_401() -> None:
    response = put_avatar(APIClient(), picture())
    assert response.status_code == 401


def test_delete_goes_back_to_initials_and_removes_the_file(
    django_capture_on_commit_callbacks: Any,
) -> None:
    client, user = signed_in()
    put_avatar(client, picture())
    user.refresh_from_db()
    name = user.avatar.name
    storage = user.avatar.storage
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(AVATAR_URL)
    assert (response.status_code, response.json()["avatar_url"]) == (200, None)
    assert not storage.exists(name)


def test_replacing_keeps_only_the_new_file(django_capture_on_commit_callbacks: Any) -> None:
    user = UserFactory()
    services.user_set_avatar(user=user, source=io.BytesIO(picture()))
    first = user.avatar.name
    with django_capture_on_commit_callbacks(execute=True):
        services.user_set_avatar(user=user, source=io.BytesIO(picture(50, 80, "PNG")))
    assert user.avatar.name != first
    assert not user.avatar.storage.exists(first)
    assert user.avatar.storage.exists(user.avatar.name)


def test_avatar_is_served_to_signed_in_users_only() -> None:
    user = UserFactory()
    services.user_set_avatar(user=user, source=io.BytesIO(picture()))
    url = user.avatar.url
    viewer = Client()
    viewer.force_login(UserFactory())
    response = viewer.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert Client().get(url).status_code == 302
    assert viewer.get(reverse("avatar-file", args=["nope.png"])).status_code == 404
