"""Event payloads of the integration platform (sent by `services` after commit):

- `poll.updated` {channel_id, poll: PollPayload}: a poll was posted or someone voted.
- `message.actions` {channel_id, message_id, actions: [ActionPayload]}: a bot message's buttons.
- `link_preview.updated` {channel_id, message_id, previews: [PreviewPayload]}: previews of a
  message appeared or one was removed (the list is the whole current set).
- `command.response` {channel_id, text}: a command's answer for its caller only.
"""

from __future__ import annotations

from typing import TypedDict

from django.db.models import Count

from apps.integrations.models import LinkPreview, Poll, PollOption


class PollOptionPayload(TypedDict):
    id: int
    text: str
    votes: int


class PollPayload(TypedDict):
    id: int
    message_id: int
    question: str
    options: list[PollOptionPayload]
    total_votes: int


class PreviewPayload(TypedDict):
    id: int
    url: str
    title: str
    description: str
    image_url: str
    site_name: str


def poll_payload(poll: Poll) -> PollPayload:
    options = list(
        PollOption.objects.filter(poll=poll).annotate(n=Count("votes")).order_by("position")
    )
    counted: list[PollOptionPayload] = [
        {"id": o.pk, "text": o.text, "votes": int(o.n)} for o in options
    ]
    return {
        "id": poll.pk,
        "message_id": poll.message_id,
        "question": poll.question,
        "options": counted,
        "total_votes": sum(o["votes"] for o in counted),
    }


def preview_payload(preview: LinkPreview) -> PreviewPayload:
    return {
        "id": preview.pk,
        "url": preview.url,
        "title": preview.title,
        "description": preview.description,
        "image_url": preview.image_url,
        "site_name": preview.site_name,
    }


class ActionPayload(TypedDict):
    id: str
    label: str
    style: str


class PollUpdatedEvent(TypedDict):
    type: str
    channel_id: int
    poll: PollPayload


class MessageActionsEvent(TypedDict):
    type: str
    channel_id: int
    message_id: int
    actions: list[ActionPayload]


class LinkPreviewUpdatedEvent(TypedDict):
    type: str
    channel_id: int
    message_id: int
    previews: list[PreviewPayload]


class CommandResponseEvent(TypedDict):
    type: str
    channel_id: int
    text: str


EVENT_SCHEMAS: dict[str, type] = {
    "poll.updated": PollUpdatedEvent,
    "message.actions": MessageActionsEvent,
    "link_preview.updated": LinkPreviewUpdatedEvent,
    "command.response": CommandResponseEvent,
}
