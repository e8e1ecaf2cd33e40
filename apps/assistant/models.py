"""The assistant's settings (one row, edited in the admin) and its audit trail of calls."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AssistantSettings(models.Model):
    """The OpenAI-compatible endpoint and the quotas. One row (pk=1), created on first read.

    Without an endpoint URL the assistant runs in extractive mode: ranked, cited passages
    and no generated text.
    """

    endpoint_url = models.URLField(
        _("endpoint URL"),
        blank=True,
        help_text=_(
            "Base URL of an OpenAI-compatible API inside your network, e.g. "
            "http://llm.internal:8000/v1 (vLLM, Ollama, a gateway). Empty: extractive mode."
        ),
    )
    model = models.CharField(_("model"), max_length=200, blank=True)
    # Write-only in the admin: the form never shows it back.
    api_key = models.CharField(_("API key"), max_length=500, blank=True)
    timeout_seconds = models.PositiveIntegerField(_("time-out (seconds)"), default=60)
    max_answer_tokens = models.PositiveIntegerField(_("longest answer (tokens)"), default=800)
    user_tokens_per_day = models.PositiveIntegerField(
        _("tokens per user per day"), default=50_000, help_text=_("0: no limit.")
    )
    org_tokens_per_day = models.PositiveIntegerField(
        _("tokens per organisation per day"), default=1_000_000, help_text=_("0: no limit.")
    )
    user_calls_per_day = models.PositiveIntegerField(
        _("questions per user per day"), default=200, help_text=_("0: no limit.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("assistant settings")
        verbose_name_plural = _("assistant settings")

    def __str__(self) -> str:
        return str(_("Assistant settings"))

    @property
    def generative(self) -> bool:
        return bool(self.endpoint_url and self.model)


class Capability(models.TextChoices):
    QUESTION = "question", _("Question")
    SUMMARY = "summary", _("Summary")
    DRAFT = "draft", _("Draft a reply")
    TRANSLATE = "translate", _("Translation")
    HELPDESK = "helpdesk", _("Help-desk answer")


class Outcome(models.TextChoices):
    ANSWERED = "answered", _("Answered")
    EXTRACTIVE = "extractive", _("Extractive answer")
    NEEDS_MODEL = "needs_model", _("Needs a model")
    QUOTA = "quota", _("Quota exhausted")
    ERROR = "error", _("Model error")
    REFUSED = "refused", _("Refused")


class AssistantCall(models.Model):
    """One question to the assistant: who asked where, what was retrieved, what it cost."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    channel = models.ForeignKey(
        "chat.Channel",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("conversation"),
    )
    question_message_id = models.BigIntegerField(_("question message"), null=True, blank=True)
    answer_message_id = models.BigIntegerField(_("answer message"), null=True, blank=True)
    capability = models.CharField(_("capability"), max_length=12, choices=Capability.choices)
    retrieved_message_ids = models.JSONField(_("retrieved messages"), default=list)
    # What else was retrieved: [{"file": attachment id, "message": id}] for files,
    # [{"kb_passage": id, "document": id}] for the help desk's knowledge base.
    retrieved_sources = models.JSONField(_("other retrieved sources"), default=list, blank=True)
    mode = models.CharField(_("mode"), max_length=12)  # "generative" or "extractive"
    model = models.CharField(_("model"), max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), default=0)
    completion_tokens = models.PositiveIntegerField(_("completion tokens"), default=0)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome.choices)
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    created_at = models.DateTimeField(_("asked at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("assistant call")
        verbose_name_plural = _("assistant calls")
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} {self.capability} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class FileText(models.Model):
    """How the text of one clean file was read for the assistant (its passages: `FilePassage`).

    Only files whose scan came out clean are read (apps.assistant.file_index); a file that is
    later found infected, or deleted, loses its row and passages.
    """

    class State(models.TextChoices):
        READY = "ready", _("Indexed")
        UNREADABLE = "unreadable", _("Could not be read")
        TOO_LARGE = "too_large", _("Too large to read")

    attachment = models.OneToOneField(
        "files.Attachment", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    state = models.CharField(_("state"), max_length=12, choices=State.choices)
    char_count = models.PositiveIntegerField(_("characters kept"), default=0)
    truncated = models.BooleanField(_("cut at the limit"), default=False)
    error = models.CharField(_("error"), max_length=200, blank=True)
    indexed_at = models.DateTimeField(_("indexed at"), auto_now=True)

    class Meta:
        verbose_name = _("file text")
        verbose_name_plural = _("file texts")

    def __str__(self) -> str:
        return f"{self.attachment_id} {self.state}"


class FilePassage(models.Model):
    """A passage of a clean file's text. On PostgreSQL the table also has `search_vector`, a
    generated column (`enclave_search_vector(text)`, the message search's CJK bigrams and
    English stems) under a GIN index: migrations/0002, outside this model; never write it."""

    attachment = models.ForeignKey("files.Attachment", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["attachment", "position"]

    def __str__(self) -> str:
        return f"{self.attachment_id}:{self.position}"
