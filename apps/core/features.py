"""Feature flags (gray release) as every app sees them: is a feature on for this user?

Every new user-facing feature ships behind a flag until an admin turns it on for everyone
(README, "Gray release"). The flags themselves live in `apps.ops` (the highest app), which
registers its evaluator here in `AppConfig.ready()`; lower apps gate their features with
what this module offers and never import `apps.ops`:

- REST: `permission_classes = [IsAuthenticated, require_flag("new_thing")]` answers
  404 `feature_disabled` to a user without the flag (the feature does not exist for them).
- Services and WebSocket operations: `access_feature(user=..., name="new_thing")` raises the
  same error, which the consumer turns into an `error` event (the socket stays open).
- Anything else: `feature_enabled(user=..., name=...)`.

Without a registered evaluator (or for a flag nobody created) every feature is off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.core.errors import NotFound

FlagEvaluator = Callable[[Any, str], bool]

# Every flag the product reads, and what it turns on. An administrator starts a feature's gray
# release by creating the flag of that name in the admin, which offers these names (a flag of
# another name would gate nothing). tests/core/test_feature_registry.py finds every name the
# server and the web client read and checks that it is here.
FLAGS: dict[str, Any] = {
    "assistant": _(
        "The on-premises assistant, which answers from what the asking person may read."
    ),
    "calls": _("Voice and video calls in direct messages."),
    "dark_mode": _(
        "The dark theme and the theme setting (without it everyone sees the light one)."
    ),
    "data_export": _("Download my data: people ask for a ZIP of their own messages and files."),
    "email_digests": _("Email digests of unread messages for people who are away."),
    "helpdesk": _("The help desk: questions from a channel become tickets for agents."),
    "integrations": _("Bots, incoming and outgoing webhooks and slash commands."),
    "link_previews": _("Previews of links posted in messages."),
    "pins_saved": _("Pinned messages in a conversation and one's saved messages."),
    "search_filters": _(
        "Search filters typed into the query (from:, in:, has:, is:, mentions:, before:, after:)."
    ),
    "status_dnd": _("A custom status and do not disturb, with its notification schedule."),
    "workplace_inbox": _(
        "The inbox: mentions, replies and reactions to one's messages in one list."
    ),
    "workplace_reminders": _('Reminders about a message ("Remind me").'),
}


def _all_off(user: Any, name: str) -> bool:
    return False


_evaluator: FlagEvaluator = _all_off


def register_flag_evaluator(evaluator: FlagEvaluator) -> None:
    """Install the function that answers `(user, flag name) -> on?` (apps.ops does)."""
    global _evaluator
    _evaluator = evaluator


class FeatureDisabled(NotFound):
    code = "feature_disabled"
    default_message = _("This feature is not available to you.")


def feature_enabled(*, user: Any, name: str) -> bool:
    """Whether the flag `name` is on for `user` (False for anonymous and inactive users)."""
    return _evaluator(user, name)


def access_feature(*, user: Any, name: str) -> None:
    """Raise `FeatureDisabled` (404 `feature_disabled`) unless the flag is on for `user`.

    Reads the cache (and the database when the flags are not cached): call it where the
    database may be used, e.g. inside the operation a consumer runs in its worker thread.
    """
    if not feature_enabled(user=user, name=name):
        raise FeatureDisabled(details={"feature": name})


def require_flag(name: str) -> type[BasePermission]:
    """A DRF permission class: the view exists only for users with the flag `name`.

    Put it after `IsAuthenticated`, so that anonymous callers still get 401.
    """

    class RequireFlag(BasePermission):
        flag = name

        def has_permission(self, request: Request, view: Any) -> bool:
            access_feature(user=request.user, name=name)
            return True

    RequireFlag.__name__ = RequireFlag.__qualname__ = f"RequireFlag[{name}]"
    return RequireFlag
