"""The encrypted part format: streams in chunks, refuses damage, truncation and wrong keys."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc

import pytest
from django.core.management import call_command

from apps.ops.backups.crypto import (
    CHUNK_BYTES,
    DecryptingReader,
    EncryptingWriter,
    configured_key,
    decode_key,
    generate_key,
)
from apps.ops.backups.errors import (
    BackupCorrupt,
    BackupKeyInvalid,
    BackupKeyMismatch,
    BackupKeyMissing,
)

KEY = decode_key(generate_key())


def sealed(data: bytes, *, key: bytes = KEY, compress: bool = True) -> bytes:
    out = io.BytesIO()
    writer = EncryptingWriter(out, key, compress=compress)
    for start in range(0, len(data), 100_000):
        writer.write(data[start : start + 100_000])
    writer.close()
    return out.getvalue()


def opened(blob: bytes, *, key: bytes = KEY) -> bytes:
    return DecryptingReader(io.BytesIO(blob), key, name="part.enc").read()


@pytest.mark.parametrize("compress", [True, False])
def test_a_part_of_several_chunks_decrypts_to_the_same_bytes(compress: bool) -> None:
    data = os.urandom(CHUNK_BYTES * 2 + 12345) + b"\x00" * CHUNK_BYTES
    assert opened(sealed(data, compress=compress)) == data


def test_an_empty_part_round_trips() -> None:
    assert opened(sealed(b"")) == b""


def test_the_ciphertext_does_not_contain_the_plain_text() -> None:
    assert b"secret payroll" not in sealed(b"secret payroll " * 1000, compress=False)


def test_encrypting_a_large_stream_holds_only_a_few_chunks_in_memory() -> None:
    block = os.urandom(256 * 1024)
    sink = hashlib.sha256()

    class Sink:
        def write(self, data: bytes) -> int:
            sink.update(data)
            return len(data)

    tracemalloc.start()
    try:
        writer = EncryptingWriter(Sink(), KEY)  # type: ignore[arg-type]
        for _ in range(200):  # 50 MiB
            writer.write(block)
        writer.close()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert writer.plain_bytes == 200 * len(block)
    assert peak < 8 * CHUNK_BYTES


def test_a_flipped_byte_is_refused() -> None:
    blob = bytearray(sealed(os.urandom(CHUNK_BYTES + 10), compress=False))
    # A byte of the first record's ciphertext (after the 33-byte header and the 5-byte record
    # prefix): a flip in a length field is refused too, but as a different damage.
    blob[33 + 5 + 100] ^= 0x01
    with pytest.raises(BackupCorrupt, match="fails authentication"):
        opened(bytes(blob))


def test_a_part_cut_after_a_whole_record_is_refused_as_truncated() -> None:
    data = os.urandom(CHUNK_BYTES * 2 + 10)
    blob = sealed(data, compress=False)
    first_record_end = 33 + 5 + CHUNK_BYTES + 16  # header, record prefix, chunk, tag
    with pytest.raises(BackupCorrupt, match="truncated"):
        opened(blob[:first_record_end])


def test_a_part_cut_inside_a_record_is_refused() -> None:
    blob = sealed(os.urandom(5000))
    with pytest.raises(BackupCorrupt, match="truncated"):
        opened(blob[:-7])


def test_bytes_after_the_last_record_are_refused() -> None:
    with pytest.raises(BackupCorrupt, match="after its last record"):
        opened(sealed(b"data") + b"more")


def test_a_record_marked_final_early_is_refused() -> None:
    blob = bytearray(sealed(os.urandom(CHUNK_BYTES + 10), compress=False))
    blob[33 + 4] = 1  # the first record's "final" flag: authenticated, so refused
    with pytest.raises(BackupCorrupt, match="fails authentication"):
        opened(bytes(blob))


def test_a_wrong_key_is_refused_as_such() -> None:
    other = decode_key(generate_key())
    with pytest.raises(BackupKeyMismatch, match="different key"):
        opened(sealed(b"data"), key=other)


def test_a_file_that_is_not_a_backup_part_is_refused() -> None:
    with pytest.raises(BackupCorrupt, match="not an Enclave backup part"):
        opened(b"PGDMP" + b"\x00" * 100)


def test_a_missing_key_is_refused(settings: object) -> None:
    settings.ENCLAVE_BACKUP_KEY = ""  # type: ignore[attr-defined]
    with pytest.raises(BackupKeyMissing, match="ENCLAVE_BACKUP_KEY is not set"):
        configured_key()


@pytest.mark.parametrize("value", ["not base64!", "c2hvcnQ=", ""])
def test_a_key_that_is_not_32_base64_bytes_is_refused(value: str) -> None:
    with pytest.raises(BackupKeyInvalid):
        decode_key(value)


def test_generate_key_prints_a_usable_key(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("backup", "--generate-key")
    assert len(decode_key(capsys.readouterr().out.strip())) == 32
