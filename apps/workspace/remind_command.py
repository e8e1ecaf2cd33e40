"""`/remind me in 20m|1h|2d <text>`, `/remind me tomorrow at 9:00 <text>`,
`/remind me at 2026-12-24 18:00 <text>` (and Chinese: `/remind 明天 9:00 <text>`), registered
with chat's slash command registry from `WorkspaceConfig.ready()`. The answer is for the caller
only; parsing errors carry a `reminder_*` code (`apps.workspace.reminder_times.parse_remind`)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.accounts.models import User
from apps.chat.commands import CommandContext, CommandResult, register_command
from apps.core.features import feature_enabled
from apps.workspace import reminder_times
from apps.workspace.permissions import REMINDERS_FLAG
from apps.workspace.reminders import reminder_create


def available(user: User) -> bool:
    return feature_enabled(user=user, name=REMINDERS_FLAG)


def run_remind(ctx: CommandContext) -> CommandResult:
    parsed = reminder_times.parse_remind(ctx.args, now=timezone.now(), time_zone=ctx.user.time_zone)
    payload = reminder_create(
        user=ctx.user, note=parsed.note, remind_at=parsed.remind_at.isoformat()
    )
    zone = reminder_times.zone_of(ctx.user.time_zone)
    when = datetime.fromisoformat(payload["remind_at"]).astimezone(zone)
    return CommandResult(
        ephemeral=_("OK, I will remind you on %(when)s: %(note)s")
        % {"when": f"{when:%Y-%m-%d %H:%M} ({zone.key})", "note": parsed.note}
    )


def register() -> None:
    register_command(
        "remind",
        handler=run_remind,
        description=gettext_lazy("Set a reminder for yourself"),
        usage=gettext_lazy("/remind me in 20m|tomorrow at 9:00|at 2026-12-24 18:00 text"),
        available=available,
    )
