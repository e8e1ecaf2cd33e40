"""Records of operations jobs (backups, restore drills) and the feature flags of gray release."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from waffle.models import AbstractUserFlag

from apps.accounts.models import Role


class JobStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class JobTrigger(models.TextChoices):
    SCHEDULE = "schedule", _("Schedule")
    MANUAL = "manual", _("Manual")


class BackupRun(models.Model):
    """One backup attempt and its outcome. A failed run names its reason; only a succeeded one
    left a complete backup (and, when configured, its second copy)."""

    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_seconds = models.FloatField(_("duration (seconds)"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.RUNNING
    )
    trigger = models.CharField(
        _("trigger"), max_length=16, choices=JobTrigger.choices, default=JobTrigger.MANUAL
    )
    name = models.CharField(_("backup"), max_length=100, blank=True)
    path = models.CharField(_("location"), max_length=500, blank=True)
    engine = models.CharField(_("database engine"), max_length=32, blank=True)
    size_bytes = models.BigIntegerField(_("size (bytes)"), default=0)
    database_bytes = models.BigIntegerField(_("database dump (bytes)"), default=0)
    files_bytes = models.BigIntegerField(_("files (bytes)"), default=0)
    table_count = models.PositiveIntegerField(_("tables"), default=0)
    row_count = models.BigIntegerField(_("rows"), default=0)
    file_count = models.PositiveIntegerField(_("files"), default=0)
    copied_to = models.CharField(_("second copy"), max_length=500, blank=True)
    deleted_by_retention = models.JSONField(_("deleted by retention"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("backup run")
        verbose_name_plural = _("backup runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.status} {self.name}"


class RestoreDrill(models.Model):
    """One restore drill: the latest backup restored into a scratch database and directory and
    compared with its manifest (tables, rows, checksums, files, migrations)."""

    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_seconds = models.FloatField(_("duration (seconds)"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.RUNNING
    )
    trigger = models.CharField(
        _("trigger"), max_length=16, choices=JobTrigger.choices, default=JobTrigger.MANUAL
    )
    backup_name = models.CharField(_("backup"), max_length=100, blank=True)
    backup_created_at = models.DateTimeField(_("backup taken"), null=True, blank=True)
    restored_bytes = models.BigIntegerField(_("restored (bytes)"), default=0)
    tables_checked = models.PositiveIntegerField(_("tables checked"), default=0)
    rows_checked = models.BigIntegerField(_("rows checked"), default=0)
    files_checked = models.PositiveIntegerField(_("files checked"), default=0)
    problems = models.JSONField(_("problems"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("restore drill")
        verbose_name_plural = _("restore drills")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.status} {self.backup_name}"


# --- Feature flags (gray release): WAFFLE_FLAG_MODEL = "ops.FeatureFlag" --------------------

ROLLOUT_BUCKETS = 1000  # a user's bucket is 0..999: percentages in steps of 0.1


def rollout_bucket(flag_name: str, user_id: int) -> int:
    """The user's fixed place (0..999) in a flag's percentage rollout.

    A hash of the flag's name and the user's id, the same in every process, browser, device
    and API client: raising the percentage only adds users, and each flag picks other users.
    """
    digest = hashlib.sha256(f"{flag_name}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % ROLLOUT_BUCKETS


def _roles_are_known(value: Any) -> None:
    known = {choice for choice, _label in Role.choices}
    if not isinstance(value, list) or not set(value) <= known:
        raise ValidationError(_("Choose roles among owner, admin, member and guest."))


class FeatureFlag(AbstractUserFlag):
    """A feature flag, read per user (django-waffle's model with Enclave's rules).

    A flag is on for a user when `everyone` says so (yes/no overrides all the rest), else when
    the user is listed, has one of `roles`, is in one of `groups`, or falls within `percent`
    by a fixed per-user bucket (`rollout_bucket`). Anonymous and deactivated users get no flag.
    Waffle's cookie-based percentage, its `testing` mode (a URL parameter turns a flag on for
    a browser), `languages`, `rollout`, `staff`, `superusers` and `authenticated` are not used:
    a per-browser answer is not a per-user one, and roles say who the staff are.
    """

    roles = models.JSONField(
        _("roles"),
        default=list,
        blank=True,
        validators=[_roles_are_known],
        help_text=_("Activate this flag for everyone with one of these organisation roles."),
    )
    percent = models.DecimalField(
        _("percent"),
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("99.9"))],
        help_text=_(
            "Activate this flag for this percentage of users (0.0 to 99.9), the same users on "
            "every device; raising it keeps them and adds more. For 100 %, set Everyone to Yes."
        ),
    )

    class Meta(AbstractUserFlag.Meta):
        verbose_name = _("feature flag")
        verbose_name_plural = _("feature flags")
        ordering = ["name"]

    @classmethod
    def get_from_db(cls, name: str) -> FeatureFlag:
        flag = super().get_from_db(name)
        cls._attach_members([flag])
        return flag

    @classmethod
    def get_all_from_db(cls) -> list[FeatureFlag]:
        flags = super().get_all_from_db()
        cls._attach_members(flags)
        return flags

    @classmethod
    def _attach_members(cls, flags: list[FeatureFlag]) -> None:
        """Put each flag's user and group ids on the instance, so that the cached flags answer
        without another cache or database round trip (waffle caches each list on its own).
        Waffle's m2m signal and `flush()` drop the cached flags when either list changes."""
        by_id = {flag.pk: flag for flag in flags}
        for flag in flags:
            flag.__dict__["_member_user_ids"] = set()
            flag.__dict__["_member_group_ids"] = set()
        if not by_id:
            return
        users = cls.users.through.objects.filter(featureflag_id__in=by_id)
        for flag_id, user_id in users.values_list("featureflag_id", "user_id"):
            by_id[flag_id].__dict__["_member_user_ids"].add(user_id)
        groups = cls.groups.through.objects.filter(featureflag_id__in=by_id)
        for flag_id, group_id in groups.values_list("featureflag_id", "group_id"):
            by_id[flag_id].__dict__["_member_group_ids"].add(group_id)

    def _get_user_ids(self) -> set[Any]:
        cached = self.__dict__.get("_member_user_ids")
        return cached if cached is not None else super()._get_user_ids()

    def _get_group_ids(self) -> set[Any]:
        cached = self.__dict__.get("_member_group_ids")
        return cached if cached is not None else super()._get_group_ids()

    def is_active_for_user(
        self, user: Any, user_group_ids: Callable[[], set[int]] | None = None
    ) -> bool:
        """Whether the flag is on for `user`. `user_group_ids` returns the user's group ids
        (asked only when the flag targets groups; one query by default)."""
        if self.pk is None:  # no such flag: off
            return False
        if self.everyone is not None:
            return bool(self.everyone)
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        if getattr(user, "role", None) in self.roles:
            return True
        if user.pk in self._get_user_ids():
            return True
        flag_groups = self._get_group_ids()
        if flag_groups:
            groups = user_group_ids() if user_group_ids else set_of_group_ids(user)
            if flag_groups & groups:
                return True
        if self.percent:
            return rollout_bucket(self.name, user.pk) < self.percent * (ROLLOUT_BUCKETS // 100)
        return False

    def is_active(self, request: HttpRequest, read_only: bool = False) -> bool:
        """Waffle's entry point (`flag_is_active`, its template tags and decorators): the same
        per-user answer, with no cookie, URL parameter or header taken into account."""
        return self.is_active_for_user(getattr(request, "user", None))


def set_of_group_ids(user: Any) -> set[int]:
    """The ids of the Django groups `user` belongs to (one query)."""
    return set(user.groups.values_list("pk", flat=True))
