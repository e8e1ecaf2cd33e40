"""The search index of file names (apps/search/selectors.py finds messages by the names of
their clean files): a GIN expression index over `enclave_search_vector` of the name with its
dots, dashes and underscores read as spaces, for the files of messages that are live. The
function comes from search's first migration; other databases search by substring.
"""

from typing import Any

from django.db import migrations

NAME_INDEX = "files_attachment_name_search"
# Frozen: keep equal to `_FILE_NAME_VECTOR` in apps/search/queries.py (by a new migration).
NAME_INDEX_SQL = (
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME_INDEX} ON files_attachment USING gin "
    "(enclave_search_vector(translate(original_name, '._-', '   '))) "
    "WHERE message_id IS NOT NULL AND deleted_at IS NULL"
)


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(NAME_INDEX_SQL)


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME_INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("files", "0001_initial"),
        ("search", "0001_message_search_index"),
    ]

    operations = [migrations.RunPython(create, drop)]
