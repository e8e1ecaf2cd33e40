"""What encryption at rest of stored files costs (apps/files/encryption.py).

1. Throughput of the format alone: a file of --encrypt-mb MB (random bytes, on disk) encrypted
   to another file and decrypted back, in the block sizes the application uses.
2. A download of a file of --download-mb MB through the real download view, served by uvicorn
   (one process, the embedded SQLite settings, local storage) to a client on the same machine:
   the file stored in the clear and the same bytes stored encrypted, both streamed by the app
   (X-Accel-Redirect, which only clear files can use, is nginx's work and not measured here).

Run:  PYTHONPATH=. .venv/bin/python tests/load/bench_file_encryption.py
      [--encrypt-mb 100] [--download-mb 50] [--repeat 3]
Prints one JSON line per measurement (medians of --repeat runs). Uses a temporary directory
for everything, and port 18731.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PORT = 18731
BLOCK = 1024 * 1024


def _write_random(path: Path, megabytes: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(megabytes):
            block = os.urandom(BLOCK)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def bench_format(workdir: Path, megabytes: int, repeat: int) -> dict[str, object]:
    from apps.files.encryption import (
        DecryptingReader,
        EnvironmentKeyring,
        encrypted_chunks,
        read_header,
    )

    ring = EnvironmentKeyring({"bench": os.urandom(32)}, "bench")
    plain = workdir / "plain.bin"
    sealed = workdir / "sealed.bin"
    expected = _write_random(plain, megabytes)
    with plain.open("rb") as source, sealed.open("wb") as out:
        for chunk in encrypted_chunks(source, keyring=ring):
            out.write(chunk)
    digest = hashlib.sha256()
    with sealed.open("rb") as handle:
        header = read_header(handle)
        assert header is not None
        with DecryptingReader(handle, header, keyring=ring) as reader:
            while block := reader.read(BLOCK):
                digest.update(block)
    assert digest.hexdigest() == expected
    # Timed: the crypto and the file reads (from the page cache), not the disk's writes.
    encrypt_seconds, decrypt_seconds = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        with plain.open("rb") as source:
            for _chunk in encrypted_chunks(source, keyring=ring):
                pass
        encrypt_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        with sealed.open("rb") as handle:
            header = read_header(handle)
            assert header is not None
            with DecryptingReader(handle, header, keyring=ring) as reader:
                while reader.read(BLOCK):
                    pass
        decrypt_seconds.append(time.perf_counter() - started)
    return {
        "measure": "format",
        "megabytes": megabytes,
        "encrypt_mb_per_s": round(megabytes / statistics.median(encrypt_seconds), 1),
        "decrypt_mb_per_s": round(megabytes / statistics.median(decrypt_seconds), 1),
        "overhead_bytes": sealed.stat().st_size - plain.stat().st_size,
    }


def _environment(workdir: Path, keys: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "REDIS_URL": "",
        "ENCLAVE_FILES_ROOT": str(workdir / "files"),
        "ENCLAVE_FILES_ENCRYPTION_KEYS": keys,
        "ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY": "bench",
        "ENCLAVE_LOG_REQUESTS": "false",
        "ENCLAVE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(Path.cwd()),
    }


def _download(path: str, token: str) -> tuple[float, str]:
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {response.read()[:200]!r}")
    digest = hashlib.sha256()
    while block := response.read(BLOCK):
        digest.update(block)
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed, digest.hexdigest()


def bench_download(workdir: Path, megabytes: int, repeat: int) -> list[dict[str, object]]:
    keys = f"bench:{base64.b64encode(os.urandom(32)).decode()}"
    os.environ.update(_environment(workdir, keys))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from apps.accounts.models import User
    from apps.accounts.services import api_token_create
    from apps.files import services
    from apps.files.models import Attachment, AttachmentStatus

    call_command("migrate", verbosity=0)
    user = User.objects.create_user(username="bench", password=None)
    _token, raw = api_token_create(user=user, name="bench")
    data_path = workdir / "download.bin"
    attachments, expected = {}, {}
    for mode in ("clear", "encrypted"):
        # New random bytes for each: equal bytes would be stored once (content-addressed).
        expected[mode] = _write_random(data_path, megabytes)
        settings.ENCLAVE_FILES_ENCRYPTION_KEYS = keys if mode == "encrypted" else ""
        settings.ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY = "bench" if mode == "encrypted" else ""
        with data_path.open("rb") as source:
            attachment = services.attachment_upload(
                uploader=user, source=source, name=f"{mode}.bin"
            )
        Attachment.objects.filter(pk=attachment.pk).update(status=AttachmentStatus.CLEAN)
        attachments[mode] = attachment
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--port",
            str(PORT),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=_environment(workdir, keys),
    )
    results = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for attachment in attachments.values():  # warm-up: imports, connections, caches
            _download(f"/api/v1/files/{attachment.pk}/download", raw)
        # Alternating, so that a busy moment of the machine falls on both.
        timings: dict[str, list[float]] = {mode: [] for mode in attachments}
        for _ in range(repeat):
            for mode, attachment in attachments.items():
                elapsed, digest = _download(f"/api/v1/files/{attachment.pk}/download", raw)
                assert digest == expected[mode], f"{mode}: wrong bytes"
                timings[mode].append(elapsed)
        for mode, seconds in timings.items():
            median = statistics.median(seconds)
            results.append(
                {
                    "measure": "download",
                    "stored": mode,
                    "megabytes": megabytes,
                    "seconds": round(median, 3),
                    "mb_per_s": round(megabytes / median, 1),
                }
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encrypt-mb", type=int, default=100)
    parser.add_argument("--download-mb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="enclave-bench-crypt-") as directory:
        workdir = Path(directory)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        print(json.dumps(bench_format(workdir, options.encrypt_mb, options.repeat)), flush=True)
        for line in bench_download(workdir, options.download_mb, options.repeat):
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    sys.stdout = io.TextIOWrapper(sys.stdout.buffer, line_buffering=True)
    main()
