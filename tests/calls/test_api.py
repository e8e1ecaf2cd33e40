"""The calls REST API: the flow, the feature flag, and the ICE servers with TURN REST
credentials. Who may call each route is in tests/api_matrix.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.calls.models import CallSession
from apps.calls.selectors import turn_credentials
from apps.ops.models import FeatureFlag
from tests.calls.conftest import Pair

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

Client = Callable[[User | None], APIClient]
TURN_URLS = ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:443?transport=tcp"]


def test_a_call_over_rest_from_ring_to_hang_up(pair: Pair, client_for: Client) -> None:
    alice, bob = client_for(pair.alice), client_for(pair.bob)

    started = alice.post(
        reverse("calls_api:start", kwargs={"channel_id": pair.dm.pk}),
        {"media": "video"},
        format="json",
    )
    call_id = started.json()["id"]
    seen = bob.get(reverse("calls_api:call", kwargs={"call_id": call_id}))
    accepted = bob.post(reverse("calls_api:accept", kwargs={"call_id": call_id}))
    ended = alice.post(reverse("calls_api:hangup", kwargs={"call_id": call_id}))

    assert started.status_code == 201, started.content
    assert started.json()["state"] == "ringing"
    assert started.json()["media"] == "video"
    assert seen.json()["participants"] == [
        {
            "user_id": pair.alice.pk,
            "state": "joined",
            "joined_at": seen.json()["participants"][0]["joined_at"],
            "left_at": None,
            "role": "presenter",
            "hand_raised_at": None,
            "camera_feed_id": None,  # 1:1 calls do not go through Janus
            "screen_feed_id": None,
        },
        {
            "user_id": pair.bob.pk,
            "state": "ringing",
            "joined_at": None,
            "left_at": None,
            "role": "presenter",
            "hand_raised_at": None,
            "camera_feed_id": None,  # 1:1 calls do not go through Janus
            "screen_feed_id": None,
        },
    ]
    assert accepted.json()["state"] == "active"
    assert (ended.json()["state"], ended.json()["end_reason"]) == ("ended", "ended")


def test_a_bad_media_is_refused(pair: Pair, client_for: Client) -> None:
    response = client_for(pair.alice).post(
        reverse("calls_api:start", kwargs={"channel_id": pair.dm.pk}),
        {"media": "smell"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not CallSession.objects.exists()


def test_every_calls_route_needs_the_calls_flag(pair: Pair, client_for: Client) -> None:
    FeatureFlag.objects.filter(name="calls").update(everyone=False)
    from django.core.cache import cache

    cache.clear()
    client = client_for(pair.alice)
    urls = [
        ("post", reverse("calls_api:start", kwargs={"channel_id": pair.dm.pk})),
        ("get", reverse("calls_api:ice-servers")),
        ("get", reverse("calls_api:call", kwargs={"call_id": 1})),
        *(
            ("post", reverse(f"calls_api:{name}", kwargs={"call_id": 1}))
            for name in ("accept", "decline", "cancel", "hangup", "heartbeat", "signal")
        ),
    ]

    for method, url in urls:
        response = getattr(client, method)(url, {}, format="json")
        assert (response.status_code, response.json()["code"]) == (404, "feature_disabled"), url
    assert not CallSession.objects.exists()


def test_ice_servers_carry_turn_rest_credentials(
    pair: Pair, client_for: Client, settings: Any
) -> None:
    settings.ENCLAVE_TURN_SECRET = "s3cret"
    settings.ENCLAVE_TURN_URLS = TURN_URLS
    settings.ENCLAVE_STUN_URLS = ["stun:turn.example.com:3478"]
    settings.ENCLAVE_TURN_TTL_SECONDS = 600
    before = int(time.time())

    response = client_for(pair.alice).get(reverse("calls_api:ice-servers"))

    body = response.json()
    stun, turn = body["ice_servers"]
    expiry, user_id = turn["username"].split(":")
    expected = hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()
    assert stun == {"urls": ["stun:turn.example.com:3478"]}
    assert turn["urls"] == TURN_URLS
    assert user_id == str(pair.alice.pk)
    assert before + 600 <= int(expiry) <= int(time.time()) + 600
    assert base64.b64decode(turn["credential"]) == expected
    assert body["ttl"] == 600
    assert body["ice_transport_policy"] == "all"
    assert response["Cache-Control"] == "no-store"


def test_without_a_turn_secret_only_stun_is_offered(
    pair: Pair, client_for: Client, settings: Any
) -> None:
    settings.ENCLAVE_TURN_SECRET = ""
    settings.ENCLAVE_TURN_URLS = TURN_URLS
    settings.ENCLAVE_STUN_URLS = ["stun:stun.example.com:3478"]

    settings.ENCLAVE_CALL_ICE_TRANSPORT_POLICY = "relay"

    body = client_for(pair.alice).get(reverse("calls_api:ice-servers")).json()

    assert body["ice_servers"] == [{"urls": ["stun:stun.example.com:3478"]}]
    assert body["ice_transport_policy"] == "relay"


def test_turn_credentials_follow_the_turn_rest_api() -> None:
    # The example of draft-uberti-behave-turn-rest-00 §2.2 in coturn's form:
    # username "<expiry>:<user>", password base64(HMAC-SHA1(secret, username)).
    username, password = turn_credentials(user_id=7, secret="north", ttl=86400, now=1_000_000.9)

    assert username == "1086400:7"
    assert (
        password
        == base64.b64encode(hmac.new(b"north", b"1086400:7", hashlib.sha1).digest()).decode()
    )


def test_signal_over_rest_reaches_the_other_participant(pair: Pair, client_for: Client) -> None:
    alice, bob = client_for(pair.alice), client_for(pair.bob)
    call_id = alice.post(reverse("calls_api:start", kwargs={"channel_id": pair.dm.pk})).json()["id"]
    bob.post(reverse("calls_api:accept", kwargs={"call_id": call_id}))

    response = alice.post(
        reverse("calls_api:signal", kwargs={"call_id": call_id}),
        {"to_user_id": pair.bob.pk, "payload": {"candidate": None}},
        format="json",
    )

    assert response.status_code == 204, response.content
