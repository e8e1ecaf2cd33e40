"""Account forms."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError


class LoginForm(AuthenticationForm):
    """The log-in form; it also tells when the company directory could not be asked."""

    directory_unavailable = False

    def clean(self) -> dict[str, Any]:
        from apps.accounts.ldap_backend import request_found_directory_unavailable

        try:
            return super().clean()
        except ValidationError:
            self.directory_unavailable = request_found_directory_unavailable(self.request)
            raise
