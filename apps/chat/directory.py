"""Chat's side of the directory sync: the channels a directory group maps to get its members."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat.models import NAMED_KINDS, Channel
from apps.chat.services import channel_members_add_from_directory

if TYPE_CHECKING:
    from apps.accounts.ldap_sync import DirectorySyncResult


def directory_channel_members_add(
    sender: Any, *, channel_users: dict[str, list[User]], result: DirectorySyncResult, **kwargs: Any
) -> None:
    """Receiver of `apps.accounts.signals.directory_channel_members_wanted` (connected in
    ChatConfig.ready()): add the users to each active named channel; a name that matches none
    is a warning of the sync. Never removes anyone: channel admins may.
    """
    for name, users in sorted(channel_users.items()):
        channel = Channel.objects.filter(
            name__iexact=name, kind__in=NAMED_KINDS, is_archived=False
        ).first()
        if channel is None:
            result.warnings.append(
                _("no active channel named %(name)s for a directory group") % {"name": name}
            )
            continue
        for membership in channel_members_add_from_directory(channel=channel, users=users):
            result.channels_joined.append(f"{membership.user.username} → #{channel.name}")
