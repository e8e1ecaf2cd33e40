"""Reads of the help desk: the knowledge-base ranking, desks, tickets, queues, canned replies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.db.models import Avg, Count, Q

from apps.accounts.models import User
from apps.helpdesk import events, textindex
from apps.helpdesk.answer import RankedPassage
from apps.helpdesk.models import (
    CannedReply,
    DocumentKind,
    EntryKind,
    HelpDesk,
    Passage,
    PassageTerm,
    Ticket,
    TicketEntry,
    TicketState,
)
from apps.helpdesk.permissions import (
    access_desk_agent,
    access_ticket,
    require_helpdesk_user,
)

DEFAULT_PASSAGES = 5
MAX_TICKETS = 200
QueueView = Literal["unassigned", "mine", "open", "all"]


def kb_rank(
    *, helpdesk_id: int, question: str, limit: int = DEFAULT_PASSAGES
) -> list[RankedPassage]:
    """The passages of the desk's knowledge base that best answer `question`, best first.

    Reads only the term rows of the question's terms (one indexed query), then the few passages
    ranked; its cost grows with how common the question's terms are, not with the KB's size.
    """
    query_terms = textindex.terms(question, query=True)
    if not query_terms:
        return []
    postings: dict[str, dict[int, int]] = {}
    rows = PassageTerm.objects.filter(helpdesk_id=helpdesk_id, term__in=set(query_terms))
    for term, passage_id, count in rows.values_list("term", "passage_id", "count"):
        postings.setdefault(term, {})[passage_id] = count
    if not postings:
        return []
    passage_ids = {passage_id for found in postings.values() for passage_id in found}
    lengths = dict(Passage.objects.filter(pk__in=passage_ids).values_list("pk", "term_count"))
    totals = Passage.objects.filter(helpdesk_id=helpdesk_id).aggregate(
        total=Count("pk"), average=Avg("term_count")
    )
    ranked = textindex.rank(
        query_terms=query_terms,
        postings=postings,
        lengths=lengths,
        passage_total=totals["total"],
        average_length=float(totals["average"] or 1.0),
        limit=limit,
    )
    passages = Passage.objects.select_related("document").in_bulk([r.passage_id for r in ranked])
    result = []
    for scored in ranked:
        passage = passages[scored.passage_id]
        document = passage.document
        result.append(
            RankedPassage(
                passage_id=passage.pk,
                document_id=document.pk,
                title=document.title,
                position=passage.position,
                text=passage.text,
                answer_text=document.body if document.kind == DocumentKind.FAQ else passage.text,
                score=scored.score,
                confidence=scored.confidence,
            )
        )
    return result


@dataclass(frozen=True)
class DeskRow:
    id: int
    name: str
    description: str
    is_agent: bool


def desks_for(*, user: User) -> list[DeskRow]:
    """The desks `user` may ask at, and those they are an agent of."""
    require_helpdesk_user(user)
    agent_of = set(
        HelpDesk.agents.through.objects.filter(user_id=user.pk).values_list(
            "helpdesk_id", flat=True
        )
    )
    desks = HelpDesk.objects.filter(Q(is_active=True) | Q(pk__in=agent_of))
    if user.is_guest:
        desks = desks.filter(Q(allow_guests=True) | Q(pk__in=agent_of))
    return [
        DeskRow(id=d.pk, name=d.name, description=d.description, is_agent=d.pk in agent_of)
        for d in desks
    ]


def tickets_mine(*, user: User) -> list[events.TicketPayload]:
    """The tickets `user` asked, most recently changed first."""
    require_helpdesk_user(user)
    tickets = Ticket.objects.filter(asker_id=user.pk).order_by("-updated_at", "-pk")
    return [events.ticket_payload(t) for t in tickets[:MAX_TICKETS]]


def ticket_queue(
    *, user: User, helpdesk_id: int, view: QueueView = "open"
) -> list[events.TicketPayload]:
    """An agent's queue: `unassigned` (waiting for a person, nobody claimed), `mine`, `open`
    (every ticket not solved or closed), `all`. Oldest first, except `all` (newest first)."""
    access_desk_agent(user=user, helpdesk_id=helpdesk_id)
    tickets = Ticket.objects.filter(helpdesk_id=helpdesk_id)
    live = Q(state__in=[TicketState.OPEN, TicketState.PENDING])
    if view == "unassigned":
        tickets = tickets.filter(live, needs_agent=True, assignee__isnull=True)
    elif view == "mine":
        tickets = tickets.filter(live, assignee_id=user.pk)
    elif view == "open":
        tickets = tickets.filter(live)
    ordering = ["-updated_at", "-pk"] if view == "all" else ["created_at", "pk"]
    return [events.ticket_payload(t) for t in tickets.order_by(*ordering)[:MAX_TICKETS]]


@dataclass(frozen=True)
class TicketDetail:
    ticket: events.TicketPayload
    entries: list[events.EntryPayload]
    as_agent: bool


def ticket_detail(*, user: User, ticket_id: int) -> TicketDetail:
    """The ticket and its conversation; internal notes only when `user` is an agent."""
    ticket, as_agent = access_ticket(user=user, ticket_id=ticket_id)
    entries = TicketEntry.objects.filter(ticket_id=ticket.pk)
    if not as_agent:
        entries = entries.exclude(kind=EntryKind.NOTE)
    return TicketDetail(
        ticket=events.ticket_payload(ticket),
        entries=[events.entry_payload(e) for e in entries.order_by("pk")],
        as_agent=as_agent,
    )


def canned_replies(*, user: User, helpdesk_id: int) -> list[CannedReply]:
    access_desk_agent(user=user, helpdesk_id=helpdesk_id)
    return list(CannedReply.objects.filter(helpdesk_id=helpdesk_id).order_by("title", "pk"))


def desk_agents(*, user: User, helpdesk_id: int) -> list[User]:
    """The desk's agents (for the assign menu)."""
    desk = access_desk_agent(user=user, helpdesk_id=helpdesk_id)
    return list(desk.agents.filter(is_active=True).order_by("username"))
