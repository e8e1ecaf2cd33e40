"""One compliance export: its scope, its state and the ZIP it produced (imported by
`apps/governance/models.py`, so the model is the governance app's)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ComplianceExportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Being built")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


class ComplianceExport(models.Model):
    """The messages of some users and channels over a time range, as a ZIP in the file
    storage until `expires_at` (ENCLAVE_COMPLIANCE_EXPORT_TTL_HOURS after it was built).

    Empty `user_ids` = every sender; empty `channel_ids` = every channel. The range is
    [`start`, `end`): a message sent exactly at `end` belongs to the next export.
    """

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    user_ids = models.JSONField(_("users"), default=list, blank=True)
    channel_ids = models.JSONField(_("channels"), default=list, blank=True)
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("until"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ComplianceExportStatus.choices,
        default=ComplianceExportStatus.PENDING,
    )
    # Name in the "enclave_files" storage; empty until built and again once expired.
    storage_name = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(_("size"), default=0)
    message_count = models.IntegerField(_("messages"), default=0)
    file_count = models.IntegerField(_("files"), default=0)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    # Written by the builder while it runs (apps/governance/stalled.py): a `running` export
    # whose heartbeat stopped is built again, or failed after a few attempts.
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("compliance export")
        verbose_name_plural = _("compliance exports")
        ordering = ["-requested_at", "-id"]
        # Only the permission below: a model's add/change/delete/view would come with the
        # administrator role (apps/accounts/roles.py), and an export reads every message.
        default_permissions = ()
        permissions = [("export_compliance", _("Can export messages for compliance"))]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return str(_("Compliance export #%(id)s") % {"id": self.pk})
