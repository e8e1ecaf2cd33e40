"""Users, their sessions and API tokens.

The user model is final in shape from the first migration; the Identity work (LDAP, 2FA, audit)
adds tables around it rather than changing it.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

TIME_ZONE_CHOICES = sorted((tz, tz) for tz in zoneinfo.available_timezones())


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Administrator")
    MEMBER = "member", _("Member")
    GUEST = "guest", _("Guest")


class Theme(models.TextChoices):
    """The web client's colours: the system's (prefers-color-scheme), or always light or dark.

    Behind the `dark_mode` flag (THEME_FLAG): without it everyone sees the light theme
    (`effective_theme`), whatever they chose, and may not change their choice.
    """

    SYSTEM = "system", _("Same as the system")
    LIGHT = "light", _("Light")
    DARK = "dark", _("Dark")


THEME_FLAG = "dark_mode"


class User(AbstractUser):
    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    avatar = models.ImageField(_("avatar"), upload_to="avatars/", blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    language = models.CharField(
        _("language"), max_length=16, choices=settings.LANGUAGES, blank=True
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.MEMBER)
    theme = models.CharField(_("theme"), max_length=8, choices=Theme.choices, default=Theme.SYSTEM)
    is_bot = models.BooleanField(_("bot"), default=False)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        indexes = [
            models.Index(fields=["role"]),
            models.Index(fields=["email"]),
            models.Index(Lower("username"), name="accounts_user_username_lower"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """What people see: the display name, else the full name, else the username."""
        return self.display_name or self.get_full_name() or self.username

    @property
    def is_org_admin(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)

    @property
    def is_guest(self) -> bool:
        return self.role == Role.GUEST


class UserSession(models.Model):
    """One signed-in browser session, so that it can be listed and ended (deactivation)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="web_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")

    def __str__(self) -> str:
        return f"{self.user_id}:{self.session_key[:6]}…"


class APIToken(models.Model):
    """A bearer token for non-browser clients. Only the SHA-256 digest is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, help_text=_("First characters, to recognise it."))
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class DirectoryProfile(models.Model):
    """What the company directory (LDAP/AD) says about a user; its presence marks the source.

    Only users with a profile are touched by the directory sync: local accounts never are.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="directory_profile")
    dn = models.CharField(_("distinguished name"), max_length=500)
    # The directory's stable id of the person (ENCLAVE_LDAP_ID_ATTR: entryUUID on OpenLDAP,
    # objectGUID on Active Directory), which survives a rename; users are matched by it, so
    # a new uid/sAMAccountName renames the account instead of replacing it. Empty until the
    # first sync or sign-in that reads it (then matched by username once).
    directory_id = models.CharField(
        _("directory id"), max_length=100, null=True, blank=True, unique=True
    )
    phone = models.CharField(_("phone"), max_length=64, blank=True)
    department = models.CharField(_("department"), max_length=150, blank=True)
    title = models.CharField(_("job title"), max_length=150, blank=True)
    # True when the sync (not an administrator) deactivated the user, so that only such
    # deactivations are undone when the user reappears enabled in the directory.
    deactivated_by_sync = models.BooleanField(default=False)
    synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    # SHA-256 of the directory's photo last applied as the avatar: an unchanged photo is not
    # decoded and stored again on every sync.
    photo_digest = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("directory profile")
        verbose_name_plural = _("directory profiles")
        indexes = [models.Index(fields=["department"])]

    def __str__(self) -> str:
        return self.dn


class DirectorySyncRun(models.Model):
    """One run of the directory sync, for the admin's "last sync result"."""

    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    ok = models.BooleanField(_("succeeded"), default=False)
    error = models.TextField(_("error"), blank=True)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    deactivated = models.PositiveIntegerField(_("deactivated"), default=0)
    reactivated = models.PositiveIntegerField(_("reactivated"), default=0)
    # Refused by the safety limit (ENCLAVE_LDAP_SYNC_MAX_DEACTIVATE_PERCENT): nothing changed;
    # `error` says how many it would have deactivated.
    refused = models.BooleanField(_("refused"), default=False)
    changes = models.JSONField(_("changes"), default=list, blank=True)

    class Meta:
        verbose_name = _("directory sync run")
        verbose_name_plural = _("directory sync runs")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        status = "ok" if self.ok else "refused" if self.refused else "failed"
        return f"{self.started_at:%Y-%m-%d %H:%M} {status}"


