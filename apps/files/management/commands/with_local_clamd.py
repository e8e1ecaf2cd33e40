"""`manage.py with_local_clamd -- daphne ...`: run a command with a clamd of its own (make run)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.files.local_clamd import run_with_local_clamd


class Command(BaseCommand):
    help = (
        "Start a local clamd (system signatures if freshclam installed them, plus Enclave's test "
        "signatures), run the command with ENCLAVE_CLAMD_ADDRESS pointing at it, stop clamd after."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("command", nargs=argparse.REMAINDER, help="-- program [args...]")

    def handle(self, *args: Any, **options: Any) -> None:
        command = list(options["command"])
        if command[:1] == ["--"]:
            command = command[1:]
        if not command:
            raise CommandError("Give the command to run after --.")
        status = run_with_local_clamd(
            command,
            var_dir=settings.VAR_DIR,
            stream_max_bytes=settings.ENCLAVE_UPLOAD_MAX_BYTES,
            out=sys.stdout,
        )
        if status not in (0, -2, 130):  # Ctrl-C is the normal way to stop `make run`
            sys.exit(status)
