"""Erasure against the real throwaway directory (slapd, tests/accounts/ldap_server.py): a sync
after the erasure neither fills the erased account in again nor reactivates it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.accounts.ldap_sync import directory_sync
from apps.accounts.models import DirectoryProfile, User
from apps.governance.erasure import personal_data_erase
from tests.accounts.conftest import (  # noqa: F401 - the fixtures, reused
    directory,
    directory_person,
    ldap_server,
)

pytestmark = [pytest.mark.django_db, pytest.mark.ldap]


def test_a_sync_after_the_erasure_does_not_bring_the_data_back(
    directory_person: Callable[..., str],  # noqa: F811 - the fixture imported above
) -> None:
    directory_person("leaver", mail="leaver@example.com", telephoneNumber="+86 10 8888")
    directory_sync()
    leaver = User.objects.get(username="leaver")
    assert leaver.email == "leaver@example.com"

    personal_data_erase(actor=None, user_id=leaver.pk)
    result = directory_sync()

    erased = User.objects.get(pk=leaver.pk)
    assert not erased.is_active
    assert erased.email == ""
    assert erased.username == f"former-{leaver.pk}"
    assert not DirectoryProfile.objects.filter(user=erased).exists()
    assert f"former-{leaver.pk}" not in " ".join(result.lines())
    # Still enabled in the directory: the sync makes a new, empty account, never the old one.
    assert User.objects.get(username="leaver").pk != leaver.pk
