"""A tiny local stand-in for HashiCorp Vault's Transit secrets engine, over real HTTP.

Only what `apps/files/vault_keyring.py` calls, with Vault's request and answer shapes
(https://developer.hashicorp.com/vault/api-docs/secret/transit): read a key's versions, encrypt,
decrypt, rotate; a wrong `X-Vault-Token` gets 403 `permission denied`, a ciphertext older than
`min_decryption_version` 400, as Vault does. Keys are AES-256-GCM, one per version.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class FakeVault:
    def __init__(self, *, token: str = "test-token", mount: str = "transit") -> None:  # noqa: S107
        self.token = token
        self.mount = mount
        self.keys: dict[str, list[bytes]] = {}
        self.min_decryption_version: dict[str, int] = {}
        self.calls: list[str] = []
        vault = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                vault._handle(self, "GET")

            def do_POST(self) -> None:
                vault._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeVault:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def create_key(self, name: str) -> None:
        self.keys[name] = [AESGCM.generate_key(bit_length=256)]
        self.min_decryption_version[name] = 1

    def rotate(self, name: str) -> None:
        self.keys[name].append(AESGCM.generate_key(bit_length=256))

    def _answer(self, request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        self.calls.append(f"{method} {request.path}")
        if request.headers.get("X-Vault-Token") != self.token:
            self._answer(request, 403, {"errors": ["permission denied"]})
            return
        length = int(request.headers.get("Content-Length") or 0)
        body = json.loads(request.rfile.read(length) or b"{}")
        prefix = f"/v1/{self.mount}/"
        if not request.path.startswith(prefix):
            self._answer(request, 404, {"errors": []})
            return
        parts = request.path[len(prefix) :].split("/")
        if method == "GET" and parts[0] == "keys" and len(parts) == 2 and parts[1] in self.keys:
            name = parts[1]
            self._answer(
                request,
                200,
                {
                    "data": {
                        "name": name,
                        "type": "aes256-gcm96",
                        "latest_version": len(self.keys[name]),
                        "min_decryption_version": self.min_decryption_version[name],
                    }
                },
            )
        elif method == "POST" and parts[0] == "encrypt" and parts[1] in self.keys:
            versions = self.keys[parts[1]]
            nonce = os.urandom(12)
            sealed = AESGCM(versions[-1]).encrypt(nonce, base64.b64decode(body["plaintext"]), None)
            ciphertext = f"vault:v{len(versions)}:{base64.b64encode(nonce + sealed).decode()}"
            self._answer(
                request, 200, {"data": {"ciphertext": ciphertext, "key_version": len(versions)}}
            )
        elif method == "POST" and parts[0] == "decrypt" and parts[1] in self.keys:
            self._decrypt(request, parts[1], str(body.get("ciphertext", "")))
        else:
            self._answer(request, 404, {"errors": []})

    def _decrypt(self, request: BaseHTTPRequestHandler, name: str, ciphertext: str) -> None:
        _vault, version_text, payload = [*ciphertext.split(":", 2), "", ""][:3]
        version = int(version_text.removeprefix("v") or 0)
        if version < self.min_decryption_version[name]:
            self._answer(
                request,
                400,
                {"errors": ["ciphertext or signature version is disallowed by policy (too old)"]},
            )
            return
        if not 1 <= version <= len(self.keys[name]):
            self._answer(request, 400, {"errors": ["invalid ciphertext: unknown key version"]})
            return
        raw = base64.b64decode(payload)
        try:
            plain = AESGCM(self.keys[name][version - 1]).decrypt(raw[:12], raw[12:], None)
        except InvalidTag:
            self._answer(request, 400, {"errors": ["cipher: message authentication failed"]})
            return
        self._answer(request, 200, {"data": {"plaintext": base64.b64encode(plain).decode()}})
