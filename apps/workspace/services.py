"""Writes of the workplace: default channels, onboarding, the welcome message and saved
messages."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.accounts.audit import AuditAction, audit_record
from apps.accounts.models import User
from apps.accounts.services import user_create
from apps.chat.models import NAMED_KINDS, Channel, ChannelKind
from apps.chat.permissions import access_message_read
from apps.chat.services import channel_members_add_from_directory, dm_open, message_send
from apps.core.errors import Conflict, InvalidInput, NotFound
from apps.core.events import Audience, publish_on_commit
from apps.workspace.models import DefaultChannel, Onboarding, SavedMessage, WorkspaceSettings
from apps.workspace.permissions import access_workspace_admin, channel_label

GENERAL = "general"
SYSTEM_USERNAME = "enclave"


def workspace_settings(*, lock: bool = False) -> WorkspaceSettings:
    """The settings row, created with the defaults on first use (`lock`: FOR UPDATE)."""
    settings, _created = WorkspaceSettings.objects.get_or_create(pk=1)
    if lock:
        settings = WorkspaceSettings.objects.select_for_update().get(pk=1)
    return settings


@transaction.atomic
def default_channels_ensure() -> list[Channel]:
    """The default channels; on the first call ever, #general (created if missing) is made one.

    Later calls return what the administrators chose, which may be no channel at all.
    """
    settings = workspace_settings(lock=True)
    if not settings.default_channels_seeded:
        general = Channel.objects.filter(name__iexact=GENERAL, kind__in=NAMED_KINDS).first()
        if general is None:
            try:
                with transaction.atomic():
                    # No members yet, so nobody to tell: the joins below publish their events.
                    general = Channel.objects.create(
                        kind=ChannelKind.PUBLIC,
                        name=GENERAL,
                        topic=_("Company-wide announcements and chat"),
                    )
            except IntegrityError:
                general = Channel.objects.get(name__iexact=GENERAL, kind__in=NAMED_KINDS)
        if not general.is_archived:
            DefaultChannel.objects.get_or_create(channel=general)
        settings.default_channels_seeded = True
        settings.save(update_fields=["default_channels_seeded"])
    return [
        d.channel
        for d in DefaultChannel.objects.select_related("channel").filter(channel__is_archived=False)
    ]


@transaction.atomic
def default_channels_set(*, actor: User, channel_ids: Iterable[int]) -> list[Channel]:
    """Replace the default channels (administrators): active public or private channels."""
    access_workspace_admin(user=actor)
    wanted = list(dict.fromkeys(channel_ids))
    channels = list(Channel.objects.filter(pk__in=wanted, kind__in=NAMED_KINDS, is_archived=False))
    if len(channels) != len(wanted):
        found = {c.pk for c in channels}
        raise InvalidInput(
            _("Default channels must be active public or private channels."),
            code="invalid_channels",
            details={"channel_ids": [pk for pk in wanted if pk not in found]},
        )
    settings = workspace_settings(lock=True)
    before = sorted(DefaultChannel.objects.values_list("channel_id", flat=True))
    DefaultChannel.objects.exclude(channel_id__in=wanted).delete()
    for channel in channels:
        DefaultChannel.objects.get_or_create(channel=channel)
    if not settings.default_channels_seeded:
        settings.default_channels_seeded = True
        settings.save(update_fields=["default_channels_seeded"])
    after = sorted(c.pk for c in channels)
    if before != after:
        audit_record(
            action=AuditAction.ORG_SETTINGS_CHANGED,
            actor=actor,
            target=settings,
            metadata={"default_channels": {"from": before, "to": after}},
        )
    return sorted(channels, key=lambda c: c.name)


def system_user() -> User:
    """The bot that sends the welcome ("Enclave"), created on first use."""
    settings = workspace_settings(lock=True)
    if settings.system_user is not None and settings.system_user.is_active:
        return settings.system_user
    username, n = SYSTEM_USERNAME, 1
    while User.objects.filter(username__iexact=username).exists():
        n += 1
        username = f"{SYSTEM_USERNAME}-{n}"
    user = user_create(username=username, password=None, display_name="Enclave", is_bot=True)
    settings.system_user = user
    settings.save(update_fields=["system_user"])
    return user


def welcome_text(*, user: User, channels: list[Channel]) -> str:
    """The welcome in the person's language: the administrators' text, else the built-in one."""
    custom = workspace_settings().welcome_message.strip()
    if custom:
        return custom
    with translation.override(user.language or translation.get_language()):
        lines = [_("**Welcome to Enclave, %(name)s!** 👋") % {"name": user.name}]
        if channels:
            lines.append(
                _("You are already in %(channels)s, where your team talks.")
                % {"channels": ", ".join(channel_label(c) for c in channels)}
            )
        lines.append(
            _(
                "Find more channels with **+** beside *Channels*, start a direct message with "
                "**+** beside *Direct messages*, and press **Ctrl K** to jump to any channel "
                "or person."
            )
        )
        return "\n\n".join(lines)


@transaction.atomic
def user_onboard(*, user: User, source: str, channel_ids: Iterable[int] = ()) -> Onboarding | None:
    """Join a new person to the default channels (and those `channel_ids` an inviter chose,
    still active) and send them the welcome message. Once per person; never for bots.

    Returns the onboarding record, or None when there was nothing to do.
    """
    if user.is_bot or not user.is_active:
        return None
    onboarding, created = Onboarding.objects.get_or_create(
        user=user, defaults={"source": source, "onboarded_at": timezone.now()}
    )
    if not created:
        return None
    channels = default_channels_ensure()
    chosen = [pk for pk in channel_ids if pk not in {c.pk for c in channels}]
    if chosen:
        channels += list(
            Channel.objects.filter(pk__in=chosen, kind__in=NAMED_KINDS, is_archived=False)
        )
    if user.is_guest:
        # Guests see only the channels someone adds them to, never public ones by default.
        channels = [c for c in channels if c.pk in set(chosen)]
    for channel in channels:
        channel_members_add_from_directory(channel=channel, users=[user])
    sender = system_user()
    dm = dm_open(user=sender, user_ids=[user.pk])
    message_send(sender=sender, channel_id=dm.pk, body=welcome_text(user=user, channels=channels))
    onboarding.welcome_channel = dm
    onboarding.save(update_fields=["welcome_channel"])
    return onboarding


# --- saved messages ("Saved items") ---------------------------------------------------------------


def saved_message_add(*, user: User, message_id: int) -> SavedMessage:
    """Save a message I may read for later; saving it again keeps the first save.

    At most `ENCLAVE_SAVED_PER_USER` saved messages (409 `saved_limit_reached`); my other tabs
    are told (`saved.added`).
    """
    message, _membership = access_message_read(user=user, message_id=message_id)
    if message.deleted_at is not None:
        raise NotFound(_("This message was deleted."), code="message_deleted")
    with transaction.atomic():
        existing = SavedMessage.objects.filter(user=user, message=message).first()
        if existing is not None:
            return existing
        limit = django_settings.ENCLAVE_SAVED_PER_USER
        if SavedMessage.objects.filter(user=user).count() >= limit:
            raise Conflict(
                _("You have saved %(limit)d messages. Remove some first.") % {"limit": limit},
                code="saved_limit_reached",
                details={"limit": limit},
            )
        try:
            with transaction.atomic():  # a save from another tab may win the race
                saved = SavedMessage.objects.create(
                    user=user, message=message, saved_at=timezone.now()
                )
        except IntegrityError:
            return SavedMessage.objects.get(user=user, message=message)
        publish_on_commit(
            {
                "type": "saved.added",
                "message_id": message.pk,
                "saved_at": saved.saved_at.isoformat(),
            },
            to=Audience.users([user.pk]),
        )
    return saved


@transaction.atomic
def saved_message_remove(*, user: User, message_id: int) -> None:
    """Take a message out of my saved messages (a no-op when it is not there).

    My own save goes even when I can no longer read the message; otherwise the message must
    be one I may read (so the answer tells nothing about messages I may not).
    """
    deleted, _rows = SavedMessage.objects.filter(user=user, message_id=message_id).delete()
    if not deleted:
        access_message_read(user=user, message_id=message_id)
        return
    publish_on_commit(
        {"type": "saved.removed", "message_id": message_id, "saved_at": None},
        to=Audience.users([user.pk]),
    )
