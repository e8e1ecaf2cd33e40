"""apps/accounts/queries.py equals the ORM query that means the same (SQLite, and PostgreSQL
with DATABASE_URL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts import queries
from apps.accounts.models import APIToken, User
from apps.accounts.services import api_token_create, api_token_revoke
from apps.accounts.tokens import token_digest
from apps.core.runtime.sqlrows import instances

pytestmark = pytest.mark.django_db


def test_unrevoked_token_rows_equal_the_orm(make_user: Any) -> None:
    ann, bob = make_user(), make_user(is_active=False)
    _live, live_raw = api_token_create(user=ann, name="live")
    _old, old_raw = api_token_create(user=ann, name="old", expires_at=timezone.now() - timedelta(1))
    gone, gone_raw = api_token_create(user=ann, name="gone")
    api_token_revoke(user=ann, token_id=gone.pk)
    _bobs, bobs_raw = api_token_create(user=bob, name="inactive user's")

    for raw in (live_raw, old_raw, gone_raw, bobs_raw, "enc_unknown"):
        rows = queries.unrevoked_token_rows(digest=token_digest(raw))

        got = [
            (token.pk, user.pk, token.expires_at, user.is_active)
            for token, user in instances(rows, (APIToken, User))
            if isinstance(token, APIToken) and isinstance(user, User)
        ]
        expected = [
            (token.pk, token.user.pk, token.expires_at, token.user.is_active)
            for token in APIToken.objects.select_related("user").filter(
                digest=token_digest(raw), revoked_at=None
            )
        ]
        assert got == expected
    assert queries.unrevoked_token_rows(digest=token_digest(live_raw))  # the set holds one


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_commit_without_waiting_for_disk_holds_for_its_transaction_only() -> None:
    def synchronous_commit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return str(cursor.fetchone()[0])

    before = synchronous_commit()
    with transaction.atomic():
        queries.commit_without_waiting_for_disk()
        assert synchronous_commit() == "off"
    assert synchronous_commit() == before != "off"
