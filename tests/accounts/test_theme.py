"""The web client's theme: a user setting (PATCH /api/v1/users/me/), rendered on <html>.

Behind the `dark_mode` flag: without it pages are light and the setting may not change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import Theme, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME_URL = "/api/v1/users/me/"


@pytest.fixture
def dark_mode(db: Any) -> None:
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.create(name="dark_mode", everyone=True)
    cache.clear()  # flags are cached with their members


def test_theme_defaults_to_the_systems() -> None:
    user = UserFactory()
    client = APIClient()
    client.force_authenticate(user)

    assert client.get(ME_URL).json()["theme"] == "system"


def test_user_sets_a_dark_theme(
    client_for: Callable[[User | None], APIClient], dark_mode: None
) -> None:
    user = UserFactory()

    response = client_for(user).patch(ME_URL, {"theme": "dark"}, format="json")

    assert response.status_code == 200
    assert response.json()["theme"] == "dark"
    user.refresh_from_db()
    assert user.theme == Theme.DARK


def test_unknown_theme_is_refused(
    client_for: Callable[[User | None], APIClient], dark_mode: None
) -> None:
    user = UserFactory()

    response = client_for(user).patch(ME_URL, {"theme": "purple"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "theme" in response.json()["details"]
    user.refresh_from_db()
    assert user.theme == Theme.SYSTEM


def test_anonymous_cannot_set_a_theme() -> None:
    response = APIClient().patch(ME_URL, {"theme": "dark"}, format="json")

    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"


def test_theme_is_private_to_its_user(client_for: Callable[[User | None], APIClient]) -> None:
    me, other = UserFactory(), UserFactory(theme=Theme.DARK)

    shown = client_for(me).get(f"/api/v1/users/{other.pk}/").json()

    assert "theme" not in shown


@pytest.mark.parametrize(
    ("theme", "scheme"),
    [("system", "light dark"), ("light", "light"), ("dark", "dark")],
)
def test_page_is_rendered_with_the_users_theme(theme: str, scheme: str, dark_mode: None) -> None:
    user = UserFactory(theme=theme)
    client = Client()
    client.force_login(user)

    html = client.get("/").content.decode()

    assert f'data-theme="{theme}"' in html
    assert f'<meta name="color-scheme" content="{scheme}">' in html


def test_sign_in_page_follows_the_system_once_the_flag_is_on_for_everyone(
    dark_mode: None,
) -> None:
    html = Client().get("/accounts/login/").content.decode()

    assert 'data-theme="system"' in html


def test_sign_in_page_is_light_while_the_flag_is_rolled_out_to_some() -> None:
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.create(name="dark_mode", roles=["member"], percent="50.0")
    cache.clear()

    html = Client().get("/accounts/login/").content.decode()

    assert 'data-theme="light"' in html


def test_without_the_flag_the_theme_may_not_change(
    client_for: Callable[[User | None], APIClient],
) -> None:
    user = UserFactory()

    refused = client_for(user).patch(ME_URL, {"theme": "dark"}, format="json")
    unchanged = client_for(user).patch(
        ME_URL, {"theme": "system", "display_name": "Still Me"}, format="json"
    )

    assert refused.status_code == 404
    assert refused.json()["code"] == "feature_disabled"
    assert unchanged.status_code == 200  # the settings form sends the theme it was given
    user.refresh_from_db()
    assert (user.theme, user.display_name) == (Theme.SYSTEM, "Still Me")


@pytest.mark.parametrize("theme", ["system", "dark"])
def test_without_the_flag_pages_are_light(theme: str) -> None:
    user = UserFactory(theme=theme)  # chosen while the flag was on
    client = Client()
    client.force_login(user)

    html = client.get("/").content.decode()

    assert 'data-theme="light"' in html
    assert '<meta name="color-scheme" content="light">' in html
