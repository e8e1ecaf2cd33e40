"""Writes of the help desk: the knowledge base, tickets and the bot's turn in them.

A ticket moves between `open` (someone has to act: the asker just asked, or it waits for an
agent), `pending` (an answer was given; waiting for the asker), `solved` and `closed`. The bot
answers each question from the knowledge base (apps.helpdesk.answer.compose_answer) and hands
the ticket over to the agents' queue when the asker asks for a person ("人工", "agent", the
button) or its confidence is below the desk's threshold; once handed over, the bot stays
quiet. A ticket solved without ever being handed over was *deflected* (analytics).

Every change to a ticket locks its row first (`access_ticket(lock=True)`), so two agents
claiming the same ticket are served one after the other. Events go out after commit.
"""

from __future__ import annotations

import logging
import re
from collections import Counter

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.assistant import llm
from apps.assistant import services as assistant_services
from apps.assistant.models import Capability
from apps.core.errors import Conflict, Forbidden, InvalidInput
from apps.core.events import Audience, publish_on_commit
from apps.files import document_text as extract
from apps.helpdesk import events, textindex
from apps.helpdesk.answer import (
    RankedPassage,
    cited_passages,
    compose_answer,
    generation_prompt,
)
from apps.helpdesk.models import (
    CannedReply,
    DocumentKind,
    EntryKind,
    HelpDesk,
    IndexState,
    KnowledgeDocument,
    Passage,
    PassageTerm,
    Ticket,
    TicketEntry,
    TicketState,
)
from apps.helpdesk.permissions import (
    access_canned_reply,
    access_desk_agent,
    access_desk_ask,
    access_ticket,
    access_ticket_agent,
    access_ticket_asker,
    is_agent,
)
from apps.helpdesk.selectors import kb_rank

logger = logging.getLogger(__name__)

MAX_BODY_CHARS = 5000
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
# Asking for a person: any of these words in a question hands the ticket over.
HANDOVER_WORDS = ("人工", "真人", "转接", "客服人员")
_HANDOVER_ENGLISH = re.compile(r"\b(agent|human|person|operator)\b", re.IGNORECASE)
HANDOVER_REQUESTED = "requested"
HANDOVER_LOW_CONFIDENCE = "low_confidence"


def wants_person(text: str) -> bool:
    """Whether the asker is asking for a human agent."""
    return any(word in text for word in HANDOVER_WORDS) or bool(_HANDOVER_ENGLISH.search(text))


def _clean_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise InvalidInput(_("Write something first."), code="empty_body")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(
            _("A message is at most %(max)d characters.") % {"max": MAX_BODY_CHARS},
            code="body_too_long",
        )
    return body


# --- knowledge base ------------------------------------------------------------------------------


def _index_document(document: KnowledgeDocument) -> int:
    """Replace the document's passages and terms with those of its current text."""
    Passage.objects.filter(document_id=document.pk).delete()
    if document.kind == DocumentKind.FAQ:
        texts = [f"{document.question}\n\n{document.body}".strip()]
    else:
        texts = textindex.split_passages(document.body)
    term_rows: list[PassageTerm] = []
    for position, text in enumerate(texts):
        counts = Counter(textindex.terms(text))
        passage = Passage.objects.create(
            document=document,
            helpdesk_id=document.helpdesk_id,
            position=position,
            text=text,
            term_count=sum(counts.values()),
        )
        term_rows.extend(
            PassageTerm(passage=passage, helpdesk_id=document.helpdesk_id, term=term, count=n)
            for term, n in counts.items()
        )
    PassageTerm.objects.bulk_create(term_rows, batch_size=1000)
    return len(texts)


