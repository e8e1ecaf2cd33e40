"""The Vault Transit keyring, against a local fake of Vault's HTTP API (fake_vault.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.accounts.models import User
from apps.files import services
from apps.files.encryption import MAGIC, EncryptionKeyUnavailable, configured_keyring
from apps.files.key_rotation import stored_files_census, stored_files_reencrypt_batch
from apps.files.models import Attachment, AttachmentStatus
from apps.files.storage import files_storage, open_stored, save_stored, stored_header
from apps.files.vault_keyring import VaultTransitKeyring, VaultUnavailable
from tests.files.fake_vault import FakeVault
from tests.files.support import body_of, client_of, file_url

MARKER = b"VAULT-PLAINTEXT-MARKER-91c2"


@pytest.fixture
def vault(settings: Any, tmp_path: Path) -> Iterator[FakeVault]:
    """A fake Vault with the key `enclave-files`, configured as the keyring, and a storage of
    this test's own."""
    server = FakeVault().start()
    server.create_key("enclave-files")
    settings.STORAGES = {
        **settings.STORAGES,
        "enclave_files": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "files")},
        },
    }
    settings.ENCLAVE_FILES_ENCRYPTION_KEYS = ""
    settings.ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY = ""
    settings.ENCLAVE_FILES_KEYRING = "vault"
    settings.ENCLAVE_FILES_VAULT_ADDR = server.address
    settings.ENCLAVE_FILES_VAULT_TOKEN = server.token
    settings.ENCLAVE_FILES_VAULT_KEY = "enclave-files"
    yield server
    server.stop()


def vault_keyring() -> VaultTransitKeyring:
    keyring = configured_keyring()
    assert isinstance(keyring, VaultTransitKeyring)
    return keyring


def raw_bytes(name: str) -> bytes:
    return Path(files_storage().path(name)).read_bytes()


def test_files_are_wrapped_by_vault_and_read_back(vault: FakeVault) -> None:
    name = save_stored("blobs/aa/bb/one", io.BytesIO(MARKER * 10_000))

    with open_stored(name) as reader:
        assert reader.read() == MARKER * 10_000
    assert raw_bytes(name).startswith(MAGIC)
    assert MARKER not in raw_bytes(name)
    assert stored_header(name).key_id == "enclave-files.v1"  # type: ignore[union-attr]
    assert any(call.startswith("POST /v1/transit/encrypt/") for call in vault.calls)
    assert any(call.startswith("POST /v1/transit/decrypt/") for call in vault.calls)


@pytest.mark.django_db
def test_a_vault_rotation_is_followed_and_reencryption_moves_files_to_it(
    vault: FakeVault,
) -> None:
    old = save_stored("blobs/aa/bb/old", io.BytesIO(b"under version 1"))
    vault.rotate("enclave-files")
    vault_keyring().forget_key_info()
    new = save_stored("blobs/aa/bb/new", io.BytesIO(b"under version 2"))

    assert stored_header(new).key_id == "enclave-files.v2"  # type: ignore[union-attr]
    assert open_stored(old).read() == b"under version 1"
    census = stored_files_census()
    assert dict(census.by_key_id) == {"enclave-files.v1": 1, "enclave-files.v2": 1}
    assert census.left == 1

    progress = stored_files_reencrypt_batch(after="", limit=10)
    # Vault may now refuse version 1: nothing needs it any more.
    vault.min_decryption_version["enclave-files"] = 2
    vault_keyring().forget_key_info()

    assert (progress.rewrapped, progress.already) == (1, 1)
    assert stored_files_census().left == 0
    assert open_stored(old).read() == b"under version 1"
    assert vault_keyring().key_ids() == ("enclave-files.v2",)


def test_a_file_vault_no_longer_decrypts_is_a_clear_error(vault: FakeVault) -> None:
    name = save_stored("blobs/aa/bb/old", io.BytesIO(b"too old"))
    vault.rotate("enclave-files")
    vault.min_decryption_version["enclave-files"] = 2

    with pytest.raises(EncryptionKeyUnavailable, match="disallowed by policy"):
        open_stored(name)


def test_a_wrong_token_refuses_writes_and_reads_with_vaults_reason(
    vault: FakeVault, settings: Any
) -> None:
    name = save_stored("blobs/aa/bb/kept", io.BytesIO(b"kept"))
    settings.ENCLAVE_FILES_VAULT_TOKEN = "wrong"

    with pytest.raises(VaultUnavailable, match="403"):
        save_stored("blobs/aa/bb/other", io.BytesIO(b"other"))
    with pytest.raises(EncryptionKeyUnavailable, match="permission denied"):
        open_stored(name)


def test_vault_down_is_a_clear_error(vault: FakeVault) -> None:
    name = save_stored("blobs/aa/bb/kept", io.BytesIO(b"kept"))
    vault.stop()

    with pytest.raises(EncryptionKeyUnavailable, match="Vault unreachable"):
        open_stored(name)


@pytest.mark.django_db
def test_downloads_through_the_app_with_the_vault_keyring(vault: FakeVault, user: User) -> None:
    attachment = services.attachment_upload(
        uploader=user, source=io.BytesIO(MARKER * 5000), name="notes.txt"
    )
    Attachment.objects.filter(pk=attachment.pk).update(status=AttachmentStatus.CLEAN)

    response = client_of(user).get(file_url("download", attachment), HTTP_RANGE="bytes=0-26")

    assert response.status_code == 206
    assert body_of(response) == MARKER
    vault.stop()
    refused = client_of(user).get(file_url("download", attachment))
    assert (refused.status_code, refused.json()["code"]) == (503, "file_key_unavailable")
