"""A user's profile (GET /api/v1/users/<id>/, the user card): directory data and local time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import DirectoryProfile, Role, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def profile_url(user: User) -> str:
    return f"/api/v1/users/{user.pk}/"


def test_profile_shows_the_directorys_title_department_and_phone(
    client_for: Callable[[User | None], APIClient],
) -> None:
    viewer, person = UserFactory(), UserFactory()
    DirectoryProfile.objects.create(
        user=person,
        dn="uid=p,ou=people,dc=example,dc=com",
        title="Head of Sales",
        department="Sales",
        phone="+86 21 5555 0100",
    )

    shown = client_for(viewer).get(profile_url(person)).json()

    assert (shown["title"], shown["department"], shown["phone"]) == (
        "Head of Sales",
        "Sales",
        "+86 21 5555 0100",
    )


def test_local_account_has_an_empty_directory_part(
    client_for: Callable[[User | None], APIClient],
) -> None:
    viewer, person = UserFactory(), UserFactory()

    shown = client_for(viewer).get(profile_url(person)).json()

    assert (shown["title"], shown["department"], shown["phone"]) == ("", "", "")


def test_profile_gives_the_persons_local_time_in_their_zone(
    client_for: Callable[[User | None], APIClient],
) -> None:
    viewer, person = UserFactory(), UserFactory(time_zone="Asia/Shanghai")

    shown = client_for(viewer).get(profile_url(person)).json()

    local = dt.datetime.fromisoformat(shown["local_time"])
    assert local.utcoffset() == dt.timedelta(hours=8)
    assert abs(local - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=2)


def test_profile_of_someone_a_guest_shares_no_channel_with_is_refused(
    client_for: Callable[[User | None], APIClient],
) -> None:
    guest, person = UserFactory(role=Role.GUEST), UserFactory()
    DirectoryProfile.objects.create(user=person, dn="uid=q", phone="+1 555 0100")

    response = client_for(guest).get(profile_url(person))

    assert response.status_code == 404
    assert response.json()["code"] == "user_not_found"
    assert "+1 555 0100" not in response.content.decode()


def test_profile_is_read_in_one_query(
    client_for: Callable[[User | None], APIClient], django_assert_num_queries: Any
) -> None:
    viewer, person = UserFactory(), UserFactory()
    DirectoryProfile.objects.create(user=person, dn="uid=r", title="Engineer")
    client = client_for(viewer)

    with django_assert_num_queries(1):
        shown = client.get(profile_url(person)).json()

    assert shown["title"] == "Engineer"
