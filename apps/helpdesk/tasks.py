"""Celery tasks of the help desk: an interface that loads by id and calls one service."""

from __future__ import annotations

from celery import shared_task

from apps.helpdesk import services


@shared_task(name="apps.helpdesk.tasks.index_document")
def index_document(document_id: int) -> str | None:
    document = services.document_index(document_id=document_id)
    return document.state if document is not None else None


@shared_task(name="apps.helpdesk.tasks.bot_answer")
def bot_answer(ticket_id: int, question_entry_id: int) -> int | None:
    entry = services.ticket_bot_answer(ticket_id=ticket_id, question_entry_id=question_entry_id)
    return entry.pk if entry is not None else None
