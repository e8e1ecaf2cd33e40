"""Account pages."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from apps.accounts import invitations, services, two_factor
from apps.accounts.audit import AuditAction, audit_record
from apps.accounts.forms import LoginForm
from apps.accounts.models import Role, User, UserSession
from apps.core.errors import Forbidden, InvalidInput, NotFound


@require_POST
@login_required
def set_language(request: HttpRequest) -> HttpResponse:
    """Save the interface language on the user's profile, then go back."""
    language = request.POST.get("language", "")
    with contextlib.suppress(InvalidInput):  # an unknown language keeps the current one
        services.user_update_profile(user=request.user, language=language)  # type: ignore[arg-type]
    target = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    response = HttpResponseRedirect(target)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language or "", samesite="Lax")
    return response


# --- log-in with a second factor ---------------------------------------------------------------

# Session key of a log-in whose password was right but whose second factor is still to come.
PENDING_LOGIN_KEY = "enclave_2fa_pending"
PENDING_LOGIN_SECONDS = 300
PENDING_LOGIN_MAX_FAILURES = 5


def _safe_next(request: HttpRequest, target: str) -> str:
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


class LoginView(auth_views.LoginView):
    """Password (local or directory) first; users with a second factor then go to verify."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True
    authentication_form = LoginForm

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if not two_factor.two_factor_enabled(user):
            return super().form_valid(form)
        self.request.session[PENDING_LOGIN_KEY] = {
            "user_id": user.pk,
            "backend": user.backend,
            "at": time.time(),
            "next": self.get_success_url(),
            "failures": 0,
        }
        return HttpResponseRedirect(reverse("accounts:login-verify"))


def login_verify(request: HttpRequest) -> HttpResponse:
    """Second step of a log-in: a code from the authenticator app, or a recovery code."""
    pending = request.session.get(PENDING_LOGIN_KEY)
    if not pending or time.time() - pending["at"] > PENDING_LOGIN_SECONDS:
        request.session.pop(PENDING_LOGIN_KEY, None)
        return HttpResponseRedirect(reverse("accounts:login"))
    user = User.objects.filter(pk=pending["user_id"], is_active=True).first()
    if user is None:
        request.session.pop(PENDING_LOGIN_KEY, None)
        return HttpResponseRedirect(reverse("accounts:login"))
    error = False
    if request.method == "POST":
        device = two_factor.two_factor_verify(user=user, token=request.POST.get("code", ""))
        if device is not None:
            del request.session[PENDING_LOGIN_KEY]
            auth_login(request, user, backend=pending["backend"])
            otp_login(request, device)
            return HttpResponseRedirect(_safe_next(request, pending["next"]))
        audit_record(action=AuditAction.TWO_FACTOR_FAILED, target=user)
        pending["failures"] += 1
        if pending["failures"] >= PENDING_LOGIN_MAX_FAILURES:
            # Guessing six digits is cheap; make the guesser type the password again.
            del request.session[PENDING_LOGIN_KEY]
            return HttpResponseRedirect(reverse("accounts:login"))
        request.session[PENDING_LOGIN_KEY] = pending
        error = True
    return render(request, "accounts/login_verify.html", {"error": error})


@login_required
def two_factor_settings(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app; shows the recovery codes once, when set-up succeeds."""
    user: User = request.user  # type: ignore[assignment]
    context: dict[str, Any] = {"required": two_factor.two_factor_required(user)}
    if request.method == "POST":
        if request.POST.get("action") == "start":
            two_factor.totp_enrolment_start(user=user)
            return HttpResponseRedirect(reverse("accounts:two-factor"))
        try:
            codes = two_factor.totp_enrolment_confirm(user=user, token=request.POST.get("code", ""))
        except InvalidInput as error:
            context["error"] = error.message
        else:
            device = two_factor.two_factor_verify_device_for_session(user=user)
            if device is not None:
                otp_login(request, device)
            return render(request, "accounts/two_factor.html", {**context, "codes": codes})
    pending = two_factor.totp_pending_device(user)
    if pending is not None:
        context["qr_data_uri"] = two_factor.totp_provisioning_qr(pending)
        context["secret"] = two_factor.totp_secret_base32(pending)
    context["enabled"] = two_factor.two_factor_enabled(user)
    return render(request, "accounts/two_factor.html", context)


@login_required
def sessions_page(request: HttpRequest) -> HttpResponse:
    """Where one is signed in, with "sign out everywhere else"."""
    user: User = request.user  # type: ignore[assignment]
    ended = None
    if request.method == "POST":
        ended = services.user_sessions_end(user=user, keep_session_key=request.session.session_key)
    current = request.session.session_key
    sessions = [
        {"record": record, "current": record.session_key == current}
        for record in UserSession.objects.filter(user=user).order_by("-created_at")
    ]
    return render(request, "accounts/sessions.html", {"sessions": sessions, "ended": ended})


