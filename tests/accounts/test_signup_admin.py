"""Open sign-up from the admin console: the owner turns it on for domains, through the audited
organisation-settings service; a list with a non-domain is a form error, not a server error."""

from __future__ import annotations

from typing import Any

import pytest

from apps.accounts.audit import AuditAction
from apps.accounts.models import AuditEvent, Role
from apps.accounts.permissions import organization_settings
from apps.accounts.services import organization_settings_update
from apps.accounts.signup import signup_enabled
from apps.core.errors import InvalidInput
from tests.conftest import ORGANIZATION_SETTINGS_FORM, ORGANIZATION_SETTINGS_URL
from tests.factories import UserFactory


@pytest.mark.django_db
def test_owner_opens_sign_up_for_a_domain_in_the_admin_and_it_is_audited(owner_admin: Any) -> None:
    form = {
        **ORGANIZATION_SETTINGS_FORM,
        "open_signup_enabled": "on",
        "signup_allowed_domains": "example.com\n@Sub.Example.cn",
    }

    response = owner_admin.post(ORGANIZATION_SETTINGS_URL, form)

    assert response.status_code == 302, response.content[:2000]
    rules = organization_settings()
    assert rules.open_signup_enabled is True
    assert signup_enabled()
    event = AuditEvent.objects.get(action=AuditAction.ORG_SETTINGS_CHANGED)
    assert event.metadata["open_signup_enabled"] == {"from": False, "to": True}


@pytest.mark.django_db
def test_a_list_of_domains_with_a_non_domain_is_refused_with_a_form_error(owner_admin: Any) -> None:
    form = {
        **ORGANIZATION_SETTINGS_FORM,
        "open_signup_enabled": "on",
        "signup_allowed_domains": "example.com\nnot a domain",
    }

    response = owner_admin.post(ORGANIZATION_SETTINGS_URL, form)

    assert response.status_code == 200
    assert "not a domain" in response.content.decode()
    assert organization_settings().open_signup_enabled is False
    assert not AuditEvent.objects.filter(action=AuditAction.ORG_SETTINGS_CHANGED).exists()


@pytest.mark.django_db
def test_the_service_refuses_a_non_domain_too() -> None:
    boss = UserFactory(role=Role.OWNER)

    with pytest.raises(InvalidInput):
        organization_settings_update(
            actor=boss, changes={"signup_allowed_domains": "example.com, http://evil"}
        )
