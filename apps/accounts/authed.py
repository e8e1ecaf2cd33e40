"""The request type of views behind IsAuthenticated (for type checking)."""

from __future__ import annotations

from rest_framework.request import Request

from apps.accounts.models import User


class AuthedRequest(Request):
    """A request that passed IsAuthenticated: `user` is a real user (for type checking)."""

    user: User
