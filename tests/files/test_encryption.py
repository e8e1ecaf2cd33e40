"""Encryption at rest of stored files: the format, the one read path, key rotation."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.http import HttpRequest
from django.urls import path
from PIL import Image

from apps.accounts.models import AuditEvent, User
from apps.chat.models import Channel, ChannelKind
from apps.core.runtime.asgi_handler import OneHopASGIHandler
from apps.files import api, services
from apps.files.api import STREAM_BLOCK_BYTES, StoredFileResponse
from apps.files.checks import encryption_settings_check
from apps.files.encryption import (
    MAGIC,
    SEGMENT_BYTES,
    TAG_BYTES,
    DecryptingReader,
    EncryptionKeyUnavailable,
    EnvironmentKeyring,
    StoredFileCorrupt,
    encrypted_chunks,
    generate_key,
    parse_keys,
    read_header,
)
from apps.files.key_rotation import (
    stored_files_census,
    stored_files_reencrypt_batch,
)
from apps.files.models import Attachment, AttachmentStatus
from apps.files.storage import (
    files_storage,
    iter_stored,
    open_stored,
    save_stored,
    stored_header,
)
from tests.asgi_http import streamed_get
from tests.files.support import (
    EICAR,
    body_of,
    clean_image_attachment,
    client_of,
    file_url,
    send_with,
)

KEY_A = generate_key()
KEY_B = generate_key()
SIZES = [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 3 * SEGMENT_BYTES + 100]
MARKER = b"ENCLAVE-PLAINTEXT-MARKER-7f3a"


def keyring(active: str = "a") -> EnvironmentKeyring:
    return EnvironmentKeyring({"a": parse_keys(f"a:{KEY_A}")["a"], "b": _b()}, active)


def _b() -> bytes:
    return parse_keys(f"b:{KEY_B}")["b"]


def sealed(data: bytes, *, ring: EnvironmentKeyring | None = None) -> bytes:
    return b"".join(encrypted_chunks(io.BytesIO(data), keyring=ring or keyring()))


def opened(blob: bytes, *, ring: EnvironmentKeyring | None = None) -> DecryptingReader:
    handle = io.BytesIO(blob)
    header = read_header(handle)
    assert header is not None
    return DecryptingReader(handle, header, keyring=ring or keyring())


def pattern(size: int) -> bytes:
    """Bytes that differ from segment to segment (a swapped segment changes the content)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


@pytest.fixture(autouse=True)
def own_storage(settings: Any, tmp_path: Path) -> None:
    """A files storage of this test's own: the census counts exactly its objects."""
    settings.STORAGES = {
        **settings.STORAGES,
        "enclave_files": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "files")},
        },
    }


@pytest.fixture
def encryption_on(settings: Any) -> Callable[[str, str], None]:
    """Keys a and b configured; `use(active, keys)` changes which are (keys: "ab", "b", ...)."""

    def use(active: str = "a", keys: str = "ab") -> None:
        entries = {"a": f"a:{KEY_A}", "b": f"b:{KEY_B}"}
        settings.ENCLAVE_FILES_ENCRYPTION_KEYS = ",".join(entries[k] for k in keys)
        settings.ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY = active

    use()
    return use


def encryption_off(settings: Any) -> None:
    settings.ENCLAVE_FILES_ENCRYPTION_KEYS = ""
    settings.ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY = ""


def raw_bytes(name: str) -> bytes:
    return Path(files_storage().path(name)).read_bytes()


