"""The help desk in the admin console: desks and their agents, the knowledge base (FAQ
entries written here, documents uploaded here and indexed by Celery), canned replies and a
read-only view of tickets. Writes go through apps.helpdesk.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.files import document_text as extract
from apps.helpdesk import services
from apps.helpdesk.models import CannedReply, DocumentKind, HelpDesk, KnowledgeDocument, Ticket


@admin.register(HelpDesk)
class HelpDeskAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "allow_guests", "confidence_threshold"]
    filter_horizontal = ["agents"]


class KnowledgeDocumentForm(forms.ModelForm):
    upload = forms.FileField(
        label=_("Document (PDF, DOCX or Markdown)"),
        required=False,
        help_text=_("Leave empty for an FAQ entry; fill in the question and the answer instead."),
    )

    class Meta:
        model = KnowledgeDocument
        fields = ["helpdesk", "title", "question", "body"]
        labels = {"body": _("Answer (FAQ entries)")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["title"].required = False  # an FAQ entry's is its question

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("upload")
        is_faq = self.instance.pk is None or self.instance.kind == DocumentKind.FAQ
        if upload is None and is_faq and not (data.get("question") and data.get("body")):
            raise forms.ValidationError(
                _("Upload a document, or write an FAQ entry's question and answer.")
            )
        if upload is not None and extract.kind_for_name(upload.name) is None:
            raise forms.ValidationError(_("Upload a PDF, DOCX or Markdown file."))
        if upload is not None and upload.size > services.MAX_DOCUMENT_BYTES:
            raise forms.ValidationError(_("The document is too large."))
        return data


@admin.register(KnowledgeDocument)
class KnowledgeDocumentAdmin(admin.ModelAdmin):
    form = KnowledgeDocumentForm
    list_display = ["title", "helpdesk", "kind", "state", "updated_at"]
    list_filter = ["helpdesk", "kind", "state"]
    search_fields = ["title", "question"]
    readonly_fields = ["kind", "state", "error"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actor: User = request.user  # type: ignore[assignment]
        upload = form.cleaned_data.get("upload")
        if upload is not None:
            saved = services.document_upload(
                helpdesk=obj.helpdesk,
                name=upload.name,
                data=upload.read(),
                actor=actor,
                title=obj.title,
            )
        elif obj.kind and obj.kind != DocumentKind.FAQ:
            obj.save(update_fields=["title"])  # an uploaded document: only its title changes
            return
        else:
            saved = services.faq_save(
                helpdesk=obj.helpdesk,
                question=obj.question,
                answer=obj.body,
                actor=actor,
                document=obj if change else None,
            )
        obj.pk = saved.pk
        obj.kind = saved.kind


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ["title", "helpdesk"]
    list_filter = ["helpdesk"]


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "subject",
        "helpdesk",
        "state",
        "needs_agent",
        "assignee",
        "rating",
        "created_at",
    ]
    list_filter = ["helpdesk", "state", "needs_agent"]
    readonly_fields = [f.name for f in Ticket._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
