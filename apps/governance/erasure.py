"""Erasure of a departed employee's personal data (PIPL/GDPR), by an administrator.

`personal_data_erase` deactivates the account and replaces who they were with neutral values
("Former employee 1234", in the organisation's language), and removes what is only about
them: avatar file, API tokens, sessions, second factors, the directory link, status,
notification settings, saved items, reminders and data exports. Their messages stay (they are
the company's record), unless the administrator asks to delete them too: then each one goes
through chat's own deletion (`message_delete`), and a legal hold on the person or on a channel
they wrote in refuses the whole erasure before anything changed.

The directory link (`DirectoryProfile`) is deleted and the username replaced, so the directory
sync, which only touches users it finds by that link or by username
(`apps.accounts.ldap_sync._profile_for`), never fills the account in again nor reactivates it.
A person still enabled in the directory would get a new, empty account at the next sync:
disable them there first.

The history pages cached per process are keyed by the channel's `last_seq`; every channel the
person wrote in takes its next one (`messages_sender_changed`), so the old name is not served
from a cache. The audit log keeps its entries (it is append-only) and records the erasure.
"""

from __future__ import annotations

from dataclasses import dataclass

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django_otp import devices_for_user

from apps.accounts import services as account_services
from apps.accounts.audit import audit_record
from apps.accounts.models import (
    APIToken,
    DirectoryProfile,
    Invitation,
    NotificationSettings,
    User,
    UserStatus,
)
from apps.accounts.roles import access_user_management
from apps.chat import services as chat_services
from apps.chat.models import Message
from apps.core.errors import Conflict, DomainError, Forbidden, NotFound
from apps.governance import selectors
from apps.governance.audit import PERSONAL_DATA_ERASED
from apps.governance.data_export import data_exports_remove_for_user
from apps.workspace.models import Reminder, SavedMessage


@dataclass(frozen=True, slots=True)
class Erasure:
    """What one erasure did."""

    user_id: int
    label: str
    messages_deleted: int
    messages_kept: int


def former_employee_label(user_id: int) -> str:
    """The neutral name an erased account shows, in the organisation's language."""
    with translation.override(settings.LANGUAGE_CODE):
        return _("Former employee %(number)s") % {"number": user_id}


def _access(actor: User | None, user: User) -> None:
    if actor is None:  # the operator at the shell (manage.py erase_personal_data)
        return
    if not actor.is_active or not actor.is_org_admin:
        raise Forbidden(_("Only administrators erase personal data."), code="not_org_admin")
    if actor.pk == user.pk:
        raise Forbidden(_("You cannot erase your own account."), code="cannot_erase_self")
    access_user_management(actor=actor, target=user)


def _check_holds(user: User) -> None:
    """Refuse to delete the messages of a held person, or their messages in a held channel."""
    if user.pk in selectors.held_user_ids():
        raise Conflict(
            _(
                "%(name)s is under a legal hold: their messages cannot be deleted. Erase the "
                "personal data without deleting the messages, or release the hold first."
            )
            % {"name": user.username},
            code="erasure_blocked_by_legal_hold",
        )
    held_channels = selectors.held_channel_ids()
    if (
        held_channels
        and Message.objects.filter(
            sender=user, deleted_at__isnull=True, channel_id__in=held_channels
        ).exists()
    ):
        raise Conflict(
            _(
                "Some of %(name)s's messages are in channels under a legal hold: they cannot "
                "be deleted. Erase the personal data without deleting the messages, or "
                "release the hold first."
            )
            % {"name": user.username},
            code="erasure_blocked_by_legal_hold",
        )


def _delete_messages(user: User) -> tuple[int, int]:
    """Delete the person's live messages through chat's deletion, as their author (before the
    account is deactivated). Messages chat refuses (an archived channel, one they left) are
    kept and counted. Returns (deleted, kept)."""
    deleted = kept = 0
    ids = list(
        Message.objects.filter(sender=user, deleted_at__isnull=True)
        .order_by("channel_id", "seq")
        .values_list("pk", flat=True)
    )
    for message_id in ids:
        try:
            with transaction.atomic():
                chat_services.message_delete(user=user, message_id=message_id)
        except DomainError:
            kept += 1
        else:
            deleted += 1
    return deleted, kept


@transaction.atomic
def personal_data_erase(
    *, actor: User | None, user_id: int, delete_messages: bool = False
) -> Erasure:
    """Erase a departed person's personal data (see the module's docstring). Audited.

    `actor`: the administrator (who must manage that user: administrators erase members and
    guests, the owner anyone but themself), or None for the operator at the shell.
    Raises Conflict `erasure_blocked_by_legal_hold` when `delete_messages` meets a legal hold,
    before anything changed.
    """
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFound(_("No such user."), code="user_not_found")
    _access(actor, user)
    if delete_messages:
        _check_holds(user)
        messages_deleted, _kept = _delete_messages(user)
    else:
        messages_deleted = 0
    messages_kept = Message.objects.filter(sender=user, deleted_at__isnull=True).count()

    account_services.user_deactivate(user=user, reason="personal data erased")
    label = former_employee_label(user.pk)
    avatar = user.avatar.name if user.avatar else ""
    old_username = user.username
    user.username = f"former-{user.pk}"
    user.first_name = ""
    user.last_name = ""
    user.display_name = label
    user.email = ""
    user.avatar = None
    user.set_unusable_password()
    user.save(
        update_fields=[
            "username",
            "first_name",
            "last_name",
            "display_name",
            "email",
            "avatar",
            "password",
        ]
    )
    if avatar:
        storage = User._meta.get_field("avatar").storage
        transaction.on_commit(lambda: storage.delete(avatar))
    APIToken.objects.filter(user=user).delete()
    for device in devices_for_user(user, confirmed=None):
        device.delete()
    DirectoryProfile.objects.filter(user=user).delete()
    # Sign-in records of the old username (lock-out bookkeeping) and the invitation's address.
    for log in (AccessAttempt, AccessFailureLog, AccessLog):
        log.objects.filter(username__iexact=old_username).delete()
    Invitation.objects.filter(accepted_user=user).update(email="")
    UserStatus.objects.filter(user=user).delete()
    NotificationSettings.objects.filter(user=user).delete()
    SavedMessage.objects.filter(user=user).delete()
    Reminder.objects.filter(user=user).delete()
    data_exports_remove_for_user(user=user)
    chat_services.messages_sender_changed(sender_id=user.pk)
    audit_record(
        action=PERSONAL_DATA_ERASED,
        actor=actor,
        target_type="user",
        target_id=user.pk,
        target_label=label,
        metadata={
            "messages_deleted": messages_deleted,
            "messages_kept": messages_kept,
            "delete_messages": delete_messages,
        },
    )
    return Erasure(
        user_id=user.pk,
        label=label,
        messages_deleted=messages_deleted,
        messages_kept=messages_kept,
    )
