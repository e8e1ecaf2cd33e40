"""Track sessions at log-in and end sockets at log-out; the signals accounts offers higher apps."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import Signal, receiver
from django.http import HttpRequest

from apps.accounts import services
from apps.accounts.audit import AuditAction, audit_record, client_address

# Sent by the directory sync (apps/accounts/ldap_sync.py), inside its transaction, with
# `channel_users`: {lower-case channel name: [users the directory puts in it]} and `result`: the
# DirectorySyncResult, whose `channels_joined` and `warnings` receivers append their lines to.
# Chat adds the members (apps/chat/directory.py); accounts does not know channels.
directory_channel_members_wanted = Signal()

# Sent when a person's account is created by an invitation, open sign-up or the directory sync
# (never for bots), inside the creating transaction, with `user`, `source` ("invitation",
# "signup" or "directory") and `channel_ids`: the channels the inviter chose (else empty).
# apps.workspace joins the default channels and welcomes them; accounts does not know channels.
user_onboarded = Signal()


@receiver(user_logged_in)
def _on_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    ip_address, user_agent = client_address(request) if request is not None else (None, "")
    audit_record(
        action=AuditAction.LOGIN_SUCCEEDED,
        actor=user,
        target=user,
        ip_address=ip_address,
        user_agent=user_agent,
        metadata={"backend": getattr(user, "backend", "")},
    )
    if request is None or not hasattr(request, "session"):
        return
    if request.session.session_key is None:
        request.session.save()
    services.session_record(
        user=user,
        session_key=request.session.session_key or "",
        ip_address=request.META.get("REMOTE_ADDR"),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )


@receiver(user_login_failed)
def _on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django already masks the password in `credentials`; only the username is kept.
    username = str(credentials.get("username", ""))[:150]
    ip_address, user_agent = client_address(request) if request is not None else (None, "")
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        target_type="user",
        target_label=username,
        ip_address=ip_address,
        user_agent=user_agent,
        metadata={"username": username},
    )


@receiver(user_logged_out)
def _on_logout(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is None or request is None or not hasattr(request, "session"):
        return
    audit_record(action=AuditAction.LOGOUT, actor=user, target=user)
    services.session_end(user=user, session_key=request.session.session_key or "")


@receiver(user_locked_out)
def _on_locked_out(
    sender: Any, request: HttpRequest | None = None, username: str = "", **kwargs: Any
) -> None:
    ip_address, user_agent = client_address(request) if request is not None else (None, "")
    audit_record(
        action=AuditAction.LOCKED_OUT,
        target_type="user",
        target_label=str(username or "")[:150],
        ip_address=ip_address,
        user_agent=user_agent,
        metadata={"username": str(username or "")[:150]},
    )
