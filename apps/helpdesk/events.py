"""Push schemas of the help desk, and the payload builders the REST views answer too.

`helpdesk.ticket` (a ticket was opened or changed: state, queue, assignee, rating) goes to the
asker and the desk's agents; `helpdesk.entry` (a line of the conversation) goes to the agents
and, unless it is an internal note, to the asker. Both go to user topics only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypedDict

from apps.helpdesk.answer import Citation
from apps.helpdesk.models import Ticket, TicketEntry


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class TicketPayload(TypedDict):
    id: int
    helpdesk_id: int
    asker_id: int
    subject: str
    state: str  # open | pending | solved | closed
    needs_agent: bool
    handover_reason: str  # "" | requested | low_confidence
    assignee_id: int | None
    created_at: str
    updated_at: str
    solved_at: str | None
    rating: int | None
    rating_comment: str


class EntryPayload(TypedDict):
    id: int
    ticket_id: int
    kind: str  # question | bot | agent | note | system
    author_id: int | None
    body: str
    citations: list[Citation]
    confidence: float | None
    ai_generated: bool
    created_at: str


class TicketEvent(TypedDict):
    type: Literal["helpdesk.ticket"]
    ticket: TicketPayload


class EntryEvent(TypedDict):
    type: Literal["helpdesk.entry"]
    entry: EntryPayload


def ticket_payload(ticket: Ticket) -> TicketPayload:
    return TicketPayload(
        id=ticket.pk,
        helpdesk_id=ticket.helpdesk_id,
        asker_id=ticket.asker_id,
        subject=ticket.subject,
        state=ticket.state,
        needs_agent=ticket.needs_agent,
        handover_reason=ticket.handover_reason,
        assignee_id=ticket.assignee_id,
        created_at=ticket.created_at.isoformat(),
        updated_at=ticket.updated_at.isoformat(),
        solved_at=_iso(ticket.solved_at),
        rating=ticket.rating,
        rating_comment=ticket.rating_comment,
    )


def entry_payload(entry: TicketEntry) -> EntryPayload:
    return EntryPayload(
        id=entry.pk,
        ticket_id=entry.ticket_id,
        kind=entry.kind,
        author_id=entry.author_id,
        body=entry.body,
        citations=list(entry.citations),
        confidence=entry.confidence,
        ai_generated=entry.ai_generated,
        created_at=entry.created_at.isoformat(),
    )


def ticket_event(ticket: Ticket) -> TicketEvent:
    return TicketEvent(type="helpdesk.ticket", ticket=ticket_payload(ticket))


def entry_event(entry: TicketEntry) -> EntryEvent:
    return EntryEvent(type="helpdesk.entry", entry=entry_payload(entry))
