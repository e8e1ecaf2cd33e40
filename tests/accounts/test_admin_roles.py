"""The admin console per organisation role: owner and admin use it, members and guests never.

Every registered ModelAdmin is walked (its changelist, the change page of an object, each of
its actions and its own views), so a model registered later is covered without a new test.
What administrators must not do (README "Identity and the IT admin's console"): manage the
owner or other administrators, give anyone the owner or admin role, change their own role or
deactivate themselves, delete users, or reach groups, permissions and second-factor devices.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts import services as account_services
from apps.accounts.models import (
    AuditEvent,
    DirectorySyncRun,
    Invitation,
    OrganizationSettings,
    Role,
    User,
    UserSession,
)
from apps.accounts.roles import RolePermissionBackend
from apps.chat import services as chat_services
from apps.chat.models import ChannelKind
from apps.core.errors import Forbidden
from apps.files import services as file_services
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

# Registered third-party models an administrator may read (and nothing more).
ADMIN_READS = {"axes.accessattempt", "axes.accesslog", "axes.accessfailurelog"}
# Registered models only the owner reaches.
OWNER_ONLY = {"auth.group", "otp_totp.totpdevice", "otp_static.staticdevice"}


def is_enclave(model: type[models.Model]) -> bool:
    return type(model._meta.app_config).__module__.startswith("apps.")


@pytest.fixture
def people() -> dict[str, User]:
    users = {
        role: UserFactory(username=role, role=role, is_staff=role in ("owner", "admin"))
        for role in Role.values
    }
    users["owner"].is_superuser = True
    users["owner"].save(update_fields=["is_superuser"])
    return users


@pytest.fixture
def objects(people: dict[str, User]) -> None:
    """One row of every registered model, so that each change page has something to show."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.auth.models import Group
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    member = people["member"]
    channel = chat_services.channel_create(creator=member, kind=ChannelKind.PUBLIC, name="c")
    chat_services.message_send(
        sender=member, channel_id=channel.pk, body="hi", client_msg_id=str(uuid.uuid4())
    )
    account_services.api_token_create(user=member, name="t")
    UserSession.objects.create(user=member, session_key="k" * 32)
    OrganizationSettings.objects.get_or_create(pk=1)
    Invitation.objects.create(
        email="new@example.com", invited_by=people["owner"], expires_at=timezone.now()
    )
    DirectorySyncRun.objects.create()
    Group.objects.create(name="g")
    TOTPDevice.objects.create(user=member, name="phone")
    StaticDevice.objects.create(user=member, name="codes")
    AccessAttempt.objects.create(username="x", ip_address="127.0.0.1", failures_since_start=1)
    AccessLog.objects.create(username="x", ip_address="127.0.0.1")
    AccessFailureLog.objects.create(username="x", ip_address="127.0.0.1")
    file_services.attachment_upload(uploader=member, name="a.txt", source=io.BytesIO(b"hello"))
    file_services.upload_session_create(uploader=member, name="b.txt", size=10)
    assert AuditEvent.objects.exists()


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def registered() -> Iterator[tuple[type[models.Model], admin.ModelAdmin]]:
    yield from admin.site._registry.items()


