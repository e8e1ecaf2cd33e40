"""The theme a page is drawn in (`templates/base.html`): `{% ui_theme as theme %}`."""

from __future__ import annotations

from typing import Any

from django import template

from apps.accounts.services import effective_theme

register = template.Library()


@register.simple_tag(takes_context=True)
def ui_theme(context: dict[str, Any]) -> str:
    request = context.get("request")
    return effective_theme(getattr(request, "user", None))
