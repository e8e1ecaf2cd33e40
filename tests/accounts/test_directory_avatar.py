"""The directory's photo (jpegPhoto / AD thumbnailPhoto) becomes the user's avatar."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap
import pytest
from django.test import Client
from PIL import Image

from apps.accounts.ldap_sync import directory_avatar, directory_sync
from apps.accounts.models import User
from tests.accounts.ldap_server import LdapServer
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def person_with_photo(directory: LdapServer) -> Iterator[Any]:
    """`add(uid, photo_bytes)` adds a person whose jpegPhoto is `photo_bytes`."""
    added: list[str] = []

    def add(uid: str, photo: bytes) -> str:
        dn = directory.add_person(uid)
        conn = directory.connection()
        try:
            conn.modify_s(dn, [(ldap.MOD_ADD, "jpegPhoto", [photo])])
        finally:
            conn.unbind_s()
        added.append(dn)
        return dn

    yield add
    for dn in added:
        directory.delete_person(dn)


def test_directory_avatar_is_resized_to_256_pixels() -> None:
    avatar = directory_avatar(jpeg(1024, 512))
    assert avatar is not None
    with Image.open(io.BytesIO(avatar)) as image:
        assert image.size == (256, 128)


def test_directory_avatar_of_something_that_is_no_image_is_none() -> None:
    assert directory_avatar(b"not an image at all") is None
    assert directory_avatar(b"") is None


def test_sync_stores_the_directory_photo_as_avatar_once(
    media_root: Path, person_with_photo: Any
) -> None:
    person_with_photo("pia", jpeg(600, 600))

    first = directory_sync()
    user = User.objects.get(username="pia")
    assert user.avatar.name.startswith("avatars/directory-")
    with Image.open(user.avatar.path) as image:
        assert image.size == (256, 256)

    second = directory_sync()
    assert "pia" in first.created
    assert not any(line.startswith("pia") for line in second.updated)


def test_sync_skips_an_invalid_directory_photo(media_root: Path, person_with_photo: Any) -> None:
    person_with_photo("ivan", b"\xff\xd8 broken jpeg")

    directory_sync()

    assert not User.objects.get(username="ivan").avatar


def test_directory_photo_is_served_as_an_image(media_root: Path, person_with_photo: Any) -> None:
    person_with_photo("paul", jpeg(600, 400))
    directory_sync()
    paul = User.objects.get(username="paul")
    viewer = Client()
    viewer.force_login(UserFactory())

    response = viewer.get(paul.avatar.url)

    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    with Image.open(io.BytesIO(body)) as image:
        assert Image.MIME[image.format or ""] == response["Content-Type"]
        assert image.size == (256, 171)


def test_a_changed_directory_photo_gets_a_new_address(
    media_root: Path,
    person_with_photo: Any,
    directory: LdapServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Avatar addresses are cached for good: a new photo must never reuse an old address."""
    dn = person_with_photo("rita", jpeg(300, 300))
    addresses = []
    for width in (301, 302, 303):
        with django_capture_on_commit_callbacks(execute=True):
            directory_sync()
        addresses.append(User.objects.get(username="rita").avatar.url)
        conn = directory.connection()
        try:
            conn.modify_s(dn, [(ldap.MOD_REPLACE, "jpegPhoto", [jpeg(width, 300)])])
        finally:
            conn.unbind_s()

    assert len(set(addresses)) == 3
