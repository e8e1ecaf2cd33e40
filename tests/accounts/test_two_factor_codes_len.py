"""Recovery codes must fit django-otp's StaticToken column (PostgreSQL enforces the length)."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_static.models import StaticToken

from apps.accounts.two_factor import recovery_codes_issue


@pytest.mark.django_db
def test_recovery_codes_fit_the_static_token_column(user: object) -> None:
    codes = recovery_codes_issue(user=user)  # type: ignore[arg-type]

    limit = StaticToken._meta.get_field("token").max_length
    assert len(set(codes)) == len(codes)
    assert all(len(code) <= limit for code in codes)
