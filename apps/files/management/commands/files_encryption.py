"""`manage.py files_encryption`: the encryption at rest of stored files, for operators.

files_encryption status          objects by key id, in the clear, left to re-encrypt
files_encryption reencrypt       bring every object under the active key, batch by batch
files_encryption reencrypt --background    the same as Celery tasks
files_encryption generate-key    a new random key for ENCLAVE_FILES_ENCRYPTION_KEYS
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import Conflict
from apps.files import key_rotation
from apps.files.encryption import configured_keyring, generate_key


class Command(BaseCommand):
    help = (
        "Encryption at rest of stored files: 'status' counts the objects under each key id and "
        "those still in the clear; 'reencrypt' brings every object under the active key "
        "(resumable, idempotent; run it after changing ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY and "
        "remove an old key id only once it reports 0 left); 'generate-key' prints a new key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "reencrypt", "generate-key"])
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Objects per batch (default ENCLAVE_FILES_REENCRYPT_BATCH_SIZE).",
        )
        parser.add_argument(
            "--background",
            action="store_true",
            help="Queue the job as Celery tasks (one per batch) instead of running it here.",
        )
        parser.add_argument("--after", default="", help="Resume the walk after this object name.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "generate-key":
            self.stdout.write(generate_key())
            return
        if action == "status":
            self._status()
            return
        batch_size = options["batch_size"] or settings.ENCLAVE_FILES_REENCRYPT_BATCH_SIZE
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if configured_keyring() is None:
            raise CommandError(
                "File encryption is off: set ENCLAVE_FILES_ENCRYPTION_KEYS and "
                "ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY first."
            )
        if options["background"]:
            from apps.files.tasks import reencrypt_stored_files

            reencrypt_stored_files.delay(after=options["after"])
            self.stdout.write("Re-encryption queued; 'files_encryption status' shows its progress.")
            return
        self._reencrypt(after=options["after"], batch_size=batch_size)
        self._status()

    def _reencrypt(self, *, after: str, batch_size: int) -> None:
        progress: key_rotation.ReencryptionProgress | None = None
        batch = 0
        while True:
            try:
                progress = key_rotation.stored_files_reencrypt_batch(
                    after=after, limit=batch_size, progress=progress
                )
            except Conflict as error:
                raise CommandError(error.message) from error
            batch += 1
            self.stdout.write(
                f"batch {batch}: {progress.examined} examined, {progress.encrypted} encrypted "
                f"from the clear, {progress.rewrapped} re-encrypted from another key, "
                f"{progress.already} already under {progress.active_key_id!r}, "
                f"{progress.unreadable} unreadable; at {progress.cursor or '-'}"
            )
            if progress.done:
                return
            after = progress.cursor

    def _status(self) -> None:
        census = key_rotation.stored_files_census()
        if census.active_key_id:
            self.stdout.write(f"Encryption on; active key id: {census.active_key_id}")
        else:
            self.stdout.write("Encryption off: new files are stored in the clear.")
        self.stdout.write(f"Objects: {census.total}")
        for key_id, count in sorted(census.by_key_id.items()):
            note = "" if key_id in census.configured_key_ids else "  (key NOT configured!)"
            self.stdout.write(f"  under key {key_id}: {count}{note}")
        self.stdout.write(f"  in the clear: {census.clear}")
        self.stdout.write(f"  unreadable headers: {census.unreadable}")
        if census.active_key_id:
            self.stdout.write(f"Left to re-encrypt: {census.left}")
            old = sorted(set(census.configured_key_ids) - {census.active_key_id})
            unused = [key_id for key_id in old if not census.by_key_id.get(key_id)]
            if unused:
                self.stdout.write(f"Key ids no object uses (removable): {', '.join(unused)}")
        last = key_rotation.reencryption_last_progress()
        if last is not None:
            state = "finished" if last.get("done") else f"at {last.get('cursor') or '-'}"
            self.stdout.write(
                f"Last re-encryption run ({state}): {last.get('examined', 0)} examined, "
                f"{last.get('encrypted', 0)} encrypted, {last.get('rewrapped', 0)} re-encrypted, "
                f"{last.get('unreadable', 0)} unreadable"
            )
