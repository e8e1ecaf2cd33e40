"""What the web client learns from the chat page about uploads."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import User

pytestmark = pytest.mark.django_db


def test_chat_page_tells_the_client_when_to_upload_in_chunks(
    client: Client, user: User, settings: object
) -> None:
    client.force_login(user)

    default = client.get("/")
    settings.ENCLAVE_UPLOAD_CHUNKED_THRESHOLD_BYTES = 1234  # type: ignore[attr-defined]
    lowered = client.get("/")

    assert b'data-chunked-upload-bytes="8388608"' in default.content
    assert b'data-chunked-upload-bytes="1234"' in lowered.content
