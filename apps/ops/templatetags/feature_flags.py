"""The signed-in user's feature flags, for the page the web client runs in
(`static/js/features.js` reads them from a JSON script tag: no inline script runs)."""

from __future__ import annotations

from typing import Any

from django import template

from apps.ops.flags.selectors import feature_flags_for

register = template.Library()


@register.simple_tag(takes_context=True)
def active_feature_flags(context: dict[str, Any]) -> dict[str, bool]:
    """`{% active_feature_flags as flags %}{{ flags|json_script:"feature-flags" }}`"""
    request = context.get("request")
    return feature_flags_for(user=getattr(request, "user", None))