@transaction.atomic
def faq_save(
    *,
    helpdesk: HelpDesk,
    question: str,
    answer: str,
    actor: User | None,
    document: KnowledgeDocument | None = None,
) -> KnowledgeDocument:
    """Create (or, given `document`, change) an FAQ entry and index it at once."""
    question, answer = question.strip(), answer.strip()
    if not question or not answer:
        raise InvalidInput(_("An FAQ entry needs a question and an answer."), code="empty_faq")
    if document is None:
        document = KnowledgeDocument(helpdesk=helpdesk, kind=DocumentKind.FAQ, created_by=actor)
    document.title = question[:200]
    document.question = question
    document.body = answer
    document.state = IndexState.READY
    document.error = ""
    document.save()
    _index_document(document)
    return document


def document_upload(
    *, helpdesk: HelpDesk, name: str, data: bytes, actor: User | None, title: str = ""
) -> KnowledgeDocument:
    """Store an uploaded PDF, DOCX or Markdown file; its text is read and indexed by a Celery
    task (`index_document`) once the upload commits."""
    from apps.helpdesk import tasks  # the task (an interface) calls document_index back

    kind = extract.kind_for_name(name)
    if kind is None:
        raise InvalidInput(
            _("Upload a PDF, DOCX or Markdown file."), code="unsupported_document_type"
        )
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(_("The document is too large."), code="document_too_large")
    with transaction.atomic():
        document = KnowledgeDocument(
            helpdesk=helpdesk, kind=kind, title=(title or name)[:200], created_by=actor
        )
        document.file.save(name, ContentFile(data), save=False)
        document.save()
        transaction.on_commit(lambda: tasks.index_document.delay(document.pk))
    return document


def document_index(*, document_id: int) -> KnowledgeDocument | None:
    """Read an uploaded document's text and (re)build its passages. A file that cannot be read
    is marked `failed` with the reason; the rest of the knowledge base is untouched."""
    with transaction.atomic():
        document = KnowledgeDocument.objects.select_for_update().filter(pk=document_id).first()
        if document is None or document.kind == DocumentKind.FAQ:
            return document
        try:
            with document.file.open("rb") as handle:
                data = handle.read()
            document.body = extract.document_text(kind=document.kind, data=data)
        except (extract.UnreadableDocument, OSError) as error:
            logger.warning("helpdesk document %s unreadable: %s", document.pk, error)
            document.state = IndexState.FAILED
            document.error = str(error)[:200]
            document.save(update_fields=["state", "error", "updated_at"])
            Passage.objects.filter(document_id=document.pk).delete()
            return document
        document.state = IndexState.READY
        document.error = ""
        document.save(update_fields=["body", "state", "error", "updated_at"])
        _index_document(document)
        return document


# --- tickets -------------------------------------------------------------------------------------


def _audience(ticket: Ticket, *, agents_only: bool = False) -> Audience:
    agent_ids = set(
        HelpDesk.agents.through.objects.filter(helpdesk_id=ticket.helpdesk_id).values_list(
            "user_id", flat=True
        )
    )
    return Audience.users(agent_ids if agents_only else agent_ids | {ticket.asker_id})


def _publish_ticket(ticket: Ticket) -> None:
    publish_on_commit(events.ticket_event(ticket), to=_audience(ticket))


def _add_entry(
    ticket: Ticket,
    *,
    kind: str,
    body: str,
    author: User | None,
    citations: list | None = None,
    confidence: float | None = None,
    ai_generated: bool = False,
) -> TicketEntry:
    entry = TicketEntry.objects.create(
        ticket=ticket,
        kind=kind,
        author=author,
        body=body,
        citations=citations or [],
        confidence=confidence,
        ai_generated=ai_generated,
        created_at=timezone.now(),
    )
    publish_on_commit(
        events.entry_event(entry), to=_audience(ticket, agents_only=kind == EntryKind.NOTE)
    )
    return entry


def _save(ticket: Ticket, *fields: str) -> None:
    ticket.updated_at = timezone.now()
    ticket.save(update_fields=[*fields, "updated_at"])
    _publish_ticket(ticket)


