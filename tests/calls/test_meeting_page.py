"""What the chat page tells the web client of meetings (static/js/meeting.js)."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

JANUS = {
    "ENCLAVE_JANUS_API_URL": "http://10.0.0.11:8088/janus",
    "ENCLAVE_JANUS_ADMIN_URL": "http://10.0.0.11:7088/admin",
    "ENCLAVE_JANUS_PUBLIC_URL": "wss://chat.example.com/janus/",
}


def page() -> str:
    client = Client()
    client.force_login(UserFactory())
    return client.get(reverse("chat:home")).content.decode()


def test_the_page_offers_meetings_when_there_is_a_media_server() -> None:
    with override_settings(**JANUS):
        assert 'data-meetings="true"' in page()


def test_without_a_media_server_the_page_offers_no_meetings() -> None:
    with override_settings(ENCLAVE_JANUS_API_URL="", ENCLAVE_JANUS_ADMIN_URL=""):
        assert 'data-meetings="false"' in page()
