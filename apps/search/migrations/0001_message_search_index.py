"""The search index of messages on PostgreSQL (apps/search/selectors.py): the function that turns a
body into a tsvector (CJK as unigrams and bigrams), the generated column that stores it, and a
GIN index on that, built without locking out writes. Other databases search by substring and
need none of it.

Adding the stored column rewrites the table (every row's vector is computed once): minutes
of an exclusive lock on a large installation, so upgrade in a maintenance window. A later
change to `enclave_search_vector` comes with a migration that replaces the function and
recomputes the column (`UPDATE chat_message SET body = body`): a stored value is not
recomputed by a change of the function.
"""

from typing import Any

from django.db import migrations

from apps.search.selectors import (
    SEARCH_COLUMN_SQL,
    SEARCH_FUNCTION_SQL,
    SEARCH_INDEX,
    SEARCH_INDEX_SQL,
)


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(SEARCH_FUNCTION_SQL)
    schema_editor.execute(SEARCH_COLUMN_SQL)
    schema_editor.execute(SEARCH_INDEX_SQL)


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {SEARCH_INDEX}")
    schema_editor.execute("ALTER TABLE chat_message DROP COLUMN IF EXISTS search_vector")
    schema_editor.execute("DROP FUNCTION IF EXISTS enclave_search_vector(text)")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    initial = True

    dependencies = [("chat", "0004_message_fk_indexes_covered")]

    operations = [migrations.RunPython(create, drop)]
