"""The built-in slash commands (`/me`, `/mute`, `/invite`, `/topic`, `/poll`) and admins'
custom commands, registered with chat's registry by `hooks.install()`. Each handler checks
what it needs with chat's own services (which check permissions): `/topic` needs channel
management, `/invite` the right to add members, `/me` and `/poll` the right to post.
"""

from __future__ import annotations

import re

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.accounts.models import User
from apps.chat import services as chat_services
from apps.chat.commands import Command, CommandContext, CommandResult, register_command
from apps.chat.permissions import access_channel_post
from apps.core.errors import InvalidInput
from apps.core.features import feature_enabled
from apps.integrations import services
from apps.integrations.models import CustomCommand
from apps.integrations.permissions import FLAG


def available(user: User) -> bool:
    return feature_enabled(user=user, name=FLAG)


def run_me(ctx: CommandContext) -> CommandResult:
    if not ctx.args:
        raise InvalidInput(_("Say what you do: /me waves"), code="invalid_arguments")
    return CommandResult(message=f"_{ctx.user.name} {ctx.args}_")


def run_mute(ctx: CommandContext) -> CommandResult:
    membership = chat_services.membership_update_settings(
        user=ctx.user,
        channel_id=ctx.channel.pk,
        is_muted=ctx.args.strip().lower() not in ("off", "un", "no"),
    )
    if membership.is_muted:
        return CommandResult(ephemeral=_("This conversation is muted. /mute off unmutes it."))
    return CommandResult(ephemeral=_("This conversation is no longer muted."))


_USERNAME = re.compile(r"@?([\w.@+-]+)")


def run_invite(ctx: CommandContext) -> CommandResult:
    names = [m.group(1).lower() for m in _USERNAME.finditer(ctx.args)]
    if not names:
        raise InvalidInput(_("Name someone: /invite @username"), code="invalid_arguments")
    users = {u.username.lower(): u for u in User.objects.filter(is_active=True, username__in=names)}
    # Case-insensitive match for names typed differently from how they were registered.
    missing = [n for n in names if n not in users]
    if missing:
        for user in User.objects.filter(is_active=True):
            if user.username.lower() in missing:
                users[user.username.lower()] = user
        missing = [n for n in names if n not in users]
    if missing:
        raise InvalidInput(
            _("Unknown user: %(names)s") % {"names": ", ".join("@" + n for n in missing)},
            code="unknown_user",
        )
    added = chat_services.channel_invite(
        actor=ctx.user, channel_id=ctx.channel.pk, user_ids=[u.pk for u in users.values()]
    )
    if not added:
        return CommandResult(ephemeral=_("They are already members."))
    return CommandResult(
        ephemeral=_("Added %(names)s.")
        % {"names": ", ".join("@" + users[n].username for n in names)}
    )


def run_topic(ctx: CommandContext) -> CommandResult:
    chat_services.channel_update(actor=ctx.user, channel_id=ctx.channel.pk, topic=ctx.args)
    if ctx.args:
        return CommandResult(ephemeral=_("Topic set."))
    return CommandResult(ephemeral=_("Topic cleared."))


def run_poll(ctx: CommandContext) -> CommandResult:
    question, options = services.parse_poll(ctx.args)
    access_channel_post(user=ctx.user, channel_id=ctx.channel.pk)
    services.poll_create(
        user=ctx.user,
        channel_id=ctx.channel.pk,
        question=question,
        options=options,
        client_msg_id=ctx.client_msg_id,
        thread_root_id=ctx.thread_root_id,
    )
    return CommandResult()


def register_builtins() -> None:
    register_command(
        "me",
        handler=run_me,
        description=gettext_lazy("Say what you are doing, in italics"),
        usage=gettext_lazy("/me waves"),
        available=available,
    )
    register_command(
        "mute",
        handler=run_mute,
        description=gettext_lazy("Mute this conversation (/mute off to unmute)"),
        usage="/mute",
        available=available,
    )
    register_command(
        "invite",
        handler=run_invite,
        description=gettext_lazy("Add people to this channel"),
        usage="/invite @username",
        available=available,
    )
    register_command(
        "topic",
        handler=run_topic,
        description=gettext_lazy("Set the channel topic (channel administrators)"),
        usage=gettext_lazy("/topic text"),
        available=available,
    )
    register_command(
        "poll",
        handler=run_poll,
        description=gettext_lazy("Start a poll"),
        usage=gettext_lazy('/poll "question" "answer" "answer"'),
        available=available,
    )


# --- custom commands ----------------------------------------------------------------------------


def _custom_handler(command_id: int, name: str):
    def handler(ctx: CommandContext) -> CommandResult:
        from apps.integrations import tasks

        args = (command_id, ctx.user.pk, ctx.channel.pk, ctx.args, ctx.thread_root_id)
        transaction.on_commit(lambda: tasks.call_custom_command.delay(*args))
        return CommandResult(ephemeral=_("Running /%(name)s…") % {"name": name})

    return handler


def _as_command(row: CustomCommand) -> Command:
    return Command(
        name=row.name,
        handler=_custom_handler(row.pk, row.name),
        description=row.description,
        usage=row.usage or f"/{row.name}",
        available=available,
    )


def resolve_custom(name: str, user: User) -> Command | None:
    row = (
        CustomCommand.objects.filter(name=name, is_active=True)
        .only("pk", "name", "description", "usage")
        .first()
    )
    return None if row is None else _as_command(row)


def list_custom(user: User) -> list[Command]:
    if not available(user):
        return []
    return [_as_command(row) for row in CustomCommand.objects.filter(is_active=True)]
