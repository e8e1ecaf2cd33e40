"""Push schemas of the assistant, and the answer payload REST and WebSocket share.

`assistant.answer` goes to the asker's own user topic (`Audience.users`), never to a channel:
an answer asked for over the WebSocket (`assistant.ask`) is the asker's alone. Answers asked
for with `@assistant` in a conversation are ordinary messages there (`message.new`, then
`message.updated` while the answer streams in).
"""

from __future__ import annotations

from typing import Literal, TypedDict

from apps.assistant.selectors import Passage


class CitationPayload(TypedDict):
    index: int
    message_id: int
    channel_id: int
    channel_name: str
    sender_name: str
    url: str
    file_id: str  # a passage of a file carried by the message: its id and name ("" otherwise)
    file_name: str


class AnswerPayload(TypedDict):
    capability: str  # question | summary | draft | translate
    mode: str  # generative | extractive
    outcome: str  # answered | extractive | needs_model
    text: str
    ai_generated: bool
    citations: list[CitationPayload]
    prompt_tokens: int
    completion_tokens: int


class AnswerEvent(TypedDict):
    """`assistant.answer`: the answer to an `assistant.ask` (`request_id` from its ack)."""

    type: Literal["assistant.answer"]
    request_id: str
    answer: AnswerPayload | None
    error: dict[str, object] | None  # {"code": ..., "message": ...} when it failed


EVENT_SCHEMAS: dict[str, type] = {"assistant.answer": AnswerEvent}


def citations(passages: list[Passage]) -> list[CitationPayload]:
    return [
        {
            "index": index,
            "message_id": passage.message_id,
            "channel_id": passage.channel_id,
            "channel_name": passage.channel_name,
            "sender_name": passage.sender_name,
            "url": passage.url,
            "file_id": passage.file_id,
            "file_name": passage.file_name,
        }
        for index, passage in enumerate(passages, start=1)
    ]
