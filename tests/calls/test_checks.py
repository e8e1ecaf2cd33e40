"""The calls settings' system check: the sweep never drops a page that is still reconnecting."""

from __future__ import annotations

from typing import Any

from apps.calls.checks import CLIENT_HEARTBEAT_SECONDS, reconnect_window_check


def test_the_default_settings_pass() -> None:
    assert reconnect_window_check() == []


def test_a_stale_timeout_within_the_reconnect_window_is_an_error(settings: Any) -> None:
    settings.ENCLAVE_MEETING_RECONNECT_SECONDS = 60
    settings.ENCLAVE_CALL_STALE_SECONDS = 60 + CLIENT_HEARTBEAT_SECONDS

    assert [message.id for message in reconnect_window_check()] == ["calls.E001"]
