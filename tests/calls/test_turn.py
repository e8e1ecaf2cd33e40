"""The TURN credentials Enclave issues, checked by a real coturn (Debian's turnserver, started
on loopback with use-auth-secret and static-auth-secret): an Allocate request with them gets a
relay; expired, forged, other-secret or tampered credentials are refused (401)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse

from apps.calls.selectors import turn_credentials
from tests.calls.conftest import Pair
from tests.calls.stun import ALLOCATE_ERROR, ALLOCATE_SUCCESS, TurnClient
from tests.calls.turn_server import TurnServer

pytestmark = pytest.mark.turn

SECRET = "enclave-turn-test-secret"


@pytest.fixture(scope="module")
def coturn() -> Iterator[TurnServer]:
    server = TurnServer(secret=SECRET)
    server.start()
    yield server
    server.cleanup()


def allocate(server: TurnServer, username: str, password: str, transport: str = "udp") -> Any:
    client = TurnClient("127.0.0.1", server.port, transport=transport)
    try:
        return client.allocate(username, password)
    finally:
        client.close()


@pytest.mark.django_db
@pytest.mark.usefixtures("empty_cache")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_credentials_from_the_ice_servers_endpoint_get_a_relay(
    coturn: TurnServer, pair: Pair, client_for: Any, settings: Any, transport: str
) -> None:
    settings.ENCLAVE_TURN_SECRET = SECRET
    settings.ENCLAVE_TURN_URLS = [f"turn:127.0.0.1:{coturn.port}?transport={transport}"]
    body = client_for(pair.alice).get(reverse("calls_api:ice-servers")).json()
    [turn] = body["ice_servers"]

    answer = allocate(coturn, turn["username"], turn["credential"], transport)

    assert answer.kind == ALLOCATE_SUCCESS, (answer.error_code, coturn.log_tail())
    host, port = answer.relayed_address
    assert host == "127.0.0.1"
    assert port > 0


def test_expired_credentials_are_refused(coturn: TurnServer) -> None:
    username, password = turn_credentials(user_id=7, secret=SECRET, ttl=-60, now=time.time())

    answer = allocate(coturn, username, password)

    assert (answer.kind, answer.error_code) == (ALLOCATE_ERROR, 401)


def test_credentials_made_with_another_secret_are_refused(coturn: TurnServer) -> None:
    username, password = turn_credentials(user_id=7, secret="guessed", ttl=600, now=time.time())

    answer = allocate(coturn, username, password)

    assert (answer.kind, answer.error_code) == (ALLOCATE_ERROR, 401)


def test_a_username_changed_to_live_longer_is_refused(coturn: TurnServer) -> None:
    username, password = turn_credentials(user_id=7, secret=SECRET, ttl=600, now=time.time())
    expiry, user = username.split(":")

    answer = allocate(coturn, f"{int(expiry) + 86400}:{user}", password)

    assert (answer.kind, answer.error_code) == (ALLOCATE_ERROR, 401)


def test_valid_credentials_of_the_same_form_are_accepted(coturn: TurnServer) -> None:
    # The control for the refusals above: the same call with the right secret and a future expiry.
    username, password = turn_credentials(user_id=7, secret=SECRET, ttl=600, now=time.time())

    assert allocate(coturn, username, password).kind == ALLOCATE_SUCCESS
