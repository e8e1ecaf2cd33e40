"""Help desks, their knowledge base and their tickets.

A help desk is a place to ask, not a chat channel: every asker's conversation (a ticket) is
private between the asker and the desk's agents, which a channel's shared history cannot be.
The knowledge base is FAQ entries and uploaded documents, split into passages whose terms are
kept in `PassageTerm` (apps.helpdesk.textindex) for ranking.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class HelpDesk(models.Model):
    name = models.CharField(_("name"), max_length=80, unique=True)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("open for questions"), default=True)
    allow_guests = models.BooleanField(_("guests may ask"), default=True)
    # Below this confidence the bot does not answer on its own and hands over to an agent.
    confidence_threshold = models.FloatField(_("confidence needed to answer"), default=0.5)
    agents = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("agents")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("help desk")
        verbose_name_plural = _("help desks")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DocumentKind(models.TextChoices):
    FAQ = "faq", _("FAQ entry")
    MARKDOWN = "markdown", _("Markdown")
    PDF = "pdf", _("PDF")
    DOCX = "docx", _("Word (DOCX)")


class IndexState(models.TextChoices):
    PENDING = "pending", _("Being indexed")
    READY = "ready", _("Indexed")
    FAILED = "failed", _("Could not be read")


class KnowledgeDocument(models.Model):
    """One FAQ entry (`question` + `body`) or one uploaded document (`file`, its text in `body`
    once extracted)."""

    helpdesk = models.ForeignKey(
        HelpDesk, on_delete=models.CASCADE, related_name="documents", verbose_name=_("help desk")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=DocumentKind.choices)
    title = models.CharField(_("title"), max_length=200)
    question = models.TextField(_("question"), blank=True)
    body = models.TextField(_("text"), blank=True)
    file = models.FileField(_("file"), upload_to="helpdesk/kb/", blank=True)
    state = models.CharField(
        _("index state"), max_length=10, choices=IndexState.choices, default=IndexState.PENDING
    )
    error = models.CharField(_("error"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("knowledge-base entry")
        verbose_name_plural = _("knowledge base")
        ordering = ["helpdesk", "title"]

    def __str__(self) -> str:
        return self.title


class Passage(models.Model):
    """A piece of a document short enough to quote as an answer."""

    document = models.ForeignKey(KnowledgeDocument, on_delete=models.CASCADE, related_name="+")
    helpdesk = models.ForeignKey(HelpDesk, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    text = models.TextField()
    # How many terms the passage has (BM25's document length).
    term_count = models.PositiveIntegerField()

    class Meta:
        ordering = ["document", "position"]

    def __str__(self) -> str:
        return f"{self.document_id}:{self.position}"


class PassageTerm(models.Model):
    passage = models.ForeignKey(Passage, on_delete=models.CASCADE, related_name="+")
    helpdesk = models.ForeignKey(HelpDesk, on_delete=models.CASCADE, related_name="+")
    term = models.CharField(max_length=64)
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["helpdesk", "term"], name="helpdesk_term_lookup")]

    def __str__(self) -> str:
        return self.term


class TicketState(models.TextChoices):
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending")
    SOLVED = "solved", _("Solved")
    CLOSED = "closed", _("Closed")


class Ticket(models.Model):
    helpdesk = models.ForeignKey(
        HelpDesk, on_delete=models.CASCADE, related_name="tickets", verbose_name=_("help desk")
    )
    asker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("asker"),
    )
    subject = models.CharField(_("subject"), max_length=200)
    state = models.CharField(
        _("state"), max_length=8, choices=TicketState.choices, default=TicketState.OPEN
    )
    # In the agents' queue: the asker asked for a person, or the bot was not confident enough.
    needs_agent = models.BooleanField(_("needs an agent"), default=False)
    handover_reason = models.CharField(_("handover reason"), max_length=20, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assignee"),
    )
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))
    handed_over_at = models.DateTimeField(_("handed over at"), null=True, blank=True)
    first_agent_reply_at = models.DateTimeField(_("first agent reply at"), null=True, blank=True)
    solved_at = models.DateTimeField(_("solved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    rating = models.PositiveSmallIntegerField(_("satisfaction"), null=True, blank=True)
    rating_comment = models.CharField(_("rating comment"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        indexes = [
            models.Index(fields=["asker", "-updated_at"], name="helpdesk_ticket_asker"),
            models.Index(fields=["helpdesk", "state"], name="helpdesk_ticket_queue"),
            models.Index(fields=["created_at"], name="helpdesk_ticket_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="helpdesk_ticket_rating_range",
            )
        ]

    def __str__(self) -> str:
        return self.subject


class EntryKind(models.TextChoices):
    QUESTION = "question", _("Question")
    BOT = "bot", _("Bot answer")
    AGENT = "agent", _("Agent reply")
    NOTE = "note", _("Internal note")
    SYSTEM = "system", _("System")


class TicketEntry(models.Model):
    """One line of a ticket's conversation. `note` entries are for agents only."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=10, choices=EntryKind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField()
    # Bot answers: [{document_id, title, position, text, score}], best first.
    citations = models.JSONField(default=list, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    # A bot answer written by the configured language model (shown with the AI label), not
    # quoted from the knowledge base.
    ai_generated = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class CannedReply(models.Model):
    helpdesk = models.ForeignKey(
        HelpDesk,
        on_delete=models.CASCADE,
        related_name="canned_replies",
        verbose_name=_("help desk"),
    )
    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(_("text"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title
