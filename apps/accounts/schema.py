"""OpenAPI description of the bearer-token authentication."""

from __future__ import annotations

from typing import Any

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "API token from POST /api/v1/auth/token/ (`enc_...`).",
        }


class TwoFactorSessionScheme(SessionScheme):
    """The session cookie, as drf-spectacular describes it (the 2FA check changes nothing)."""

    target_class = "apps.accounts.authentication.TwoFactorSessionAuthentication"
