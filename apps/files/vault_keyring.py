"""A keyring whose key-encryption keys stay in HashiCorp Vault's Transit secrets engine.

Enclave never sees the KEK: a data key is wrapped by `POST /v1/<mount>/encrypt/<key>` and
unwrapped by `POST /v1/<mount>/decrypt/<key>`, authenticated with a Vault token (header
`X-Vault-Token`). Vault versions its keys: the key id written in a file's header is
`<key name>.v<version>` (the version Vault encrypted the data key with), the active id is the
key's latest version (read from `GET /v1/<mount>/keys/<key>`, kept KEY_INFO_SECONDS), and the
ids that can still decrypt are the versions from the key's `min_decryption_version` on.

Rotation is Vault's: `vault write -f transit/keys/<key>/rotate` makes a new version, new files
are wrapped by it within KEY_INFO_SECONDS, and `manage.py files_encryption reencrypt` brings the
older ones over; then `min_decryption_version` can be raised (and older versions trimmed).

Every file opened costs one decrypt call to Vault, every file written one encrypt call.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from typing import Any

import requests

from apps.files.encryption import EncryptionKeyUnavailable, StoredFileError

KEY_INFO_SECONDS = 60.0


class VaultUnavailable(StoredFileError):
    """Vault did not answer, or refused (token, policy): no data key can be wrapped or opened."""


class VaultTransitKeyring:
    def __init__(
        self, *, address: str, token: str, mount: str, key_name: str, timeout: float = 10.0
    ) -> None:
        self._base = f"{address.rstrip('/')}/v1/{mount.strip('/')}"
        self._key_name = key_name
        self._timeout = timeout
        self._session = requests.Session()
        self._session.headers["X-Vault-Token"] = token
        self._lock = threading.Lock()
        self._info: tuple[float, int, int] | None = None  # (fetched at, latest, minimum)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._session.request(
                method, f"{self._base}/{path}", json=body, timeout=self._timeout
            )
        except requests.RequestException as error:
            raise VaultUnavailable(f"Vault unreachable: {error}") from error
        if response.status_code != 200:
            errors = ""
            with contextlib.suppress(ValueError):
                errors = "; ".join(response.json().get("errors", []))
            raise VaultUnavailable(f"Vault answered {response.status_code} to {path}: {errors}")
        data = response.json().get("data")
        if not isinstance(data, dict):
            raise VaultUnavailable(f"Vault answered {path} without data")
        return data

    def _versions(self) -> tuple[int, int]:
        with self._lock:
            if self._info is not None and time.monotonic() - self._info[0] < KEY_INFO_SECONDS:
                return self._info[1], self._info[2]
        data = self._call("GET", f"keys/{self._key_name}")
        latest = int(data.get("latest_version", 0))
        minimum = int(data.get("min_decryption_version", 1))
        with self._lock:
            self._info = (time.monotonic(), latest, minimum)
        return latest, minimum

    def forget_key_info(self) -> None:
        """Read the key's versions from Vault at the next use (after a rotation)."""
        with self._lock:
            self._info = None

    def _key_id(self, version: int) -> str:
        return f"{self._key_name}.v{version}"

    @property
    def active_key_id(self) -> str:
        return self._key_id(self._versions()[0])

    def key_ids(self) -> tuple[str, ...]:
        latest, minimum = self._versions()
        return tuple(self._key_id(version) for version in range(max(minimum, 1), latest + 1))

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        data = self._call(
            "POST",
            f"encrypt/{self._key_name}",
            {"plaintext": base64.b64encode(data_key).decode("ascii")},
        )
        ciphertext = str(data.get("ciphertext", ""))
        # "vault:v<version>:<base64>": the version is the key id's.
        prefix, _sep, rest = ciphertext.partition(":v")
        version, _sep, _payload = rest.partition(":")
        if prefix != "vault" or not version.isdigit():
            raise VaultUnavailable("Vault answered encrypt with an unexpected ciphertext")
        return self._key_id(int(version)), ciphertext.encode("ascii")

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        name, _sep, version = key_id.rpartition(".v")
        if name != self._key_name or not version.isdigit():
            raise EncryptionKeyUnavailable(key_id, f"not a version of Vault key {self._key_name}")
        try:
            data = self._call(
                "POST", f"decrypt/{self._key_name}", {"ciphertext": wrapped.decode("ascii")}
            )
        except VaultUnavailable as refused:
            raise EncryptionKeyUnavailable(key_id, str(refused)) from refused
        return base64.b64decode(str(data.get("plaintext", "")))
