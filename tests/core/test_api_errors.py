"""One error format for the REST API: `{"code", "message", "details"}` and the right status."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg_pool
import pytest
from django.db import IntegrityError, InterfaceError, OperationalError
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import Role, User
from apps.chat import services
from apps.chat.models import Channel, ChannelKind
from apps.core.errors import database_unavailable
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

MakeUser = Callable[..., User]


@pytest.fixture
def member(make_user: MakeUser) -> User:
    return make_user(username="member")


@pytest.fixture
def channel(member: User) -> Channel:
    return services.channel_create(creator=member, kind=ChannelKind.PUBLIC, name="general")


@pytest.fixture
def client(member: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(member)
    return client


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["details"], dict)
    return body


def test_validation_error_names_the_fields_in_details(client: APIClient) -> None:
    response = client.post(reverse("chat_api:channels"), {"kind": "public"}, format="json")

    body = assert_error(response, 400, "invalid")
    assert list(body["details"]) == ["name"]


def test_domain_validation_error_carries_its_details(
    client: APIClient, channel: Channel, settings
) -> None:
    settings.ENCLAVE_MAX_MESSAGE_CHARS = 5

    response = client.post(
        reverse("chat_api:messages", kwargs={"channel_id": channel.pk}),
        {"body": "too long", "client_msg_id": str(uuid.uuid4())},
        format="json",
    )

    body = assert_error(response, 400, "message_too_long")
    assert body["details"] == {"max_chars": 5}


def test_malformed_json_is_a_400(client: APIClient) -> None:
    response = client.post(
        reverse("chat_api:channels"), data='{"kind": "public",', content_type="application/json"
    )

    assert_error(response, 400, "malformed_request")


def test_form_encoded_body_is_unsupported(client: APIClient) -> None:
    response = client.post(reverse("chat_api:channels"), {"kind": "public", "name": "x"})

    assert_error(response, 415, "unsupported_media_type")


def test_anonymous_request_is_401_with_challenge(channel: Channel) -> None:
    response = APIClient().get(reverse("chat_api:channels"))

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_wrong_credentials_are_401(member: User) -> None:
    response = APIClient().post(
        reverse("accounts_api:token-obtain"),
        {"username": member.username, "password": "nope"},
        format="json",
    )

    assert_error(response, 401, "invalid_credentials")


def test_domain_refusal_is_403(make_user: MakeUser) -> None:
    client = APIClient()
    client.force_authenticate(make_user(Role.GUEST))

    response = client.post(
        reverse("chat_api:channels"), {"kind": "public", "name": "x"}, format="json"
    )

    assert_error(response, 403, "guest_forbidden")


def test_missing_csrf_token_on_session_write_is_403(member: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username=member.username, password=PASSWORD)

    response = client.post(
        reverse("chat_api:channels"), {"kind": "public", "name": "x"}, format="json"
    )

    assert_error(response, 403, "forbidden")


def test_unknown_channel_is_404(client: APIClient) -> None:
    response = client.get(reverse("chat_api:channel", kwargs={"channel_id": 999_999}))

    assert_error(response, 404, "channel_not_found")


def test_unknown_token_is_404(client: APIClient) -> None:
    response = client.delete(reverse("accounts_api:token", kwargs={"token_id": 999_999}))

    assert_error(response, 404, "not_found")


def test_unsupported_method_is_405(client: APIClient) -> None:
    response = client.put(reverse("chat_api:channels"), {}, format="json")

    assert_error(response, 405, "method_not_allowed")


def test_name_conflict_is_409(client: APIClient, channel: Channel) -> None:
    response = client.post(
        reverse("chat_api:channels"), {"kind": "private", "name": "General"}, format="json"
    )

    assert_error(response, 409, "name_taken")


def test_throttled_request_is_429(member: User) -> None:
    client = APIClient()
    url = reverse("accounts_api:token-obtain")
    for _ in range(20):
        client.post(url, {"username": member.username, "password": "nope"}, format="json")

    response = client.post(url, {"username": member.username, "password": "nope"}, format="json")

    assert_error(response, 429, "rate_limited")


def test_unknown_api_url_answers_json_not_found(client: Any) -> None:
    response = client.get("/api/v1/no-such-endpoint/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_json_is_served_to_clients_that_accept_it(
    client: APIClient, channel: Channel, accept: str | None
) -> None:
    headers: dict[str, Any] = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = client.get(reverse("chat_api:channels"), **headers)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_a_type_the_api_does_not_serve_is_406(client: APIClient, channel: Channel) -> None:
    response = client.get(reverse("chat_api:channels"), HTTP_ACCEPT="text/html")

    assert_error(response, 406, "not_acceptable")


def test_a_format_the_api_does_not_serve_is_404(client: APIClient, channel: Channel) -> None:
    response = client.get(reverse("chat_api:channels"), {"format": "xml"})

    assert_error(response, 404, "not_found")


def test_one_serializer_per_class_validates_every_request_independently() -> None:
    from rest_framework.exceptions import ValidationError

    from apps.chat.serializers import ChannelCreateIn
    from apps.core.api import validated

    first = validated(ChannelCreateIn, {"kind": "public", "name": "one"})
    second = validated(ChannelCreateIn, {"kind": "private", "name": "two", "member_ids": [3]})
    third = validated(ChannelCreateIn, {"kind": "public", "name": "three"})
    with pytest.raises(ValidationError) as refused:
        validated(ChannelCreateIn, {"kind": "group", "name": ""})
    fresh = ChannelCreateIn(data={"kind": "group", "name": ""})
    fresh.is_valid()

    assert (first["name"], second["name"], third["name"]) == ("one", "two", "three")
    assert second["member_ids"] == [3]
    assert first["member_ids"] == third["member_ids"] == []
    assert first["member_ids"] is not third["member_ids"]  # a default is built per request
    assert refused.value.detail == fresh.errors  # what is_valid(raise_exception) raised


def test_a_shared_serializer_answers_in_each_requests_language() -> None:
    from django.utils import translation
    from rest_framework.exceptions import ValidationError

    from apps.core.api import validated
    from apps.search.serializers import SearchQueryIn

    messages = []
    for language in ("en", "zh-hans", "en"):
        with translation.override(language), pytest.raises(ValidationError) as refused:
            validated(SearchQueryIn, {"q": "x", "limit": "many"})
        detail: Any = refused.value.detail
        messages.append(str(detail["limit"][0]))

    assert messages[0] == messages[2] == "A valid integer is required."
    assert messages[1] != messages[0]
    assert any("\u4e00" <= char <= "\u9fff" for char in messages[1])


def test_a_database_out_of_reach_answers_503_unavailable_with_retry_after(
    client: APIClient, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real thing (PostgreSQL stopped under load) is tests/load/test_chaos.py.
    def away(**kwargs: Any) -> Any:
        raise OperationalError("the database system is starting up")

    monkeypatch.setattr(services, "message_send", away)
    url = reverse("chat_api:messages", args=[channel.pk])

    response = client.post(url, {"body": "hi", "client_msg_id": str(uuid.uuid4())}, format="json")

    assert_error(response, 503, "unavailable")
    assert response["Retry-After"] == "1"


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (OperationalError("server closed the connection unexpectedly"), True),
        (InterfaceError("connection already closed"), True),
        (psycopg.OperationalError("connection refused"), True),
        (psycopg_pool.PoolTimeout("couldn't get a connection after 10.00 sec"), True),
        (IntegrityError("duplicate key"), False),
        (RuntimeError("a bug"), False),
    ],
)
def test_only_a_database_out_of_reach_counts_as_unavailable(
    error: BaseException, unavailable: bool
) -> None:
    assert database_unavailable(error) is unavailable
    wrapped = RuntimeError("while sending")
    wrapped.__cause__ = error
    assert database_unavailable(wrapped) is unavailable
