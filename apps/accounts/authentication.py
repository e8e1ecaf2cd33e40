"""DRF authentication by `Authorization: Bearer <token>`."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.accounts.tokens import user_for_token
from apps.core.errors import Forbidden


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header."))
        user = user_for_token(header[1].decode(errors="replace"))
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid or expired token."))
        return (user, None)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class TwoFactorSessionAuthentication(authentication.SessionAuthentication):
    """Session log-in, refused (403 `two_factor_required`) while the organisation requires a
    second factor of the user and this session has not been verified with one.

    Tokens need no such check: the token endpoint asks enrolled users for a code.
    """

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        from apps.accounts.two_factor import two_factor_missing

        user = result[0]
        verified = bool(getattr(user, "is_verified", lambda: False)())
        if two_factor_missing(user=user, verified=verified):
            raise Forbidden(
                _("Your organisation requires two-factor authentication: set it up first."),
                code="two_factor_required",
            )
        return result
