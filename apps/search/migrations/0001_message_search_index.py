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

# A frozen copy of the SQL as apps/search/selectors.py had it when this migration was written:
# a migration never imports live code, which may change after it has run (search.md).
# Kana, CJK ideographs (with extension A and the compatibility block) and Hangul syllables.
CJK_CHARACTERS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"

# The document side, in SQL (keep apps.search.selectors.query_text in step). CJK runs
# are cut out of the text the parser sees and appended as unigrams and bigrams, by regular
# expressions: `runs` holds only the CJK runs, a space between them; pairs from the first
# character of each run, then pairs from the second, give every bigram. A message without
# CJK pays one test.
# PL/pgSQL: a SQL function with a sub-select is not inlined, and its executor cost 2x more.
SEARCH_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION enclave_search_vector(body text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    runs text;
BEGIN
    IF body !~ '[{CJK_CHARACTERS}]' THEN
        RETURN to_tsvector('english'::regconfig, body);
    END IF;
    runs := regexp_replace(body, '[^{CJK_CHARACTERS}]+', ' ', 'g');
    RETURN to_tsvector('english'::regconfig, concat_ws(' ',
        regexp_replace(body, '[{CJK_CHARACTERS}]+', ' ', 'g'),
        regexp_replace(runs, '([{CJK_CHARACTERS}])', '\\1 ', 'g'),
        regexp_replace(runs, '([{CJK_CHARACTERS}]{{2}})', '\\1 ', 'g'),
        regexp_replace(
            regexp_replace(runs, '(^| )[{CJK_CHARACTERS}]', '\\1', 'g'),
            '([{CJK_CHARACTERS}]{{2}})', '\\1 ', 'g')));
END
$fn$
"""
# Stored, not an expression index: a search for a common word walks the newest messages and
# tests each one's stored vector (about a microsecond) instead of computing it (20 µs).
SEARCH_COLUMN_SQL = (
    "ALTER TABLE chat_message ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (enclave_search_vector(body)) STORED"
)
SEARCH_INDEX = "chat_message_search"
# A 256 kB pending list: new entries are appended there and merged into the tree in small
# batches. With the default 4 MB the merge, every ~20,000 messages, stalled the send batch
# that triggered it (seed case 1: p99 ack 3.7 s); with no pending list every message pays its
# own tree inserts (1.1 s); with 256 kB, 386 ms, as without a search index (388 ms).
SEARCH_INDEX_SQL = (
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {SEARCH_INDEX} ON chat_message "
    "USING gin (search_vector) WITH (fastupdate = on, gin_pending_list_limit = 256) "
    "WHERE deleted_at IS NULL"
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
