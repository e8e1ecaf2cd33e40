"""Invitations: single and CSV, the signed expiring single-use link, the accept page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts import invitations
from apps.accounts.audit import AuditAction
from apps.accounts.models import AuditEvent, Invitation, Role, User
from apps.core.errors import Forbidden, NotFound
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "long-and-unusual-passphrase-77"


def admin_user() -> User:
    return UserFactory(username="boss", role=Role.ADMIN, is_staff=True)


def link_in(body: str) -> str:
    match = re.search(r"(?:https?://[^/\s]+)?(/accounts/invite/\S+/)", body)
    assert match is not None, body
    return match.group(1)


def accept(
    path: str, username: str = "newbie", password: str = GOOD_PASSWORD
) -> tuple[Client, object]:
    client = Client()
    response = client.post(
        path,
        {
            "username": username,
            "display_name": "New Bie",
            "password1": password,
            "password2": password,
        },
    )
    return client, response


def test_admin_invites_by_email_and_the_link_creates_the_account_with_the_role() -> None:
    admin = Client()
    admin.force_login(admin_user())

    admin.post(reverse("accounts:invitations"), {"email": "New@Example.com", "role": "guest"})
    client, response = accept(link_in(mail.outbox[0].body))

    user = User.objects.get(username="newbie")
    assert mail.outbox[0].to == ["new@example.com"]
    assert response["Location"] == reverse("chat:home")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert (user.email, user.role, user.display_name) == ("new@example.com", Role.GUEST, "New Bie")
    assert AuditEvent.objects.filter(action=AuditAction.INVITATION_ACCEPTED).exists()


def test_invitation_link_works_once() -> None:
    invitations.invitation_create(actor=admin_user(), email="a@example.com")
    path = link_in(mail.outbox[0].body)
    accept(path)

    _client, response = accept(path, username="second")

    assert response.status_code == 404
    assert not User.objects.filter(username="second").exists()


def test_expired_invitation_is_refused() -> None:
    invitation = invitations.invitation_create(actor=admin_user(), email="a@example.com")
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(1))

    with pytest.raises(NotFound):
        invitations.invitation_accept(
            token=invitations.invitation_token(invitation), username="late", password=GOOD_PASSWORD
        )


def test_tampered_or_revoked_links_are_refused() -> None:
    actor = admin_user()
    invitation = invitations.invitation_create(actor=actor, email="a@example.com")
    token = invitations.invitation_token(invitation)

    with pytest.raises(NotFound):
        invitations.invitation_for_token(token[:-2] + "xx")
    invitations.invitation_revoke(actor=actor, invitation=invitation)
    with pytest.raises(NotFound):
        invitations.invitation_for_token(token)


def test_weak_password_is_refused_on_the_accept_page() -> None:
    invitations.invitation_create(actor=admin_user(), email="a@example.com")

    _client, response = accept(link_in(mail.outbox[0].body), password="123")

    assert response.status_code == 200
    assert not User.objects.filter(username="newbie").exists()


@pytest.mark.parametrize("role", [Role.MEMBER, Role.GUEST])
def test_only_administrators_invite(role: str) -> None:
    with pytest.raises(Forbidden):
        invitations.invitation_create(actor=UserFactory(role=role), email="a@example.com")


def test_members_cannot_open_the_invitations_page() -> None:
    client = Client()
    client.force_login(UserFactory())

    assert client.get(reverse("accounts:invitations")).status_code == 403


def test_an_admin_cannot_invite_another_admin_but_the_owner_can() -> None:
    with pytest.raises(Forbidden):
        invitations.invitation_create(actor=admin_user(), email="a@example.com", role=Role.ADMIN)
    owner = UserFactory(role=Role.OWNER)

    invitation = invitations.invitation_create(actor=owner, email="a@example.com", role=Role.ADMIN)

    assert invitation.role == Role.ADMIN


def test_bulk_csv_invites_every_valid_row_and_reports_the_others() -> None:
    UserFactory(email="taken@example.com")
    admin = Client()
    admin.force_login(admin_user())
    csv_file = SimpleUploadedFile(
        "people.csv",
        b"email,role\none@example.com\ntwo@example.com,guest\nnot-an-address\ntaken@example.com\n",
        content_type="text/csv",
    )

    response = admin.post(reverse("accounts:invitations"), {"csv_file": csv_file})

    bulk = response.context["bulk"]
    assert bulk.invited == ["one@example.com", "two@example.com"]
    assert len(bulk.errors) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["one@example.com", "two@example.com"]
    assert Invitation.objects.get(email="two@example.com").role == Role.GUEST