class PasswordChangeView(auth_views.PasswordChangeView):
    """Change one's local password; directory users get a note, as the directory owns theirs."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:password-change-done")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if user.is_authenticated and hasattr(user, "directory_profile"):
            return render(request, self.template_name, {"directory_user": True})
        return super().dispatch(request, *args, **kwargs)


# Avatars are only ever files the server drew itself with Pillow: uploads as PNG
# (`user_set_avatar`), directory photos as JPEG (`ldap_sync.directory_avatar`).
AVATAR_CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg"}


@login_required
def avatar_file(request: HttpRequest, name: str) -> HttpResponseBase:
    """A profile picture the server drew itself; names are unique per picture, so browsers
    may keep it for good."""
    path = f"avatars/{name}"
    content_type = AVATAR_CONTENT_TYPES.get(name[-4:].lower())
    if "/" in name or content_type is None or not default_storage.exists(path):
        raise Http404
    response = FileResponse(default_storage.open(path), content_type=content_type)
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- invitations ----------------------------------------------------------------------------


def _chosen_password(request: HttpRequest) -> str | None:
    """The new password typed twice on a create-account form, or None if the two differ."""
    password = request.POST.get("password1", "")
    return password if password == request.POST.get("password2", "") else None


def _sign_in_new_account(request: HttpRequest, user: User) -> HttpResponse:
    auth_login(request, user, backend="apps.accounts.backends.LocalBackend")
    return HttpResponseRedirect(resolve_url(settings.LOGIN_REDIRECT_URL))


def invitation_accept_page(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation link opens: choose a username and password, get an account."""
    try:
        invitation = invitations.invitation_for_token(token)
    except NotFound as error:
        return render(
            request, "accounts/invitation_accept.html", {"invalid": error.message}, status=404
        )
    context: dict[str, Any] = {"invitation": invitation, "token": token}
    if request.method == "POST":
        password = _chosen_password(request)
        if password is None:
            context["error"] = _("The two passwords differ.")
        else:
            try:
                user = invitations.invitation_accept(
                    token=token,
                    username=request.POST.get("username", ""),
                    password=password,
                    display_name=request.POST.get("display_name", ""),
                )
            except (InvalidInput, NotFound) as error:
                context["error"] = error.message
            else:
                return _sign_in_new_account(request, user)
        context["username"] = request.POST.get("username", "")
        context["display_name"] = request.POST.get("display_name", "")
    return render(request, "accounts/invitation_accept.html", context)


def _posted_ids(request: HttpRequest, name: str) -> list[int]:
    try:
        return [int(value) for value in request.POST.getlist(name)]
    except ValueError:
        raise InvalidInput(_("Unknown channel."), code="invalid_channels") from None


@login_required
def invitations_page(request: HttpRequest) -> HttpResponse:
    """Administrators invite one address, or many from a CSV file (email[,role])."""
    user: User = request.user  # type: ignore[assignment]
    if not user.is_org_admin:
        raise PermissionDenied
    roles = [Role.MEMBER, Role.GUEST, *([Role.ADMIN] if user.role == Role.OWNER else [])]
    context: dict[str, Any] = {
        "roles": [(role.value, role.label) for role in roles],
        "channels": invitations.invitation_channel_choices(actor=user),
    }
    if request.method == "POST":
        base_url = f"{request.scheme}://{request.get_host()}"
        upload = request.FILES.get("csv_file")
        if upload is not None:
            text = upload.read(1_000_000).decode("utf-8-sig", "replace")
            try:
                context["bulk"] = invitations.invitations_create_from_csv(
                    actor=user, csv_text=text, base_url=base_url
                )
            except InvalidInput as error:
                context["error"] = error.message
        else:
            try:
                invitation = invitations.invitation_create(
                    actor=user,
                    email=request.POST.get("email", ""),
                    role=request.POST.get("role", Role.MEMBER),
                    base_url=base_url,
                    channel_ids=_posted_ids(request, "channel_ids"),
                )
            except (InvalidInput, Forbidden) as error:
                context["error"] = error.message
            else:
                context["sent_to"] = invitation.email
    return render(request, "accounts/invitations.html", context)


# --- open sign-up ----------------------------------------------------------------------------


def signup_page(request: HttpRequest) -> HttpResponse:
    """Create a member account with an address in an allowed domain (when sign-up is open)."""
    from apps.accounts import signup

    if not signup.signup_enabled():
        raise Http404
    context: dict[str, Any] = {}
    if request.method == "POST":
        password = _chosen_password(request)
        if password is None:
            context["error"] = _("The two passwords differ.")
        else:
            try:
                user = signup.user_sign_up(
                    email=request.POST.get("email", ""),
                    username=request.POST.get("username", ""),
                    password=password,
                    display_name=request.POST.get("display_name", ""),
                )
            except (InvalidInput, Forbidden) as error:
                context["error"] = error.message
            else:
                return _sign_in_new_account(request, user)
        for name in ("email", "username", "display_name"):
            context[name] = request.POST.get(name, "")
    return render(request, "accounts/signup.html", context)


# --- password reset, rate-limited ----------------------------------------------------------------


class RateLimitedPasswordResetView(auth_views.PasswordResetView):
    """Password reset by e-mail, limited per client IP and per e-mail address (mail bombing)."""

    def form_valid(self, form: Any) -> HttpResponse:
        from apps.accounts.audit import client_address
        from apps.accounts.rate_limits import password_reset_allowed

        ip_address, _agent = client_address(self.request)
        if not password_reset_allowed(ip_address=ip_address, email=form.cleaned_data["email"]):
            form.add_error(None, _("Too many reset requests. Try again in an hour."))
            return self.form_invalid(form)
        return super().form_valid(form)
