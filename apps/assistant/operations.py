"""The `assistant.*` WebSocket operations, registered with the chat consumer (`/ws/`) by
`AssistantConfig.ready()`. Each runs in the consumer's worker thread, checks at once (flag,
input, the channel named) and returns the ack's extra fields; a DomainError becomes an
`error` event. The answer itself is computed in a Celery task and pushed to the asker as
`assistant.answer`, so a slow model never holds the socket's worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.assistant import services
from apps.core.api import DB_INT_MAX, DB_INT_MIN
from apps.core.errors import InvalidInput


def op_assistant_ask(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    channel_id = frame.get("channel_id")
    if channel_id is not None and (
        isinstance(channel_id, bool)
        or not isinstance(channel_id, int)
        or not DB_INT_MIN <= channel_id <= DB_INT_MAX
    ):
        raise InvalidInput(
            _("%(field)s must be an integer.") % {"field": "channel_id"},
            code="invalid_field",
            details={"field": "channel_id"},
        )
    request_id = services.assistant_ask_later(
        user=user, question=frame.get("question"), channel_id=channel_id
    )
    return {"request_id": request_id}


OPERATIONS: dict[str, Callable[[User, dict[str, Any]], dict[str, Any]]] = {
    "assistant.ask": op_assistant_ask,
}
