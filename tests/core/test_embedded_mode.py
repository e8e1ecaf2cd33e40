"""The embedded default as `make run` starts it: no debug pages, no alarming warnings.

Each test runs manage.py in a child process with the `local` settings and an environment
without ENCLAVE_* knobs, exactly what a newcomer's first `make run` gets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json
from django.conf import settings
from django.test import Client
client = Client(raise_request_exception=False)
missing = client.get("/no-such-page/", HTTP_HOST="127.0.0.1:8000")
print(json.dumps({
    "debug": settings.DEBUG,
    "status": missing.status_code,
    "body": missing.content.decode(),
}))
"""


def _manage(tmp_path: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ENCLAVE_", "DATABASE_URL", "REDIS_URL", "DJANGO_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        ENCLAVE_VAR_DIR=str(tmp_path),
        **extra_env,
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_embedded_mode_serves_no_debug_page_for_an_unknown_address(tmp_path: Path) -> None:
    result = json.loads(_manage(tmp_path, "shell", "-c", _PROBE).stdout.strip().splitlines()[-1])

    assert result["debug"] is False
    assert result["status"] == 404
    assert "URLconf" not in result["body"]  # Django's debug 404 lists every URL pattern
    assert "Page not found" in result["body"]


def test_a_developer_can_still_ask_for_debug_pages(tmp_path: Path) -> None:
    done = _manage(tmp_path, "shell", "-c", _PROBE, ENCLAVE_DEBUG="true")
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert result["debug"] is True


def test_embedded_mode_starts_without_system_check_warnings(tmp_path: Path) -> None:
    done = _manage(tmp_path, "check", "--database", "default")  # as migrate runs it

    assert "W040" not in done.stdout + done.stderr
    assert "no issues" in done.stdout
