"""`{% load ops_overview %}{% if request.user|may_view_ops_overview %}`: whether to offer the
link to the IT admin's overview (the owner and administrators)."""

from __future__ import annotations

from typing import Any

from django import template

from apps.ops.permissions import may_view_ops_overview as _may_view

register = template.Library()


@register.filter
def may_view_ops_overview(user: Any) -> bool:
    return _may_view(user)
