"""One log-in page for everything: the admin's own form would skip 2FA and the lock-out page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse


def _admin_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    if request.user.is_authenticated:
        # Signed in without admin rights: our log-in page would send them straight back.
        raise PermissionDenied
    return redirect_to_login(
        request.GET.get("next") or reverse("admin:index"), login_url=reverse("accounts:login")
    )


def route_admin_login_through_enclave() -> None:
    admin.site.login = _admin_login  # type: ignore[method-assign]
