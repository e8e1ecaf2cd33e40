"""Celery tasks of the assistant: an interface that loads by id and calls one service."""

from __future__ import annotations

from celery import shared_task

from apps.assistant import file_index, services


@shared_task(name="apps.assistant.tasks.answer_message")
def answer_message(message_id: int) -> int | None:
    return services.assistant_reply_to_message(message_id=message_id)


@shared_task(name="apps.assistant.tasks.answer_question")
def answer_question(user_id: int, question: str, channel_id: int | None, request_id: str) -> None:
    services.assistant_answer_and_push(
        user_id=user_id, question=question, channel_id=channel_id, request_id=request_id
    )


@shared_task(name="apps.assistant.tasks.index_file_text", acks_late=True)
def index_file_text(attachment_id: str) -> str | None:
    row = file_index.file_text_index(attachment_id=attachment_id)
    return row.state if row is not None else None