def url(model: type[models.Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


# Enclave's own models kept from administrators: legal holds are for compliance officers
# (governance.manage_legal_hold; tests/governance/test_api_and_admin.py), compliance exports
# for holders of governance.export_compliance (tests/governance/test_compliance_export_api.py).
NOT_FOR_ADMINS = frozenset({"governance.legalhold", "governance.complianceexport"})


def expected_for_admin(model: type[models.Model]) -> bool:
    if model._meta.label_lower in NOT_FOR_ADMINS:
        return False
    return is_enclave(model) or model._meta.label_lower in ADMIN_READS


# --- the matrix -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("objects")
@pytest.mark.parametrize("role", ["owner", "admin"])
def test_staff_roles_open_every_page_meant_for_them(people: dict[str, User], role: str) -> None:
    client = client_of(people[role])
    assert client.get(reverse("admin:index")).status_code == 200
    opened = 0
    for model, _model_admin in registered():
        allowed = role == "owner" or expected_for_admin(model)
        changelist = client.get(url(model, "changelist"))
        assert (changelist.status_code == 200) is allowed, (role, model, changelist.status_code)
        instance = model._default_manager.order_by("pk").first()
        if instance is not None:
            change = client.get(url(model, "change", instance.pk))
            assert (change.status_code == 200) is allowed, (role, model, change.status_code)
            opened += 1
    assert opened >= 15


@pytest.mark.usefixtures("objects")
def test_the_admin_index_lists_the_models_meant_for_administrators(
    people: dict[str, User],
) -> None:
    page = client_of(people["admin"]).get(reverse("admin:index"))

    listed = {
        f"{model['object_name']}".lower()
        for app in page.context["app_list"]
        for model in app["models"]
    }
    for model, _model_admin in registered():
        assert (model._meta.model_name in listed) is expected_for_admin(model), model


@pytest.mark.usefixtures("objects")
@pytest.mark.parametrize("role", ["member", "guest"])
@pytest.mark.parametrize("staff_flag", [False, True])
def test_members_and_guests_reach_no_admin_page(
    people: dict[str, User], role: str, staff_flag: bool
) -> None:
    # Even with a stale is_staff flag, the role grants no permission.
    user = people[role]
    User.objects.filter(pk=user.pk).update(is_staff=staff_flag)
    client = client_of(user)
    for model, model_admin in registered():
        pages = [url(model, "changelist")]
        instance = model._default_manager.order_by("pk").first()
        if instance is not None:
            pages.append(url(model, "change", instance.pk))
        for name in _own_views(model_admin):
            pages.append(reverse(f"admin:{name}"))
        for page in pages:
            for method in ("get", "post"):
                response = getattr(client, method)(page)
                assert response.status_code in (302, 403), (role, page, method, response)
                if response.status_code == 302:
                    assert "/login/" in response["Location"]


def _own_views(model_admin: admin.ModelAdmin) -> list[str]:
    standard = ("changelist", "add", "history", "delete", "change")
    names = []
    for pattern in model_admin.get_urls():
        if pattern.name and not pattern.name.endswith(standard) and "<" not in str(pattern.pattern):
            names.append(pattern.name)
    return names


@pytest.mark.usefixtures("objects")
@pytest.mark.parametrize("role", ["owner", "admin"])
def test_staff_roles_get_every_action_meant_for_them(people: dict[str, User], role: str) -> None:
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = people[role]
    for model, model_admin in registered():
        declared = {
            action if isinstance(action, str) else action.__name__
            for action in (model_admin.actions or [])
        }
        available = set(model_admin.get_actions(request))
        if role == "owner" or is_enclave(model):
            assert declared <= available, (role, model, declared - available)
        else:  # third-party: read at most (axes' own housekeeping action aside)
            assert not model_admin.has_add_permission(request), model
            assert not model_admin.has_change_permission(request), model
            assert not model_admin.has_delete_permission(request), model


@pytest.mark.usefixtures("objects")
@pytest.mark.parametrize("role", ["owner", "admin"])
@pytest.mark.parametrize(
    ("view", "method"),
    [("files_attachment_usage", "get"), ("accounts_directorysyncrun_sync_now", "post")],
)
def test_staff_roles_use_the_consoles_own_views(
    people: dict[str, User], role: str, view: str, method: str
) -> None:
    response = getattr(client_of(people[role]), method)(reverse(f"admin:{view}"))

    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 302:
        assert "/login/" not in response["Location"]


def _act(client: Client, model: type[models.Model], action: str, pks: list[Any], **extra: Any):
    return client.post(
        url(model, "changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks], **extra},
    )


@pytest.mark.parametrize("role", ["owner", "admin"])
@pytest.mark.parametrize(
    "action",
    [
        "deactivate_users",
        "reactivate_users",
        "unlock_users",
        "reset_two_factor",
        "sign_out_everywhere",
    ],
)
def test_staff_roles_run_user_actions_on_members(
    people: dict[str, User], role: str, action: str
) -> None:
    target = people["member"]
    if action == "reactivate_users":
        User.objects.filter(pk=target.pk).update(is_active=False)

    response = _act(client_of(people[role]), User, action, [target.pk])

    assert response.status_code == 302, response.status_code
    target.refresh_from_db()
    if action == "deactivate_users":
        assert not target.is_active
    if action == "reactivate_users":
        assert target.is_active


@pytest.mark.parametrize("role", ["member", "guest"])
def test_members_and_guests_cannot_run_admin_actions(people: dict[str, User], role: str) -> None:
    target = people["admin"]

    response = _act(client_of(people[role]), User, "deactivate_users", [target.pk])

    assert response.status_code == 302
    assert "/login/" in response["Location"]
    target.refresh_from_db()
    assert target.is_active


def test_admins_unlock_accounts_and_read_the_audit_log(people: dict[str, User]) -> None:
    client = client_of(people["admin"])
    account_services.user_deactivate(user=people["guest"], actor=people["owner"])

    unlock = _act(client, User, "unlock_users", [people["member"].pk])
    audit = client.get(url(AuditEvent, "changelist"))
    export = _act(
        client, AuditEvent, "export_csv", list(AuditEvent.objects.values_list("pk", flat=True))
    )

    assert unlock.status_code == 302
    assert audit.status_code == 200
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/csv")


# --- what administrators must not do -------------------------------------------------------------


def _change_form(client: Client, user: User, **changes: Any) -> Any:
    page = client.get(url(User, "change", user.pk))
    form = page.context["adminform"].form
    data = {
        name: form.initial.get(name)
        for name in form.fields
        if form.initial.get(name) is not None and name not in ("password", "avatar")
    }
    data.update(
        {
            "directory_profile-TOTAL_FORMS": "0",
            "directory_profile-INITIAL_FORMS": "0",
            "directory_profile-MIN_NUM_FORMS": "0",
            "directory_profile-MAX_NUM_FORMS": "0",
            "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        }
    )
    data.update(changes)
    return client.post(url(User, "change", user.pk), data)


@pytest.mark.parametrize("target", ["owner", "other_admin"])
def test_an_admin_cannot_change_the_owner_or_another_admin(
    people: dict[str, User], target: str
) -> None:
    other = people["owner"] if target == "owner" else UserFactory(role=Role.ADMIN, is_staff=True)
    client = client_of(people["admin"])

    change = client.post(
        url(User, "change", other.pk), {"username": other.username, "role": "guest"}
    )
    password = client.get(url(User, "change", other.pk).replace("/change/", "/password/"))
    deactivate = _act(client, User, "deactivate_users", [other.pk])

    assert change.status_code == 403
    assert password.status_code == 403
    assert deactivate.status_code == 302
    other.refresh_from_db()
    assert other.is_active
    assert other.role in (Role.OWNER, Role.ADMIN)


def test_an_admin_cannot_make_anyone_owner_or_admin(people: dict[str, User]) -> None:
    client = client_of(people["admin"])
    member = people["member"]

    for role in (Role.OWNER, Role.ADMIN):
        response = _change_form(client, member, role=role)
        assert response.status_code == 200, response.status_code  # the form, with an error
        member.refresh_from_db()
        assert member.role == Role.MEMBER


def test_an_admin_can_make_a_member_a_guest(people: dict[str, User]) -> None:
    member = people["member"]

    response = _change_form(client_of(people["admin"]), member, role=Role.GUEST)

    assert response.status_code == 302, response.content[:2000]
    member.refresh_from_db()
    assert member.role == Role.GUEST


def test_an_admin_cannot_change_their_own_role_or_status(people: dict[str, User]) -> None:
    me = people["admin"]
    client = client_of(me)

    _change_form(client, me, role=Role.OWNER)
    _change_form(client, me, is_active="")
    _act(client, User, "deactivate_users", [me.pk])

    me.refresh_from_db()
    assert me.role == Role.ADMIN
    assert me.is_active


def test_the_staff_flag_is_not_editable_in_the_console(people: dict[str, User]) -> None:
    member = people["member"]

    _change_form(client_of(people["owner"]), member, is_staff="on")

    member.refresh_from_db()
    assert not member.is_staff


def test_an_admin_cannot_delete_users(people: dict[str, User]) -> None:
    member = people["member"]
    client = client_of(people["admin"])

    page = client.get(url(User, "delete", member.pk))
    bulk = _act(client, User, "delete_selected", [member.pk], post="yes")

    assert page.status_code == 403
    assert bulk.status_code in (200, 302)
    assert User.objects.filter(pk=member.pk).exists()


def test_services_refuse_an_admin_promoting_or_deactivating_above_their_rank(
    people: dict[str, User],
) -> None:
    admin_user, owner = people["admin"], people["owner"]

    with pytest.raises(Forbidden):
        account_services.user_set_role(user=people["member"], role=Role.OWNER, actor=admin_user)
    with pytest.raises(Forbidden):
        account_services.user_set_role(user=admin_user, role=Role.OWNER, actor=admin_user)
    with pytest.raises(Forbidden):
        account_services.user_deactivate(user=owner, actor=admin_user)
    with pytest.raises(Forbidden):
        account_services.user_deactivate(user=owner, actor=owner)  # the last one in charge
    owner.refresh_from_db()
    assert owner.is_active


def test_a_role_change_changes_the_permissions_at_once(people: dict[str, User]) -> None:
    member = people["member"]
    backend = RolePermissionBackend()
    assert not backend.has_perm(member, "chat.view_channel")

    account_services.user_set_role(user=member, role=Role.ADMIN, actor=people["owner"])

    assert backend.has_perm(User.objects.get(pk=member.pk), "chat.view_channel")
    assert User.objects.get(pk=member.pk).has_perm("accounts.view_auditevent")


def test_every_enclave_model_is_covered_for_administrators() -> None:
    from django.apps import apps

    backend = RolePermissionBackend()
    admin_user = User(role=Role.ADMIN, is_active=True)
    for model in apps.get_models():
        if is_enclave(model) and model._meta.label_lower not in NOT_FOR_ADMINS:
            assert backend.has_perm(
                admin_user, f"{model._meta.app_label}.view_{model._meta.model_name}"
            )


def test_deactivated_admins_hold_no_permission() -> None:
    assert not RolePermissionBackend().get_all_permissions(User(role=Role.ADMIN, is_active=False))
