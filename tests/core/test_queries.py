"""apps/core/queries.py: the health checks' database probe."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.queries import database_ping

pytestmark = pytest.mark.django_db


def test_database_ping_is_one_statement_without_a_table() -> None:
    with CaptureQueriesContext(connection) as captured:
        database_ping()

    assert [query["sql"] for query in captured.captured_queries] == ["SELECT 1"]
