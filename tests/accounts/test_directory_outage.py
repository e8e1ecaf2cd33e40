"""The directory is down or hung: sign-in must not lock people out, nor make local sign-ins wait.

Against real servers: the throwaway slapd (stopped and started again) and a socket that accepts
connections and never answers, as a hung directory does.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from apps.accounts.ldap_sync import DirectoryUnavailable, directory_sync
from tests.accounts.conftest import DIRECTORY_BACKENDS
from tests.accounts.ldap_server import LdapServer, ldap_settings
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.ldap]

TOKEN_URL = "/api/v1/auth/token/"


def sign_in(username: str, password: str, *, ip: str = "10.0.0.9") -> tuple[Client, Any]:
    client = Client(REMOTE_ADDR=ip)
    response = client.post(reverse("accounts:login"), {"username": username, "password": password})
    return client, response


def token_request(username: str, password: str, *, ip: str = "10.0.0.9") -> Any:
    return Client(REMOTE_ADDR=ip).post(
        TOKEN_URL,
        {"username": username, "password": password, "name": "cli"},
        content_type="application/json",
    )


@pytest.fixture
def stopped_directory(settings: Any, private_ldap_server: LdapServer) -> LdapServer:
    """Enclave configured for a directory that alice has signed in to once, then stopped."""
    settings.ENCLAVE_LDAP = ldap_settings(private_ldap_server)
    settings.AUTHENTICATION_BACKENDS = DIRECTORY_BACKENDS
    _client, response = sign_in("alice", "alice-directory-pass")
    assert response.status_code == 302
    private_ldap_server.stop()
    return private_ldap_server


@pytest.fixture
def hung_directory(settings: Any, empty_cache: None) -> Iterator[str]:
    """A directory that accepts connections and never answers (the kernel completes the TCP
    handshake from the listen backlog; nobody ever reads or writes)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    uri = f"ldap://127.0.0.1:{listener.getsockname()[1]}"
    configured = ldap_settings(SimpleNamespace(uri=uri))  # type: ignore[arg-type]
    del configured["TIMEOUT_SECONDS"]  # the default time-out is under test
    settings.ENCLAVE_LDAP = configured
    settings.AUTHENTICATION_BACKENDS = DIRECTORY_BACKENDS
    yield uri
    listener.close()


def test_right_password_during_an_outage_does_not_lock_the_account(
    settings: Any, stopped_directory: LdapServer, empty_cache: None
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        _client, response = sign_in("alice", "alice-directory-pass")
        assert response.status_code == 200
        assert "directory cannot be reached" in response.content.decode()
    stopped_directory.start(seed=False)

    client, response = sign_in("alice", "alice-directory-pass")

    assert response.status_code == 302
    assert "_auth_user_id" in client.session
    assert not AccessAttempt.objects.filter(username="alice").exists()


def test_token_request_during_an_outage_says_the_directory_is_unreachable(
    settings: Any, stopped_directory: LdapServer, empty_cache: None
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = token_request("alice", "alice-directory-pass")
        assert response.status_code == 503
        assert response.json()["code"] == "directory_unavailable"
    stopped_directory.start(seed=False)

    response = token_request("alice", "alice-directory-pass")

    assert response.status_code == 201


def test_wrong_local_passwords_during_an_outage_still_lock_the_local_account(
    settings: Any, stopped_directory: LdapServer, empty_cache: None
) -> None:
    UserFactory(username="localadmin")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("localadmin", "wrong-password")

    _client, response = sign_in("localadmin", PASSWORD)

    assert response.status_code == 429


def test_a_hung_directory_delays_a_local_sign_in_by_the_short_time_out_once(
    hung_directory: str,
) -> None:
    UserFactory(username="localadmin")

    started = time.monotonic()
    _client, first = sign_in("localadmin", PASSWORD)
    first_seconds = time.monotonic() - started
    started = time.monotonic()
    _client, second = sign_in("localadmin", PASSWORD)
    second_seconds = time.monotonic() - started
    started = time.monotonic()
    token = token_request("localadmin", PASSWORD)
    token_seconds = time.monotonic() - started

    assert (first.status_code, second.status_code, token.status_code) == (302, 302, 201)
    assert first_seconds < 3.5  # the default time-out is a couple of seconds, not five
    # The directory is now known to be down: local accounts do not wait on it.
    assert second_seconds < 1.0
    assert token_seconds < 1.0


def test_a_hung_directory_is_reported_to_directory_users_without_waiting_again(
    hung_directory: str,
) -> None:
    sign_in("localadmin", "anything")  # finds the directory hung

    started = time.monotonic()
    _client, response = sign_in("alice", "alice-directory-pass")

    assert time.monotonic() - started < 1.0
    assert response.status_code == 200
    assert "directory cannot be reached" in response.content.decode()


def test_a_hung_directory_is_asked_again_once_the_retry_period_is_over(
    settings: Any, hung_directory: str
) -> None:
    settings.ENCLAVE_LDAP = {**settings.ENCLAVE_LDAP, "TIMEOUT_SECONDS": 1, "RETRY_SECONDS": 2}
    UserFactory(username="localadmin")

    def sign_in_seconds() -> float:
        started = time.monotonic()
        _client, response = sign_in("localadmin", PASSWORD)
        assert response.status_code == 302
        return time.monotonic() - started

    found_hung = sign_in_seconds()
    while_known_down = sign_in_seconds()
    time.sleep(2.1)
    asked_again = sign_in_seconds()

    assert found_hung >= 1.0
    assert while_known_down < 0.5
    assert asked_again >= 1.0


def test_a_directory_that_refuses_connections_is_asked_again_at_once(
    settings: Any, stopped_directory: LdapServer, empty_cache: None
) -> None:
    _client, refused = sign_in("alice", "alice-directory-pass")
    stopped_directory.start(seed=False)

    _client, accepted = sign_in("alice", "alice-directory-pass")

    # A refused connection costs nothing, so no sign-in waits for the retry period.
    assert refused.status_code == 200
    assert accepted.status_code == 302


def test_the_sync_has_its_own_longer_operation_time_out(settings: Any, hung_directory: str) -> None:
    """Sign-in waits at most TIMEOUT_SECONDS; the sync's big searches get SYNC_TIMEOUT_SECONDS."""
    settings.ENCLAVE_LDAP = {
        **settings.ENCLAVE_LDAP,
        "TIMEOUT_SECONDS": 1,
        "SYNC_TIMEOUT_SECONDS": 2,
    }
    started = time.monotonic()

    with pytest.raises(DirectoryUnavailable):
        directory_sync()

    assert 2.0 <= time.monotonic() - started < 3.5
