"""Slash commands: `/name args` typed in the composer runs a command instead of being posted.

Apps register their commands from `AppConfig.ready()` (chat imports none of them):

    register_command("poll", handler=run_poll, description=_("Start a poll"),
                     usage='/poll "question" "answer" "answer"', available=None)

`handler(ctx: CommandContext) -> CommandResult`. The result's `ephemeral` text is shown to the
caller only (in the send's answer, never stored); its `message` is posted as the caller's
message through the normal send service (delivery, search, notifications), idempotent on the
send's `client_msg_id`. A handler raises a DomainError to refuse (it reaches the client like
any send error). `available(user) -> bool` hides a command from a user (a feature flag off):
it is then neither listed nor run, and `/name` is posted as plain text.

Commands an administrator defines at run time (custom commands calling an HTTP endpoint) come
from resolvers (`register_command_resolver`), asked only for a name no registered command has.

The send paths (REST and `message.send` on the socket) call `find_command(body)` first; for a
body that does not start with "/" that is one string comparison, so ordinary messages pay
nothing measurable.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat import services
from apps.chat.models import Channel
from apps.chat.permissions import access_channel_read
from apps.core.errors import Forbidden, InvalidInput


@dataclass(frozen=True)
class CommandContext:
    user: User
    channel: Channel
    args: str
    client_msg_id: str | None
    thread_root_id: int | None = None


@dataclass(frozen=True)
class CommandResult:
    ephemeral: str | None = None
    message: str | None = None


CommandHandler = Callable[[CommandContext], CommandResult]
Availability = Callable[[User], bool]


@dataclass(frozen=True)
class Command:
    name: str
    handler: CommandHandler
    description: str
    usage: str
    available: Availability | None = None

    def is_available_to(self, user: User) -> bool:
        return self.available is None or bool(self.available(user))


_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_COMMANDS: dict[str, Command] = {}
CommandResolver = Callable[[str, User], Command | None]
CommandLister = Callable[[User], list[Command]]
_resolvers: list[tuple[CommandResolver, CommandLister]] = []


def register_command(
    name: str,
    *,
    handler: CommandHandler,
    description: Any,
    usage: Any,
    available: Availability | None = None,
) -> None:
    """Add `/name` (lower-case letters, digits, - and _; up to 32). Registering a name twice
    with another handler is a programming error."""
    if not _NAME.match(name):
        raise ValueError(f"invalid command name {name!r}")
    existing = _COMMANDS.get(name)
    if existing is not None and existing.handler is not handler:
        raise ValueError(f"slash command /{name} is already registered")
    _COMMANDS[name] = Command(name, handler, description, usage, available)


def register_command_resolver(resolve: CommandResolver, list_for: CommandLister) -> None:
    """Add a source of run-time commands: `resolve(name, user)` finds one, `list_for(user)`
    lists those the user may use (for autocomplete)."""
    if (resolve, list_for) not in _resolvers:
        _resolvers.append((resolve, list_for))


def split_command(body: str) -> tuple[str, str] | None:
    """`("name", "args")` when `body` looks like a command (`/name` then a space or the end)."""
    if not body.startswith("/"):
        return None
    head, _sep, args = body[1:].partition(" ")
    name = head.strip().lower()
    if "\n" in name:
        name, _nl, rest = name.partition("\n")
        args = rest + (" " + args if args else "")
    if not _NAME.match(name):
        return None
    return name, args.strip()


def find_command(body: str, user: User) -> tuple[Command, str] | None:
    """The command `body` invokes for `user` and its arguments, or None (post it as text).

    The cheap test comes first: a body without a leading "/" returns at once.
    """
    if not body.startswith("/"):
        return None
    parts = split_command(body)
    if parts is None:
        return None
    name, args = parts
    command = _COMMANDS.get(name)
    if command is None:
        for resolve, _list_for in _resolvers:
            command = resolve(name, user)
            if command is not None:
                break
    if command is None or not command.is_available_to(user):
        return None
    return command, args


def commands_for(*, user: User) -> list[Command]:
    """Every command `user` may run, by name (the composer's autocomplete)."""
    found = {c.name: c for c in _COMMANDS.values() if c.is_available_to(user)}
    for _resolve, list_for in _resolvers:
        for command in list_for(user):
            found.setdefault(command.name, command)
    return [found[name] for name in sorted(found)]


@dataclass(frozen=True)
class CommandOutcome:
    name: str
    ephemeral: str | None
    message: services.SendResult | None


def command_run(
    *,
    user: User,
    channel_id: int,
    command: Command,
    args: str,
    client_msg_id: object = None,
    thread_root_id: int | None = None,
) -> CommandOutcome:
    """Run `command` for `user` in a channel they belong to; post its message, if any.

    Membership (and an active account) is checked here for every command; a handler checks
    what else it needs (posting rights, channel management) with chat's `access_*`.
    """
    channel, membership = access_channel_read(user=user, channel_id=channel_id)
    if membership is None:
        raise Forbidden(_("Join the channel to use commands in it."), code="not_member")
    if client_msg_id not in (None, ""):
        try:
            client_msg_id = str(uuid.UUID(str(client_msg_id)))
        except ValueError:
            raise InvalidInput(
                _("client_msg_id must be a UUID."), code="invalid_client_msg_id"
            ) from None
    ctx = CommandContext(
        user=user,
        channel=channel,
        args=args,
        client_msg_id=str(client_msg_id) if client_msg_id else None,
        thread_root_id=thread_root_id,
    )
    # No transaction around the handler: one that calls out (a custom command's task) must
    # not hold a database transaction open; handlers that write use services, atomic each.
    result = command.handler(ctx)
    sent = None
    if result.message:
        sent = services.message_send(
            sender=user,
            channel_id=channel.pk,
            body=result.message,
            client_msg_id=ctx.client_msg_id,
            thread_root_id=thread_root_id,
        )
    return CommandOutcome(command.name, result.ephemeral, sent)


def command_ack(outcome: CommandOutcome) -> dict[str, Any]:
    """What the send's answer carries for a command (REST body, WebSocket ack)."""
    ack: dict[str, Any] = {"command": outcome.name, "ephemeral": outcome.ephemeral}
    if outcome.message is not None:
        message = outcome.message.message
        ack.update(
            message_id=message.pk,
            channel_id=message.channel_id,
            seq=message.seq,
            client_msg_id=str(message.client_msg_id) if message.client_msg_id else None,
            duplicate=not outcome.message.created,
        )
    return ack
