"""Settings of calls that the web client needs, for the chat page's data-* attributes."""

from __future__ import annotations

from django import template

from apps.calls import janus

register = template.Library()


@register.simple_tag
def meetings_available() -> str:
    """ "true" when this server has a media server for meetings (static/js/meeting.js offers
    them only then; without one the server refuses them with `meetings_unavailable`)."""
    return "true" if janus.configured() else "false"
