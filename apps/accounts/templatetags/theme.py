"""The theme a page is drawn in (`templates/base.html`): `{% ui_theme as theme %}`."""

from __future__ import annotations

from typing import Any

from django import template
from django.db import DatabaseError

from apps.accounts.models import Theme
from apps.accounts.services import effective_theme

register = template.Library()


@register.simple_tag(takes_context=True)
def ui_theme(context: dict[str, Any]) -> str:
    request = context.get("request")
    try:
        return effective_theme(getattr(request, "user", None))
    except DatabaseError:
        # An error page drawn while the database is away (or before it is migrated) still
        # draws: in the light theme, as before the flag.
        return str(Theme.LIGHT)
