"""The IT admin's console for the assistant: the model endpoint and quotas, and the audit."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin import ReadOnlyAdmin
from apps.assistant.models import AssistantCall, AssistantSettings, FileText

RETRIEVAL_NOTE = _(
    "Retrieval: full-text only (the search index, Chinese and English). Hybrid retrieval "
    "needs an embedding model for Chinese and English that loads offline from a package; "
    "none that this server can run is installed, so no embeddings are used."
)


class AssistantSettingsForm(forms.ModelForm):
    endpoint_url = forms.URLField(
        label=_("endpoint URL"),
        required=False,
        assume_scheme="http",
        help_text=AssistantSettings._meta.get_field("endpoint_url").help_text,
    )
    # Write-only: the stored key is never sent back to the browser.
    api_key = forms.CharField(
        label=_("API key"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the stored key."),
    )
    clear_api_key = forms.BooleanField(label=_("Remove the stored key"), required=False)

    class Meta:
        model = AssistantSettings
        fields = (
            "endpoint_url",
            "model",
            "api_key",
            "timeout_seconds",
            "max_answer_tokens",
            "user_calls_per_day",
            "user_tokens_per_day",
            "org_tokens_per_day",
        )

    def clean_api_key(self) -> str:
        entered = self.cleaned_data.get("api_key") or ""
        return entered or (self.instance.api_key if self.instance.pk else "")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("clear_api_key"):
            cleaned["api_key"] = ""
        if cleaned.get("endpoint_url") and not cleaned.get("model"):
            self.add_error("model", _("Name the model the endpoint should use."))
        return cleaned


@admin.register(AssistantSettings)
class AssistantSettingsAdmin(admin.ModelAdmin):
    form = AssistantSettingsForm
    list_display = ("__str__", "mode", "model", "key_stored", "updated_at")
    readonly_fields = ("mode", "key_stored", "retrieval")
    fieldsets = (
        (
            _("Model endpoint (OpenAI-compatible)"),
            {"fields": ("mode", "endpoint_url", "model", "api_key", "key_stored", "clear_api_key")},
        ),
        (_("Limits"), {"fields": ("timeout_seconds", "max_answer_tokens")}),
        (
            _("Quotas per day"),
            {"fields": ("user_calls_per_day", "user_tokens_per_day", "org_tokens_per_day")},
        ),
        (_("Retrieval"), {"fields": ("retrieval",)}),
    )

    @admin.display(description=_("mode"))
    def mode(self, obj: AssistantSettings) -> str:
        if obj.generative:
            return str(_("Generative: answers are written by the model, with citations."))
        return str(_("Extractive: no model configured; answers quote cited messages only."))

    @admin.display(description=_("key stored"), boolean=True)
    def key_stored(self, obj: AssistantSettings) -> bool:
        return bool(obj.api_key)

    @admin.display(description=_("retrieval"))
    def retrieval(self, obj: AssistantSettings) -> str:
        return str(RETRIEVAL_NOTE)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not AssistantSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AssistantCall)
class AssistantCallAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "user",
        "capability",
        "mode",
        "outcome",
        "prompt_tokens",
        "completion_tokens",
        "duration_ms",
        "channel",
    )
    list_filter = ("outcome", "capability", "mode")
    search_fields = ("user__username",)
    date_hierarchy = "created_at"
    list_select_related = ("user", "channel")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in AssistantCall._meta.fields]


@admin.register(FileText)
class FileTextAdmin(ReadOnlyAdmin):
    """Which clean files the assistant has read (read-only: the task writes these rows)."""

    list_display = ("attachment", "state", "char_count", "truncated", "error", "indexed_at")
    list_filter = ("state", "truncated")
    list_select_related = ("attachment",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in FileText._meta.fields]
