"""`manage.py send_email_digests`: the beat's e-mail digest run, once (the embedded mode has no
beat; in it the e-mails are printed on the console)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.workspace import digests


class Command(BaseCommand):
    help = (
        "E-mail the digests due now: unread direct messages and mentions older than "
        "ENCLAVE_DIGEST_DELAY_MINUTES, once each (what Celery beat runs every "
        "ENCLAVE_DIGEST_CHECK_SECONDS)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        sent = digests.digests_send_due()
        self.stdout.write(f"{sent} e-mail digests sent.")