def _hand_over(ticket: Ticket, *, reason: str) -> None:
    ticket.needs_agent = True
    ticket.handover_reason = reason
    ticket.handed_over_at = ticket.handed_over_at or timezone.now()
    ticket.state = TicketState.OPEN
    message = (
        _("A person from the help desk will answer you here.")
        if reason == HANDOVER_REQUESTED
        else _(
            "I am not sure I have the answer, so a person from the help desk will answer you here."
        )
    )
    _add_entry(ticket, kind=EntryKind.SYSTEM, body=message, author=None)


def _bot_turn(ticket: Ticket, question: TicketEntry) -> None:
    """The bot's reply to a new question in `ticket` (caller holds the ticket row lock).

    With a language model configured, the answer is written by a task after the commit
    (`ticket_bot_answer`): the model is never asked while the ticket's row is locked.
    """
    if ticket.needs_agent:
        ticket.state = TicketState.OPEN  # the agents' turn
        return
    if wants_person(question.body):
        _hand_over(ticket, reason=HANDOVER_REQUESTED)
        return
    desk = ticket.helpdesk
    answer = compose_answer(question.body, kb_rank(helpdesk_id=desk.pk, question=question.body))
    if answer is None or answer.confidence < desk.confidence_threshold:
        _hand_over(ticket, reason=HANDOVER_LOW_CONFIDENCE)
        return
    if assistant_services.assistant_settings().generative:
        from apps.helpdesk import tasks  # the task (an interface) calls ticket_bot_answer back

        ticket_id, entry_id = ticket.pk, question.pk
        transaction.on_commit(lambda: tasks.bot_answer.delay(ticket_id, entry_id))
        ticket.state = TicketState.OPEN  # the bot's turn, until its answer is written
        return
    _add_entry(
        ticket,
        kind=EntryKind.BOT,
        body=answer.text,
        author=None,
        citations=list(answer.citations),
        confidence=answer.confidence,
    )
    ticket.state = TicketState.PENDING


def _generated_text(asker: User, question: str, passages: list[RankedPassage]) -> str | None:
    """The model's answer grounded in `passages`, or None (no model, quota spent, failure:
    all recorded by the assistant's audit; the extractive answer stands in)."""
    sources: list[dict[str, object]] = [
        {"kb_passage": passage.passage_id, "document": passage.document_id} for passage in passages
    ]
    try:
        completion = assistant_services.assistant_complete_grounded(
            user=asker,
            capability=Capability.HELPDESK,
            messages=generation_prompt(question, passages),
            sources=sources,
        )
    except (assistant_services.QuotaExhausted, llm.LLMError) as error:
        logger.info("helpdesk: extractive answer instead of the model's: %s", error.code)
        return None
    if completion is None or not completion.text.strip():
        return None
    return completion.text.strip()


def ticket_bot_answer(*, ticket_id: int, question_entry_id: int) -> TicketEntry | None:
    """The bot's answer to a question, through the language model (the task's body).

    Ranks the knowledge base again, asks the model with the cited passages, and writes the
    answer (the extractive one when the model cannot give one). Nothing is written when the
    ticket went to a person or was closed meanwhile, or a newer question is waiting (that
    question has its own task).
    """
    question = (
        TicketEntry.objects.select_related("ticket__helpdesk", "ticket__asker")
        .filter(pk=question_entry_id, ticket_id=ticket_id, kind=EntryKind.QUESTION)
        .first()
    )
    if question is None:
        return None
    ticket = question.ticket
    newer = TicketEntry.objects.filter(
        ticket_id=ticket_id, kind=EntryKind.QUESTION, pk__gt=question.pk
    ).exists()
    if ticket.needs_agent or ticket.state == TicketState.CLOSED or newer:
        return None
    desk = ticket.helpdesk
    ranked = kb_rank(helpdesk_id=desk.pk, question=question.body)
    answer = compose_answer(question.body, ranked)
    generated = None
    if answer is not None and answer.confidence >= desk.confidence_threshold:
        generated = _generated_text(ticket.asker, question.body, cited_passages(ranked))
    with transaction.atomic():
        # The bot writes here, not the asker: the row is locked as every write does, without
        # the asker's access check (a deactivated asker's ticket still gets its answer).
        ticket = Ticket.objects.select_for_update().select_related("helpdesk").get(pk=ticket_id)
        if ticket.needs_agent or ticket.state == TicketState.CLOSED:
            return None
        if answer is None or answer.confidence < desk.confidence_threshold:
            # The knowledge base changed since the question came in.
            _hand_over(ticket, reason=HANDOVER_LOW_CONFIDENCE)
            _save(ticket, "state", "needs_agent", "handover_reason", "handed_over_at")
            return None
        entry = _add_entry(
            ticket,
            kind=EntryKind.BOT,
            body=generated or answer.text,
            author=None,
            citations=list(answer.citations),
            confidence=answer.confidence,
            ai_generated=generated is not None,
        )
        ticket.state = TicketState.PENDING
        _save(ticket, "state")
        return entry