class AuditLogImmutable(Exception):
    """The audit log is append-only: rows are never changed or deleted through the ORM."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: object) -> int:
        raise AuditLogImmutable("audit events cannot be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogImmutable("audit events cannot be deleted")


class AuditEvent(models.Model):
    """One security-relevant event. Written only by `apps.accounts.audit.audit_record`.

    The actor and target are copied as plain values (no foreign keys), so the record outlives
    what it describes and reads the same afterwards.
    """

    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True, db_index=True)
    actor_label = models.CharField(_("actor"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    target_type = models.CharField(_("target type"), max_length=64, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    target_label = models.CharField(_("target"), max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    metadata = models.JSONField(_("details"), default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        from apps.accounts.audit import audit_action_label  # audit imports this module

        label = audit_action_label(self.action)
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {label} {self.target_label}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise AuditLogImmutable("audit events cannot be changed")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AuditLogImmutable("audit events cannot be deleted")


class MinimumRole(models.TextChoices):
    """The lowest organisation role allowed to do something (guests never create or invite)."""

    MEMBER = "member", _("Members, administrators and the owner")
    ADMIN = "admin", _("Administrators and the owner")
    OWNER = "owner", _("Only the owner")


class TwoFactorRequirement(models.TextChoices):
    NOBODY = "nobody", _("Nobody (optional for everyone)")
    ADMINS = "admins", _("Administrators and the owner")
    EVERYONE = "everyone", _("Everyone")


class OrganizationSettings(models.Model):
    """Organisation-wide rules: one row (pk=1), read with `organization_settings()`."""

    public_channel_creators = models.CharField(
        _("who may create public channels"),
        max_length=16,
        choices=MinimumRole.choices,
        default=MinimumRole.MEMBER,
    )
    private_channel_creators = models.CharField(
        _("who may create private channels"),
        max_length=16,
        choices=MinimumRole.choices,
        default=MinimumRole.MEMBER,
    )
    channel_inviters = models.CharField(
        _("who may add people to channels"),
        max_length=16,
        choices=MinimumRole.choices,
        default=MinimumRole.MEMBER,
    )
    mention_all_senders = models.CharField(
        _("who may mention @all"),
        max_length=16,
        choices=MinimumRole.choices,
        default=MinimumRole.MEMBER,
    )
    bot_creators = models.CharField(
        _("who may create bots"),
        max_length=16,
        choices=MinimumRole.choices,
        default=MinimumRole.ADMIN,
    )
    two_factor_required_for = models.CharField(
        _("two-factor authentication required for"),
        max_length=16,
        choices=TwoFactorRequirement.choices,
        default="nobody",
    )
    open_signup_enabled = models.BooleanField(
        _("open sign-up"),
        default=False,
        help_text=_("Anyone with an address in an allowed domain may create a member account."),
    )
    signup_allowed_domains = models.TextField(
        _("e-mail domains allowed to sign up"),
        blank=True,
        help_text=_("One per line (example.com). Exact match: subdomains must be listed too."),
    )
    # Off until an administrator turns it on: an upgraded installation must not start showing
    # senders who has read what (a privacy decision, and the project's rule that new features
    # wait for an administrator); the demo company turns it on.
    read_receipts_enabled = models.BooleanField(
        _("read receipts"),
        default=False,
        help_text=_("Senders see who has read their messages in direct messages and small groups."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("organisation settings")
        verbose_name_plural = _("organisation settings")

    def __str__(self) -> str:
        return str(_("Organisation settings"))


class Invitation(models.Model):
    """An e-mailed, expiring, single-use invitation to create an account."""

    email = models.EmailField(_("e-mail"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("sent"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    # Ids of the channels the inviter chose (checked when inviting by the registered
    # `InvitationChannels`); the account joins those still there when it is created.
    channel_ids = models.JSONField(_("channels"), default=list, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["email"])]

    def __str__(self) -> str:
        return self.email


class UserStatus(models.Model):
    """A user's custom status (emoji and a short text) and do-not-disturb, one row per user.

    Expired statuses and pauses stay in the row: whether they still hold is computed when read
    (`apps.accounts.availability`), so nothing has to run at the moment they end.
    """

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="custom_status"
    )
    emoji = models.CharField(_("emoji"), max_length=32, blank=True)
    text = models.CharField(_("status text"), max_length=80, blank=True)
    # When the status clears itself; null: it stays until the user clears it.
    expires_at = models.DateTimeField(_("clears at"), null=True, blank=True)
    # Do not disturb, switched on by hand: notifications are paused until then (null: off).
    dnd_until = models.DateTimeField(_("notifications paused until"), null=True, blank=True)
    # The weekly schedule, in the user's time zone: on each weekday listed (0 = Monday) from
    # `dnd_start` to `dnd_end`, the next day's `dnd_end` when it is not after `dnd_start`.
    dnd_schedule_enabled = models.BooleanField(_("scheduled pause"), default=False)
    dnd_days = models.JSONField(_("days"), default=list, blank=True)
    dnd_start = models.TimeField(_("pause from"), null=True, blank=True)
    dnd_end = models.TimeField(_("pause until"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("user status")
        verbose_name_plural = _("user statuses")

    def __str__(self) -> str:
        return f"{self.emoji} {self.text}".strip()


class NotificationSettings(models.Model):
    """How a user wants to be notified, across their devices (stored here, not per browser)."""

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="notification_settings"
    )
    desktop = models.BooleanField(_("desktop notifications"), default=True)
    sound = models.BooleanField(_("notification sound"), default=True)
    email_unread = models.BooleanField(
        _("e-mail for unread direct messages and mentions"), default=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("notification settings")
        verbose_name_plural = _("notification settings")

    def __str__(self) -> str:
        return f"{self.user_id}"
