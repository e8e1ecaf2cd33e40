"""Retention policies (how long messages are kept) and legal holds (what must be kept)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class RetentionPolicy(models.Model):
    """How long messages (and their files) are kept: for the organisation (no channel, at most
    one row) or for one channel, which overrides the organisation's.

    `days` empty = keep forever. No row = the organisation's default, keep forever; no channel
    row = the organisation's policy.
    """

    channel = models.OneToOneField(
        "chat.Channel",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("channel"),
        help_text=_("Empty: the policy of the whole organisation."),
    )
    days = models.PositiveIntegerField(
        _("delete messages older than (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: keep messages forever."),
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policies")
        constraints = [
            models.UniqueConstraint(
                fields=["channel"],
                condition=Q(channel__isnull=True),
                name="governance_retention_one_org_policy",
            ),
            models.CheckConstraint(
                condition=Q(days__isnull=True) | Q(days__gte=1),
                name="governance_retention_days_positive",
            ),
        ]

    def __str__(self) -> str:
        scope = str(self.channel) if self.channel_id else str(_("Organisation"))
        if self.days is None:
            return f"{scope}: {_('keep forever')}"
        return f"{scope}: {self.days}"


class LegalHold(models.Model):
    """Messages that must be kept, whatever retention or their senders say: every message of
    the held channels, and every message the held users sent anywhere, while not released.

    Managed only by holders of `governance.manage_legal_hold` (compliance officers) and the
    owner; organisation administrators do not get it with their role (apps/accounts/roles.py).
    """

    name = models.CharField(_("name"), max_length=200)
    reason = models.TextField(_("reason"), max_length=2000)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("held users")
    )
    channels = models.ManyToManyField(
        "chat.Channel", blank=True, related_name="+", verbose_name=_("held channels")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("released by"),
    )

    class Meta:
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        ordering = ["-created_at", "-id"]
        # Only the permission below: the model's add/change/delete/view would be given to every
        # administrator with the role (apps/accounts/roles.py).
        default_permissions = ()
        permissions = [("manage_legal_hold", _("Can place and release legal holds"))]
        indexes = [models.Index(fields=["released_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class DataExportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Being prepared")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


# The states in which an export is still being built: at most one such export per user.
DATA_EXPORT_IN_PROGRESS = (DataExportStatus.PENDING, DataExportStatus.RUNNING)


class DataExport(models.Model):
    """A copy of one user's own data they asked for (PIPL/GDPR access right): a ZIP in the
    "enclave_files" storage, downloadable by them alone until `expires_at`
    (ENCLAVE_DATA_EXPORT_TTL_HOURS after it was built), then deleted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("user"),
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=DataExportStatus.choices,
        default=DataExportStatus.PENDING,
    )
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    # Name in the "enclave_files" storage; empty until it is built and after it expired.
    storage_name = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(_("size"), default=0)
    error = models.CharField(_("error"), max_length=500, blank=True)
    # See ComplianceExport: the builder's heartbeat, and how often it was started.
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("personal data export")
        verbose_name_plural = _("personal data exports")
        ordering = ["-created_at", "-id"]
        constraints = [
            # One export in progress per user, even when two requests race.
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status__in=["pending", "running"]),
                name="governance_one_data_export_in_progress",
            ),
        ]
        indexes = [models.Index(fields=["user", "created_at"], name="governance_export_user")]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.created_at:%Y-%m-%d %H:%M}Z"


# The compliance export's model lives with its feature; importing it here makes it ours.
from apps.governance.compliance_export.models import (  # noqa: E402
    ComplianceExport,
    ComplianceExportStatus,
)

__all__ = [
    "ComplianceExport",
    "ComplianceExportStatus",
    "DataExport",
    "DataExportStatus",
    "LegalHold",
    "RetentionPolicy",
]