@transaction.atomic
def ticket_open(*, asker: User, helpdesk_id: int, body: str) -> Ticket:
    """Ask a question at a desk: a new ticket, which the bot answers (or hands over) at once."""
    desk = access_desk_ask(user=asker, helpdesk_id=helpdesk_id)
    body = _clean_body(body)
    now = timezone.now()
    ticket = Ticket.objects.create(
        helpdesk=desk,
        asker=asker,
        subject=" ".join(body.split())[:200],
        created_at=now,
        updated_at=now,
    )
    question = _add_entry(ticket, kind=EntryKind.QUESTION, body=body, author=asker)
    _bot_turn(ticket, question)
    _save(ticket, "state", "needs_agent", "handover_reason", "handed_over_at")
    return ticket


@transaction.atomic
def ticket_post(*, user: User, ticket_id: int, body: str) -> TicketEntry:
    """A line in the conversation: the asker's next question (answered by the bot unless the
    ticket is with a person) or an agent's reply (the ticket then waits for the asker).

    An asker's question reopens a solved ticket; a closed ticket takes nothing more.
    """
    ticket, as_agent = access_ticket(user=user, ticket_id=ticket_id, lock=True)
    body = _clean_body(body)
    if ticket.state == TicketState.CLOSED:
        raise Conflict(_("This ticket is closed."), code="ticket_closed")
    if ticket.asker_id == user.pk:
        entry = _add_entry(ticket, kind=EntryKind.QUESTION, body=body, author=user)
        ticket.solved_at = None
        _bot_turn(ticket, entry)
        _save(ticket, "state", "needs_agent", "handover_reason", "handed_over_at", "solved_at")
        return entry
    if not as_agent:  # pragma: no cover - access_ticket lets only the asker and agents through
        raise Forbidden()
    entry = _add_entry(ticket, kind=EntryKind.AGENT, body=body, author=user)
    now = timezone.now()
    ticket.first_agent_reply_at = ticket.first_agent_reply_at or now
    ticket.assignee_id = ticket.assignee_id or user.pk
    ticket.needs_agent = True
    ticket.state = TicketState.PENDING if ticket.state == TicketState.OPEN else ticket.state
    _save(ticket, "first_agent_reply_at", "assignee", "needs_agent", "state")
    return entry


@transaction.atomic
def ticket_note(*, agent: User, ticket_id: int, body: str) -> TicketEntry:
    """An internal note: the desk's agents see it, the asker never does."""
    ticket = access_ticket_agent(user=agent, ticket_id=ticket_id, lock=True)
    entry = _add_entry(ticket, kind=EntryKind.NOTE, body=_clean_body(body), author=agent)
    _save(ticket)
    return entry


@transaction.atomic
def ticket_handover(*, asker: User, ticket_id: int) -> Ticket:
    """The asker's "talk to a person" button."""
    ticket = access_ticket_asker(user=asker, ticket_id=ticket_id, lock=True)
    if ticket.state == TicketState.CLOSED:
        raise Conflict(_("This ticket is closed."), code="ticket_closed")
    if not ticket.needs_agent:
        _hand_over(ticket, reason=HANDOVER_REQUESTED)
        ticket.solved_at = None
        _save(ticket, "state", "needs_agent", "handover_reason", "handed_over_at", "solved_at")
    return ticket


