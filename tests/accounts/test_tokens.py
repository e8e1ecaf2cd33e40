"""API tokens: lookup, expiry, revocation, last use, and Bearer authentication over REST."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import APIToken, User
from apps.accounts.tokens import TOKEN_PREFIX, user_for_token
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

ME = "accounts_api:me"


def bearer(raw: str, keyword: str = "Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {raw}")
    return client


# --- user_for_token ----------------------------------------------------------------------------


def test_valid_token_identifies_its_user(user: User) -> None:
    _token, raw = services.api_token_create(user=user, name="ci")

    assert user_for_token(raw) == user


def test_unknown_token_identifies_nobody(user: User) -> None:
    _token, raw = services.api_token_create(user=user, name="ci")

    assert user_for_token(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None


def test_token_without_prefix_identifies_nobody(user: User) -> None:
    _token, raw = services.api_token_create(user=user, name="ci")

    assert user_for_token(raw.removeprefix(TOKEN_PREFIX)) is None


def test_overlong_token_is_refused_before_lookup(django_assert_num_queries) -> None:
    with django_assert_num_queries(0):
        assert user_for_token(TOKEN_PREFIX + "x" * 300) is None


def test_expired_token_identifies_nobody(user: User) -> None:
    _token, raw = services.api_token_create(
        user=user, name="ci", expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert user_for_token(raw) is None


def test_token_expiring_later_still_works(user: User) -> None:
    _token, raw = services.api_token_create(
        user=user, name="ci", expires_at=timezone.now() + timedelta(hours=1)
    )

    assert user_for_token(raw) == user


def test_token_of_deactivated_user_identifies_nobody(user: User) -> None:
    _token, raw = services.api_token_create(user=user, name="ci")
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert user_for_token(raw) is None


def test_first_use_records_last_used_at(user: User) -> None:
    token, raw = services.api_token_create(user=user, name="ci")

    user_for_token(raw)

    token.refresh_from_db()
    assert token.last_used_at is not None


def test_use_within_five_minutes_does_not_rewrite_last_used_at(user: User) -> None:
    token, raw = services.api_token_create(user=user, name="ci")
    recent = timezone.now() - timedelta(minutes=4)
    APIToken.objects.filter(pk=token.pk).update(last_used_at=recent)

    user_for_token(raw)

    token.refresh_from_db()
    assert token.last_used_at == recent


def test_use_after_five_minutes_updates_last_used_at(user: User) -> None:
    token, raw = services.api_token_create(user=user, name="ci")
    stale = timezone.now() - timedelta(minutes=6)
    APIToken.objects.filter(pk=token.pk).update(last_used_at=stale)

    user_for_token(raw)

    token.refresh_from_db()
    assert token.last_used_at > stale


def test_the_user_comes_whole_from_one_query(user: User) -> None:
    _token, raw = services.api_token_create(user=user, name="ci")
    user_for_token(raw)  # the first use records last_used_at

    with CaptureQueriesContext(connection) as queries:
        found = user_for_token(raw)

    assert len(queries) == 1
    assert found is not None
    fields = [field.attname for field in User._meta.concrete_fields]
    expected = User.objects.get(pk=user.pk)
    assert [getattr(found, f) for f in fields] == [getattr(expected, f) for f in fields]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_recording_the_use_does_not_wait_for_the_disk_and_commits(user: User) -> None:
    token, raw = services.api_token_create(user=user, name="ci")

    with CaptureQueriesContext(connection) as queries:
        user_for_token(raw)

    assert "SET LOCAL synchronous_commit TO OFF" in [q["sql"] for q in queries]
    with connection.cursor() as cursor:  # the transaction's setting did not outlive it
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)
    token.refresh_from_db()
    assert token.last_used_at is not None


# --- Bearer authentication over REST -------------------------------------------------------------


def test_bearer_token_authenticates_rest_requests(user: User) -> None:
    _token, raw = services.api_token_create(user=user, name="ci")

    response = bearer(raw).get(reverse(ME))

    assert (response.status_code, response.json()["id"]) == (200, user.pk)


def test_token_keyword_is_accepted_too(user: User) -> None:
    _token, raw = services.api_token_create(user=user, name="ci")

    assert bearer(raw, keyword="Token").get(reverse(ME)).status_code == 200


def test_invalid_token_is_401_with_bearer_challenge(user: User) -> None:
    response = bearer(TOKEN_PREFIX + "nope").get(reverse(ME))

    assert (response.status_code, response.json()["code"]) == (401, "authentication_failed")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_malformed_authorization_header_is_401(user: User) -> None:
    response = bearer("two parts").get(reverse(ME))

    assert (response.status_code, response.json()["code"]) == (401, "authentication_failed")


def test_expired_token_is_401_over_rest(user: User) -> None:
    _token, raw = services.api_token_create(
        user=user, name="ci", expires_at=timezone.now() - timedelta(minutes=1)
    )

    assert bearer(raw).get(reverse(ME)).status_code == 401


def test_revoked_token_stops_working_at_once(user: User) -> None:
    token, raw = services.api_token_create(user=user, name="ci")
    client = bearer(raw)
    client.delete(reverse("accounts_api:token", kwargs={"token_id": token.pk}))

    assert client.get(reverse(ME)).status_code == 401


def test_token_of_deactivated_user_is_401(user: User) -> None:
    _token, raw = services.api_token_create(user=user, name="ci")
    services.user_deactivate(user=user)

    assert bearer(raw).get(reverse(ME)).status_code == 401


def test_token_obtain_returns_a_working_token(make_user: Callable[..., User]) -> None:
    user = make_user(username="dana")

    response = APIClient().post(
        reverse("accounts_api:token-obtain"),
        {"username": "dana", "password": PASSWORD, "name": "cli"},
        format="json",
    )

    assert response.status_code == 201
    assert bearer(response.json()["token"]).get(reverse(ME)).json()["id"] == user.pk


def test_token_obtain_refuses_deactivated_user(make_user: Callable[..., User]) -> None:
    make_user(username="dana", is_active=False)

    response = APIClient().post(
        reverse("accounts_api:token-obtain"),
        {"username": "dana", "password": PASSWORD},
        format="json",
    )

    assert (response.status_code, response.json()["code"]) == (401, "invalid_credentials")


def test_token_obtain_is_rate_limited(make_user: Callable[..., User]) -> None:
    make_user(username="dana")
    client = APIClient()
    url = reverse("accounts_api:token-obtain")

    # A different name each time: five failures for one account lock it (account_locked);
    # this is the per-client throttle, which counts every request.
    responses = [
        client.post(url, {"username": f"dana{i}", "password": "wrong"}, format="json")
        for i in range(21)
    ]

    assert [r.status_code for r in responses] == [401] * 20 + [429]
    assert responses[-1].json()["code"] != "account_locked"


def test_token_list_never_shows_raw_tokens(user: User) -> None:
    _token, raw = services.api_token_create(user=user, name="ci")
    client = APIClient()
    client.force_authenticate(user)

    response = client.get(reverse("accounts_api:tokens"))

    assert [t["name"] for t in response.json()] == ["ci"]
    assert raw not in response.content.decode()
    assert "token" not in response.json()[0]


def test_token_list_leaves_out_revoked_tokens(user: User) -> None:
    token, _raw = services.api_token_create(user=user, name="old")
    services.api_token_create(user=user, name="new")
    services.api_token_revoke(user=user, token_id=token.pk)
    client = APIClient()
    client.force_authenticate(user)

    assert [t["name"] for t in client.get(reverse("accounts_api:tokens")).json()] == ["new"]


def test_token_created_over_rest_keeps_its_expiry(user: User) -> None:
    client = APIClient()
    client.force_authenticate(user)

    response = client.post(
        reverse("accounts_api:tokens"),
        {"name": "ci", "expires_at": "2031-01-01T00:00:00Z"},
        format="json",
    )

    assert response.status_code == 201
    assert APIToken.objects.get(pk=response.json()["id"]).expires_at.year == 2031
