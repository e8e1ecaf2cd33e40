"""The audit log: `audit_record()` appends one security-relevant event.

Services call it for what they change (role, deactivation, tokens, channel archive, directory
sync); the log-in signals call it for log-ins and failures. The IP address and user agent come
from the current request, remembered by `AuditContextMiddleware`, unless given.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from typing import Any

from django.db import models
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import AuditEvent


class AuditAction(models.TextChoices):
    LOGIN_SUCCEEDED = "auth.login", _("log-in")
    LOGIN_FAILED = "auth.login_failed", _("log-in failed")
    LOGOUT = "auth.logout", _("log-out")
    USER_CREATED = "user.created", _("user created")
    ROLE_CHANGED = "user.role_changed", _("role changed")
    USER_DEACTIVATED = "user.deactivated", _("user deactivated")
    USER_REACTIVATED = "user.reactivated", _("user reactivated")
    TOKEN_CREATED = "token.created", _("API token created")
    TOKEN_REVOKED = "token.revoked", _("API token revoked")
    CHANNEL_ARCHIVED = "channel.archived", _("channel archived")
    CHANNEL_UNARCHIVED = "channel.unarchived", _("channel unarchived")
    CHANNEL_PRIVACY_CHANGED = "channel.privacy_changed", _("channel privacy changed")
    DIRECTORY_SYNC = "directory.sync", _("directory sync")
    DIRECTORY_SYNC_FAILED = "directory.sync_failed", _("directory sync failed")
    ORG_SETTINGS_CHANGED = "org.settings_changed", _("organisation settings changed")
    LOCKED_OUT = "auth.locked_out", _("locked out after failed log-ins")
    USER_UNLOCKED = "user.unlocked", _("user unlocked")
    TWO_FACTOR_ENABLED = "2fa.enabled", _("two-factor authentication enabled")
    TWO_FACTOR_USED = "2fa.verified", _("second factor verified")
    TWO_FACTOR_FAILED = "2fa.failed", _("second factor refused")
    TWO_FACTOR_RESET = "2fa.reset", _("two-factor authentication reset")
    SESSIONS_ENDED = "user.sessions_ended", _("sessions signed out")
    INVITATION_CREATED = "invitation.created", _("invitation sent")
    INVITATION_ACCEPTED = "invitation.accepted", _("invitation accepted")
    INVITATION_REVOKED = "invitation.revoked", _("invitation revoked")
    AUDIT_EXPORTED = "audit.exported", _("audit log exported")
    SIGNED_UP = "user.signed_up", _("signed up")
    SIGNUP_REFUSED = "user.signup_refused", _("sign-up refused")
    CHANNEL_OWNER_CHANGED = "channel.owner_changed", _("channel owner changed")
    DIRECTORY_SYNC_REQUESTED = "directory.sync_requested", _("directory sync started by hand")
    DIRECTORY_SYNC_REFUSED = "directory.sync_refused", _("directory sync refused")
    USER_RENAMED = "user.renamed", _("user renamed")


# Labels of the codes other apps record (files, feature flags), which this app cannot import:
# each registers its own when its admin module loads (`register_audit_labels`).
_registered_labels: dict[str, Any] = {}


def register_audit_labels(labels: Mapping[str, Any]) -> None:
    """Make the audit log show `labels` (code -> lazily translated label) for these codes."""
    _registered_labels.update(labels)


def audit_action_labels() -> dict[str, Any]:
    """Every known code and its label (lazily translated)."""
    return {**_registered_labels, **{str(code): label for code, label in AuditAction.choices}}


def audit_action_label(action: str) -> str:
    """What people read for a recorded code (`auth.login` -> "log-in"); an unknown code as is."""
    label = audit_action_labels().get(action)
    return str(label) if label is not None else action


_request_context: contextvars.ContextVar[tuple[str | None, str]] = contextvars.ContextVar(
    "enclave_audit_request", default=(None, "")
)


def client_address(request: HttpRequest) -> tuple[str | None, str]:
    """(IP address, user agent) of a request (behind nginx: daphne --proxy-headers)."""
    return request.META.get("REMOTE_ADDR") or None, request.META.get("HTTP_USER_AGENT", "")[:300]


class AuditContextMiddleware:
    """Remember the client's address for the audit events written while handling the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request_context.set(client_address(request))
        try:
            return self.get_response(request)
        finally:
            _request_context.reset(token)


def audit_record(
    *,
    action: str,
    actor: Any = None,
    target: Any = None,
    target_type: str = "",
    target_id: object = "",
    target_label: str = "",
    metadata: dict[str, Any] | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> AuditEvent:
    """Append one event. `target` (a model instance) fills type, id and label when given.

    `actor` is the user who acted (None for the system: the directory sync, a task).
    """
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id or target.pk
        target_label = target_label or str(target)
    context_ip, context_agent = _request_context.get()
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        action=action,
        actor_id=actor.pk if authenticated else None,
        actor_label=actor.get_username() if authenticated else "",
        target_type=target_type,
        target_id=_storable(str(target_id))[:64],
        target_label=_storable(str(target_label))[:200],
        ip_address=ip_address if ip_address is not None else context_ip,
        user_agent=_storable(user_agent if user_agent is not None else context_agent)[:300],
        metadata=_storable_json(metadata or {}),
    )


def _storable(text: str) -> str:
    """Attacker-chosen text (a failed log-in's username) without NUL, which PostgreSQL refuses."""
    return text.replace("\x00", "\ufffd")


def _storable_json(value: Any) -> Any:
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, dict):
        return {_storable(str(k)): _storable_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable_json(v) for v in value]
    return value