@transaction.atomic
def ticket_claim(*, agent: User, ticket_id: int) -> Ticket:
    """Take an unassigned ticket (409 `already_claimed` when another agent was first)."""
    ticket = access_ticket_agent(user=agent, ticket_id=ticket_id, lock=True)
    if ticket.assignee_id not in (None, agent.pk):
        raise Conflict(_("Another agent has taken this ticket."), code="already_claimed")
    ticket.assignee_id = agent.pk
    ticket.needs_agent = True
    ticket.handed_over_at = ticket.handed_over_at or timezone.now()
    _save(ticket, "assignee", "needs_agent", "handed_over_at")
    return ticket


@transaction.atomic
def ticket_assign(*, agent: User, ticket_id: int, assignee_id: int | None) -> Ticket:
    """Give the ticket to one of the desk's agents (or back to the queue with None)."""
    ticket = access_ticket_agent(user=agent, ticket_id=ticket_id, lock=True)
    if assignee_id is not None and not is_agent(
        user=User(pk=assignee_id), helpdesk_id=ticket.helpdesk_id
    ):
        raise InvalidInput(_("Tickets go to the desk's agents only."), code="assignee_not_agent")
    ticket.assignee_id = assignee_id
    ticket.needs_agent = True
    ticket.handed_over_at = ticket.handed_over_at or timezone.now()
    _save(ticket, "assignee", "needs_agent", "handed_over_at")
    return ticket


ASKER_STATES = (TicketState.SOLVED, TicketState.CLOSED)


@transaction.atomic
def ticket_set_state(*, user: User, ticket_id: int, state: str) -> Ticket:
    """Agents set any state; the asker may only mark their ticket solved or closed."""
    ticket, as_agent = access_ticket(user=user, ticket_id=ticket_id, lock=True)
    if state not in TicketState.values:
        raise InvalidInput(_("Unknown ticket state."), code="invalid_state")
    if not as_agent and state not in ASKER_STATES:
        raise Forbidden(_("Only agents may reopen a ticket."), code="not_agent")
    now = timezone.now()
    ticket.state = state
    if state in ASKER_STATES:
        ticket.solved_at = ticket.solved_at or now
    else:
        ticket.solved_at = None
    ticket.closed_at = now if state == TicketState.CLOSED else None
    _save(ticket, "state", "solved_at", "closed_at")
    return ticket


@transaction.atomic
def ticket_rate(*, asker: User, ticket_id: int, rating: int, comment: str = "") -> Ticket:
    """The asker's satisfaction (1-5) with a solved or closed ticket; a new rating replaces
    the old one."""
    ticket = access_ticket_asker(user=asker, ticket_id=ticket_id, lock=True)
    if ticket.state not in ASKER_STATES:
        raise Conflict(_("Rate a ticket once it is solved."), code="ticket_not_solved")
    if not 1 <= rating <= 5:
        raise InvalidInput(_("A rating is from 1 to 5."), code="invalid_rating")
    ticket.rating = rating
    ticket.rating_comment = comment.strip()[:500]
    _save(ticket, "rating", "rating_comment")
    return ticket


# --- canned replies ------------------------------------------------------------------------------


def canned_reply_create(*, agent: User, helpdesk_id: int, title: str, body: str) -> CannedReply:
    desk = access_desk_agent(user=agent, helpdesk_id=helpdesk_id)
    title, body = title.strip(), body.strip()
    if not title or not body:
        raise InvalidInput(_("A canned reply needs a title and a text."), code="empty_canned_reply")
    return CannedReply.objects.create(
        helpdesk=desk, title=title[:100], body=body[:MAX_BODY_CHARS], created_by=agent
    )


def canned_reply_delete(*, agent: User, canned_reply_id: int) -> None:
    access_canned_reply(user=agent, canned_reply_id=canned_reply_id).delete()