# --- the format -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=[f"{size}B" for size in SIZES])
def test_round_trip_of_every_size_around_a_segment(size: int) -> None:
    data = pattern(size)
    blob = sealed(data)
    segments = max(1, -(-size // SEGMENT_BYTES))

    with opened(blob) as reader:
        assert reader.size == size
        assert reader.read() == data
    assert blob.startswith(MAGIC)
    assert len(blob) - segments * TAG_BYTES - size == len(read_header(io.BytesIO(blob)).raw)  # type: ignore[union-attr]


def test_reads_and_seeks_anywhere_in_the_plaintext() -> None:
    data = pattern(3 * SEGMENT_BYTES + 100)
    with opened(sealed(data)) as reader:
        for start, length in [(SEGMENT_BYTES - 3, 10), (2 * SEGMENT_BYTES, 5), (0, 1)]:
            reader.seek(start)
            assert reader.read(length) == data[start : start + length]
        reader.seek(-7, io.SEEK_END)
        assert reader.read() == data[-7:]


def test_the_same_plaintext_encrypts_differently_each_time() -> None:
    assert sealed(b"same") != sealed(b"same")


def _segment_offset(blob: bytes, index: int) -> int:
    header = read_header(io.BytesIO(blob))
    assert header is not None
    return len(header.raw) + index * (SEGMENT_BYTES + TAG_BYTES)


def test_a_changed_byte_in_a_segment_fails_when_that_segment_is_read() -> None:
    blob = bytearray(sealed(pattern(3 * SEGMENT_BYTES)))
    blob[_segment_offset(bytes(blob), 1) + 5] ^= 0x01

    with opened(bytes(blob)) as reader:
        assert reader.read(SEGMENT_BYTES) == pattern(SEGMENT_BYTES)  # segment 0 is intact
        with pytest.raises(StoredFileCorrupt, match="segment 1"):
            reader.read(SEGMENT_BYTES)


@pytest.mark.parametrize("where", ["nonce prefix", "key id", "wrapped key"])
def test_a_changed_header_is_refused_at_open(where: str) -> None:
    blob = bytearray(sealed(pattern(1000)))
    header = read_header(io.BytesIO(bytes(blob)))
    assert header is not None
    offset = {"nonce prefix": 12, "key id": 20, "wrapped key": len(header.raw) - 3}[where]
    blob[offset] ^= 0x01

    with pytest.raises((StoredFileCorrupt, EncryptionKeyUnavailable)):
        opened(bytes(blob))


@pytest.mark.parametrize(
    "cut",
    [1, TAG_BYTES, SEGMENT_BYTES + TAG_BYTES, SEGMENT_BYTES + TAG_BYTES + 1],
    ids=["a byte", "a tag", "the last segment", "a segment and a byte"],
)
def test_a_truncated_object_is_refused_at_open(cut: int) -> None:
    blob = sealed(pattern(3 * SEGMENT_BYTES))

    with pytest.raises(StoredFileCorrupt):
        opened(blob[:-cut])


def test_bytes_after_the_last_segment_are_refused() -> None:
    blob = sealed(pattern(SEGMENT_BYTES + 10))

    with pytest.raises(StoredFileCorrupt):
        opened(blob + b"\x00" * (SEGMENT_BYTES + TAG_BYTES))


def test_reordered_segments_fail_authentication() -> None:
    blob = sealed(pattern(3 * SEGMENT_BYTES))
    first, second = _segment_offset(blob, 0), _segment_offset(blob, 1)
    width = SEGMENT_BYTES + TAG_BYTES
    swapped = (
        blob[:first] + blob[second : second + width] + blob[first:second] + blob[second + width :]
    )

    with opened(swapped) as reader, pytest.raises(StoredFileCorrupt, match="segment 0"):
        reader.read(10)


def test_a_segment_from_another_object_fails_authentication() -> None:
    one, other = sealed(pattern(2 * SEGMENT_BYTES)), sealed(pattern(2 * SEGMENT_BYTES))
    start = _segment_offset(one, 0)
    width = SEGMENT_BYTES + TAG_BYTES
    mixed = one[:start] + other[start : start + width] + one[start + width :]

    with opened(mixed) as reader, pytest.raises(StoredFileCorrupt):
        reader.read(10)


def test_an_unknown_key_id_is_a_clear_error() -> None:
    blob = sealed(b"secret", ring=keyring("a"))
    only_b = EnvironmentKeyring({"b": _b()}, "b")

    with pytest.raises(EncryptionKeyUnavailable, match="key id 'a'") as raised:
        opened(blob, ring=only_b)
    assert raised.value.key_id == "a"


def test_a_different_key_under_the_same_id_is_a_clear_error() -> None:
    blob = sealed(b"secret", ring=keyring("a"))
    impostor = EnvironmentKeyring({"a": _b()}, "a")

    with pytest.raises(EncryptionKeyUnavailable, match="does not unwrap"):
        opened(blob, ring=impostor)


@pytest.mark.parametrize(
    ("keys", "active"),
    [
        ("a:not-base64!", "a"),
        (f"a:{KEY_A[:-8]}", "a"),  # fewer than 32 bytes
        (f"bad id:{KEY_A}", "bad id"),
        (f"a:{KEY_A},a:{KEY_B}", "a"),
        (f"a:{KEY_A}", ""),
        (f"a:{KEY_A}", "b"),
        ("", "a"),
    ],
    ids=["not base64", "short key", "bad id", "id twice", "no active", "active unknown", "no keys"],
)
def test_misconfigured_keys_are_refused(settings: Any, keys: str, active: str) -> None:
    from apps.files.encryption import configured_keyring

    settings.ENCLAVE_FILES_ENCRYPTION_KEYS = keys
    settings.ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY = active

    with pytest.raises(ImproperlyConfigured):
        configured_keyring()


class GeneratedSource(io.RawIOBase):
    """`size` bytes of `pattern`-like content made on the fly (never held whole)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.counter = 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0  # save_stored rewinds its source; this one is read once

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.left, 32 * 1024)
        block = (MARKER + hashlib.sha256(self.counter.to_bytes(8, "big")).digest() * 1024)[:count]
        self.counter += 1
        self.digest.update(block)
        buffer[:count] = block
        self.left -= count
        return count


@pytest.mark.usefixtures("encryption_on")
def test_a_file_of_several_megabytes_streams_both_ways_in_little_memory() -> None:
    size = 16 * 1024 * 1024 + 12345
    source = GeneratedSource(size)
    # Warm up (imports, the storage object) so that only the streaming itself is measured.
    list(iter_stored(save_stored("tests/warm-up.bin", io.BytesIO(b"x"))))

    tracemalloc.start()
    try:
        name = save_stored("tests/streamed.bin", source)
        _current, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = hashlib.sha256()
        for block in iter_stored(name):
            digest.update(block)
        _current, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert digest.hexdigest() == source.digest.hexdigest()
    assert open_stored(name).size == size
    assert MARKER not in raw_bytes(name)
    # A few segments and read blocks (1 MiB), not the file (16 MiB).
    assert write_peak < 4 * 1024 * 1024
    assert read_peak < 4 * 1024 * 1024


# --- through the application ------------------------------------------------------------------


def _clean(user: User, data: bytes, name: str) -> Attachment:
    attachment = services.attachment_upload(uploader=user, source=io.BytesIO(data), name=name)
    Attachment.objects.filter(pk=attachment.pk).update(status=AttachmentStatus.CLEAN)
    attachment.refresh_from_db()
    return attachment


@pytest.mark.django_db
@pytest.mark.usefixtures("encryption_on")
def test_stored_bytes_hold_no_plaintext(user: User) -> None:
    data = (MARKER + b" quarterly numbers\n") * 5000
    attachment = _clean(user, data, "numbers.txt")

    stored = raw_bytes(attachment.blob.storage_name)

    assert stored.startswith(MAGIC)
    assert MARKER not in stored
    assert stored_header(attachment.blob.storage_name).key_id == "a"  # type: ignore[union-attr]
    assert body_of(client_of(user).get(file_url("download", attachment))) == data


@pytest.mark.django_db
@pytest.mark.usefixtures("encryption_on")
def test_resumable_upload_parts_are_encrypted_and_assemble(user: User, settings: Any) -> None:
    settings.ENCLAVE_UPLOAD_CHUNK_BYTES = 100_000
    data = (MARKER + b"-part-") * 8000
    client = client_of(user)
    session = client.post(
        "/api/v1/uploads/", {"name": "big.txt", "size": len(data)}, format="json"
    ).json()
    for index in range(session["chunk_count"]):
        part = data[index * 100_000 : (index + 1) * 100_000]
        client.put(
            f"/api/v1/uploads/{session['id']}/chunks/{index}",
            data=part,
            content_type="application/octet-stream",
        )
        assert MARKER not in raw_bytes(f"uploads/{session['id']}/{index:06d}")

    done = client.post(f"/api/v1/uploads/{session['id']}/complete")

    attachment = Attachment.objects.get(pk=done.json()["id"])
    with open_stored(attachment.blob.storage_name) as reader:
        assert reader.read() == data


@pytest.mark.django_db
@pytest.mark.usefixtures("encryption_on")
def test_thumbnail_of_an_encrypted_image_is_made_and_served(user: User) -> None:
    attachment = clean_image_attachment(user, name="plan.png")

    response = client_of(user).get(file_url("thumbnail", attachment))

    assert attachment.thumbnail_name
    assert raw_bytes(attachment.thumbnail_name).startswith(MAGIC)
    assert not raw_bytes(attachment.blob.storage_name).startswith(b"\x89PNG")
    assert response.status_code == 200
    with Image.open(io.BytesIO(body_of(response))) as thumbnail:
        assert thumbnail.format == "PNG"
    preview = client_of(user).get(file_url("preview", attachment))
    with Image.open(io.BytesIO(body_of(preview))) as image:
        assert image.size == (40, 30)


@pytest.fixture
def big_file(user: User, encryption_on: Any) -> tuple[Attachment, bytes]:
    data = pattern(3 * SEGMENT_BYTES + 100)
    return _clean(user, data, "data.bin"), data


RANGES = [
    (f"bytes=0-{SEGMENT_BYTES - 1}", 0, SEGMENT_BYTES, {0}),
    (f"bytes={SEGMENT_BYTES - 1}-{SEGMENT_BYTES}", SEGMENT_BYTES - 1, 2, {0, 1}),
    (f"bytes={SEGMENT_BYTES}-{2 * SEGMENT_BYTES - 1}", SEGMENT_BYTES, SEGMENT_BYTES, {1}),
    (f"bytes={2 * SEGMENT_BYTES}-", 2 * SEGMENT_BYTES, SEGMENT_BYTES + 100, {2}),
    ("bytes=-100", 3 * SEGMENT_BYTES, 100, set()),
    (f"bytes={3 * SEGMENT_BYTES}-{3 * SEGMENT_BYTES}", 3 * SEGMENT_BYTES, 1, set()),
    (f"bytes=5-{10 * SEGMENT_BYTES}", 5, 3 * SEGMENT_BYTES + 95, {0, 1, 2}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "start", "length", "middle_segments"),
    RANGES,
    ids=[
        "first segment",
        "across a boundary",
        "second segment",
        "open end",
        "suffix",
        "one byte of the last",
        "past the end",
    ],
)
def test_range_requests_decrypt_only_the_segments_they_need(
    big_file: tuple[Attachment, bytes],
    monkeypatch: pytest.MonkeyPatch,
    header: str,
    start: int,
    length: int,
    middle_segments: set[int],
) -> None:
    attachment, data = big_file
    decrypted: list[int] = []
    original = DecryptingReader._segment

    def spy(self: DecryptingReader, index: int) -> bytes:
        decrypted.append(index)
        return original(self, index)

    monkeypatch.setattr(DecryptingReader, "_segment", spy)

    response = client_of(attachment.uploader).get(
        file_url("download", attachment), HTTP_RANGE=header
    )

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{start + length - 1}/{len(data)}"
    assert response["Content-Length"] == str(length)
    assert body_of(response) == data[start : start + length]
    # The last segment (3) is always checked at open: truncation is caught before serving.
    assert set(decrypted) == middle_segments | {3}


@pytest.mark.django_db
def test_range_outside_the_file_is_416(big_file: tuple[Attachment, bytes]) -> None:
    attachment, data = big_file

    response = client_of(attachment.uploader).get(
        file_url("download", attachment), HTTP_RANGE=f"bytes={len(data)}-"
    )

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(data)}"


@pytest.mark.django_db
def test_several_ranges_get_the_whole_file(big_file: tuple[Attachment, bytes]) -> None:
    attachment, data = big_file

    response = client_of(attachment.uploader).get(
        file_url("download", attachment), HTTP_RANGE="bytes=0-1,5-6"
    )

    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert body_of(response) == data


@pytest.mark.django_db
def test_range_requests_work_on_files_stored_in_the_clear(user: User, settings: Any) -> None:
    encryption_off(settings)
    attachment = _clean(user, b"0123456789", "digits.txt")

    response = client_of(user).get(file_url("download", attachment), HTTP_RANGE="bytes=2-4")

    assert (response.status_code, body_of(response)) == (206, b"234")


@pytest.mark.django_db
def test_an_outsider_gets_no_range_of_an_encrypted_file(
    big_file: tuple[Attachment, bytes], make_user: Callable[..., User]
) -> None:
    attachment, _data = big_file

    response = client_of(make_user()).get(file_url("download", attachment), HTTP_RANGE="bytes=0-9")

    assert (response.status_code, response.json()["code"]) == (404, "file_not_found")


@pytest.mark.django_db
def test_a_tampered_file_is_never_served(big_file: tuple[Attachment, bytes]) -> None:
    attachment, data = big_file
    path = Path(files_storage().path(attachment.blob.storage_name))
    blob = bytearray(path.read_bytes())
    blob[_segment_offset(bytes(blob), 1) + 9] ^= 0x80
    path.write_bytes(bytes(blob))
    client = client_of(attachment.uploader)

    response = client.get(file_url("download", attachment))
    received = bytearray()

    def read_all() -> None:
        for block in response.streaming_content:
            received.extend(block)

    with pytest.raises(StoredFileCorrupt):
        read_all()

    # What was sent before the damaged segment is the file's own; nothing of segment 1.
    assert len(received) <= SEGMENT_BYTES
    assert bytes(received) == data[: len(received)]
    ranged = client.get(file_url("download", attachment), HTTP_RANGE=f"bytes={SEGMENT_BYTES}-")
    with pytest.raises(StoredFileCorrupt):
        body_of(ranged)


@pytest.mark.django_db
def test_a_truncated_file_answers_file_corrupt(big_file: tuple[Attachment, bytes]) -> None:
    attachment, _data = big_file
    path = Path(files_storage().path(attachment.blob.storage_name))
    path.write_bytes(path.read_bytes()[: -(SEGMENT_BYTES // 2)])

    response = client_of(attachment.uploader).get(file_url("download", attachment))

    assert (response.status_code, response.json()["code"]) == (500, "file_corrupt")


@pytest.mark.django_db
def test_a_file_whose_key_is_gone_answers_file_key_unavailable(
    user: User, encryption_on: Callable[..., None]
) -> None:
    attachment = _clean(user, b"under a", "a.txt")
    encryption_on(active="b", keys="b")

    response = client_of(user).get(file_url("download", attachment))

    assert (response.status_code, response.json()["code"]) == (503, "file_key_unavailable")


@pytest.mark.django_db
def test_encrypted_files_stream_through_the_app_even_in_x_accel_mode(
    big_file: tuple[Attachment, bytes], settings: Any
) -> None:
    attachment, data = big_file
    settings.ENCLAVE_FILES_X_ACCEL = True

    response = client_of(attachment.uploader).get(file_url("download", attachment))

    assert "X-Accel-Redirect" not in response
    assert body_of(response) == data
    assert [message.id for message in encryption_settings_check()] == ["files.W001"]


def test_no_warning_without_both_settings(settings: Any) -> None:
    settings.ENCLAVE_FILES_X_ACCEL = True
    encryption_off(settings)

    assert encryption_settings_check() == []


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clamd", "encryption_on")
def test_eicar_uploaded_with_encryption_on_is_still_caught(
    make_user: Callable[..., User], make_channel: Callable[..., Channel]
) -> None:
    alice, bob = make_user(), make_user()
    channel = make_channel(kind=ChannelKind.PRIVATE, members=(alice, bob))
    attachment = services.attachment_upload(
        uploader=alice, source=io.BytesIO(EICAR), name="eicar.txt"
    )
    send_with(alice, channel, attachment)

    attachment.refresh_from_db()

    assert EICAR not in raw_bytes(attachment.blob.storage_name)  # clamd got the plaintext
    assert attachment.status == AttachmentStatus.INFECTED
    assert "Eicar" in attachment.scan_signature
    response = client_of(bob).get(file_url("download", attachment))
    assert response.status_code == 403


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clamd", "encryption_on")
def test_a_clean_encrypted_file_passes_the_scan(user: User) -> None:
    attachment = services.attachment_upload(
        uploader=user, source=io.BytesIO(b"minutes " * 20000), name="minutes.txt"
    )

    attachment.refresh_from_db()

    assert attachment.status == AttachmentStatus.CLEAN


# --- rotation ---------------------------------------------------------------------------------


@pytest.fixture
def three_files(
    user: User, settings: Any, encryption_on: Callable[..., None]
) -> dict[str, Attachment]:
    """One file stored in the clear, one under key a, one under key b (b active at the end)."""
    encryption_off(settings)
    clear = _clean(user, MARKER + b" from before encryption", "clear.txt")
    encryption_on(active="a")
    under_a = _clean(user, pattern(SEGMENT_BYTES + 5), "a.bin")
    encryption_on(active="b")
    under_b = _clean(user, b"under b", "b.txt")
    return {"clear": clear, "a": under_a, "b": under_b}


def _content(attachment: Attachment) -> bytes:
    with open_stored(attachment.blob.storage_name) as reader:
        return reader.read()


@pytest.mark.django_db
def test_files_under_the_old_key_and_in_the_clear_still_read_after_a_new_key_is_active(
    three_files: dict[str, Attachment],
) -> None:
    under_a = three_files["a"]

    response = client_of(under_a.uploader).get(file_url("download", under_a))

    clear = three_files["clear"]
    from_before = client_of(clear.uploader).get(
        file_url("download", clear), HTTP_RANGE="bytes=0-28"
    )

    assert body_of(response) == pattern(SEGMENT_BYTES + 5)
    assert body_of(from_before) == MARKER
    assert stored_header(clear.blob.storage_name) is None
    assert stored_header(under_a.blob.storage_name).key_id == "a"  # type: ignore[union-attr]
    assert stored_header(three_files["b"].blob.storage_name).key_id == "b"  # type: ignore[union-attr]


def _census_of_blobs() -> dict[str, int]:
    census = stored_files_census()
    return {**census.by_key_id, "clear": census.clear, "left": census.left}


@pytest.mark.django_db
def test_reencryption_moves_everything_to_the_active_key(
    three_files: dict[str, Attachment], settings: Any, encryption_on: Callable[..., None]
) -> None:
    before = {name: _content(attachment) for name, attachment in three_files.items()}
    assert _census_of_blobs() == {"a": 1, "b": 1, "clear": 1, "left": 2}
    out = io.StringIO()

    call_command("files_encryption", "reencrypt", "--batch-size", "1", stdout=out)

    assert "Left to re-encrypt: 0" in out.getvalue()
    assert _census_of_blobs() == {"b": 3, "clear": 0, "left": 0}
    for name, attachment in three_files.items():
        assert stored_header(attachment.blob.storage_name).key_id == "b"  # type: ignore[union-attr]
        assert _content(attachment) == before[name]
    assert MARKER not in raw_bytes(three_files["clear"].blob.storage_name)
    # Key a can go now.
    encryption_on(active="b", keys="b")
    for name, attachment in three_files.items():
        assert _content(attachment) == before[name]
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions.count("files.reencryption_started") == 1
    assert actions.count("files.reencrypted") == 1
    finished = AuditEvent.objects.get(action="files.reencrypted")
    assert finished.metadata["encrypted"] == 1
    assert finished.metadata["rewrapped"] == 1
    assert finished.metadata["active_key_id"] == "b"


@pytest.mark.django_db
def test_reencryption_resumes_after_a_stop_and_is_idempotent(
    three_files: dict[str, Attachment],
) -> None:
    first = stored_files_reencrypt_batch(after="", limit=1)
    assert not first.done
    # The job "dies" here; a later run starts over and finds the done object done.
    rerun = stored_files_reencrypt_batch(after="", limit=100)
    again = stored_files_reencrypt_batch(after="", limit=100)

    assert rerun.done
    assert again.done
    assert rerun.already >= 1
    assert rerun.encrypted + rerun.rewrapped + first.encrypted + first.rewrapped == 2
    assert (again.encrypted, again.rewrapped, again.already) == (0, 0, 3)
    assert _census_of_blobs()["left"] == 0


@pytest.mark.django_db
def test_reencryption_continues_from_its_cursor(three_files: dict[str, Attachment]) -> None:
    first = stored_files_reencrypt_batch(after="", limit=2)
    stopped_at = first.cursor
    assert not first.done

    rest = stored_files_reencrypt_batch(after=stopped_at, limit=2, progress=first)

    assert stopped_at < rest.cursor
    assert rest.done
    assert rest.examined == 3
    assert _census_of_blobs()["left"] == 0


@pytest.mark.django_db
def test_the_celery_task_walks_in_batches_to_the_end(
    three_files: dict[str, Attachment], settings: Any
) -> None:
    from apps.files.tasks import reencrypt_stored_files

    settings.ENCLAVE_FILES_REENCRYPT_BATCH_SIZE = 1

    assert reencrypt_stored_files.delay().get() is False  # the first batch of several
    assert _census_of_blobs()["left"] == 0
    out = io.StringIO()
    call_command("files_encryption", "status", stdout=out)
    assert "under key b: 3" in out.getvalue()
    assert "Key ids no object uses (removable): a" in out.getvalue()
    assert "Last re-encryption run (finished): 3 examined" in out.getvalue()


@pytest.mark.django_db
def test_thumbnails_and_upload_parts_are_reencrypted_too(
    user: User, settings: Any, encryption_on: Callable[..., None]
) -> None:
    encryption_off(settings)
    image = clean_image_attachment(user, name="plan.png")
    save_stored("uploads/00000000-0000-0000-0000-000000000000/000000", io.BytesIO(MARKER))
    encryption_on(active="b")

    stored_files_reencrypt_batch(after="", limit=100)

    for name in (
        image.thumbnail_name,
        image.blob.storage_name,
        "uploads/00000000-0000-0000-0000-000000000000/000000",
    ):
        assert stored_header(name).key_id == "b"  # type: ignore[union-attr]
    assert client_of(user).get(file_url("thumbnail", image)).status_code == 200


@pytest.mark.django_db
def test_an_object_whose_key_is_gone_is_counted_not_destroyed(
    user: User, encryption_on: Callable[..., None]
) -> None:
    attachment = _clean(user, b"under a", "a.txt")
    encryption_on(active="b", keys="b")
    before = raw_bytes(attachment.blob.storage_name)

    progress = stored_files_reencrypt_batch(after="", limit=100)

    assert progress.unreadable == 1
    assert raw_bytes(attachment.blob.storage_name) == before
    out = io.StringIO()
    call_command("files_encryption", "status", stdout=out)
    assert "under key a: 1  (key NOT configured!)" in out.getvalue()
    assert "Left to re-encrypt: 1" in out.getvalue()


def test_reencrypt_refuses_with_encryption_off(settings: Any) -> None:
    from django.core.management.base import CommandError

    encryption_off(settings)

    with pytest.raises(CommandError, match="encryption is off"):
        call_command("files_encryption", "reencrypt", stdout=io.StringIO())


def test_generate_key_prints_a_usable_key() -> None:
    out = io.StringIO()

    call_command("files_encryption", "generate-key", stdout=out)

    assert len(parse_keys(f"new:{out.getvalue().strip()}")["new"]) == 32


@pytest.mark.django_db
def test_the_last_census_is_exported_as_metrics(three_files: dict[str, Attachment]) -> None:
    from apps.ops.metrics import _files_encryption_metrics

    call_command("files_encryption", "status", stdout=io.StringIO())

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in _files_encryption_metrics()
        for sample in family.samples
    }
    assert samples[("enclave_files_stored_objects", (("key_id", "a"),))] == 1
    assert samples[("enclave_files_stored_objects", (("key_id", "b"),))] == 1
    assert samples[("enclave_files_stored_objects", (("key_id", "clear"),))] == 1
    assert samples[("enclave_files_not_under_active_key_objects", ())] == 2
    stored_files_reencrypt_batch(after="", limit=100)
    call_command("files_encryption", "status", stdout=io.StringIO())
    after = {
        sample.name: sample.value
        for family in _files_encryption_metrics()
        for sample in family.samples
    }
    assert after["enclave_files_not_under_active_key_objects"] == 0


# --- streaming under ASGI ---------------------------------------------------------------------

STREAMED_NAME = "blobs/st/re/streamed"


def _encrypted_download(request: HttpRequest) -> StoredFileResponse:
    reader = open_stored(STREAMED_NAME)
    return StoredFileResponse(
        reader, start=0, length=reader.size, content_type="application/octet-stream"
    )


urlpatterns = [path("encrypted", _encrypted_download)]


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("encryption_on")
@pytest.mark.filterwarnings("error:StreamingHttpResponse must consume synchronous iterators")
async def test_an_encrypted_download_is_decrypted_block_by_block_as_it_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = pattern(6 * STREAM_BLOCK_BYTES)
    await sync_to_async(save_stored)(STREAMED_NAME, io.BytesIO(data))
    decrypted: list[int] = []
    original = DecryptingReader._segment

    def spy(self: DecryptingReader, index: int) -> bytes:
        decrypted.append(index)
        return original(self, index)

    monkeypatch.setattr(DecryptingReader, "_segment", spy)
    # Each block is fetched by its own hop to a thread: what was decrypted when each began.
    decrypted_at_each_block: list[int] = []
    original_next = api._next_block

    def next_block(blocks: Any) -> bytes | None:
        decrypted_at_each_block.append(len(set(decrypted)))
        return original_next(blocks)

    monkeypatch.setattr(api, "_next_block", next_block)
    start, body = await streamed_get(OneHopASGIHandler(), "/encrypted")

    assert start["status"] == 200
    per_block = STREAM_BLOCK_BYTES // SEGMENT_BYTES
    # The last segment is checked at open; then one block's segments at a time (6 blocks and
    # the end), never the whole file ahead of what was sent.
    total = len(data) // SEGMENT_BYTES
    assert decrypted_at_each_block == [min(1 + per_block * index, total) for index in range(7)]
    assert body == data
