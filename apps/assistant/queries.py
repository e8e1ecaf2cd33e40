"""Every hand-written SQL statement of the assistant, each in a named, documented function.

One statement: the search of file passages on PostgreSQL, written to start from the GIN index of
the passages' stored search vector (migrations/0002, matched like the message search's). The
embedded SQLite mode matches passages through the ORM instead (`selectors`). Why SQL: left to
the ORM's join, the planner walked every passage of the asker's channels and tested each stored
vector (20,000 passages, 10,000 in scope: 75-100 ms for any word); from the index, a rare word
takes 0.2 ms and one in 13 % of the passages 16 ms. `tests/assistant/test_files.py` holds it
equal to `file_passages_matching_orm`, its ORM meaning. See apps/chat/queries.py for the
conventions.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from apps.assistant.models import FilePassage
from apps.chat.models import Membership, Message
from apps.files.models import Attachment

# The passages' stored vector, matched like the message search's.
_PASSAGE_MATCH = (
    "assistant_filepassage.search_vector @@ plainto_tsquery('english'::regconfig, %s)"
    " AND numnode(plainto_tsquery('english'::regconfig, %s)) > 0"
)
# The matching passages first (materialized, from the index), then the permission rule of
# `selectors._readable_file_passages`.
_PASSAGE_SEARCH_SQL = """
    WITH hits AS MATERIALIZED (
        SELECT p.id, p.attachment_id FROM {passages} p
        WHERE p.search_vector @@ plainto_tsquery('english'::regconfig, %s)
            AND numnode(plainto_tsquery('english'::regconfig, %s)) > 0
    )
    SELECT h.id FROM hits h
    JOIN {attachments} a ON a.id = h.attachment_id
    JOIN {messages} m ON m.id = a.message_id
    WHERE a.status = 'clean' AND a.deleted_at IS NULL AND m.deleted_at IS NULL
        AND m.channel_id IN (SELECT channel_id FROM {memberships} WHERE user_id = %s)
    ORDER BY h.id DESC LIMIT %s
"""


def file_passages_matching(*, user_id: int, text: str, limit: int) -> list[int]:
    """PostgreSQL only. The ids of the newest `limit` passages that match the search text `text`
    (already in the search's query form) and that the user may read: the file clean and not
    deleted, carried by an undeleted message of a channel the user belongs to. Newest first."""
    sql = _PASSAGE_SEARCH_SQL.format(
        passages=FilePassage._meta.db_table,
        attachments=Attachment._meta.db_table,
        messages=Message._meta.db_table,
        memberships=Membership._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [text, text, user_id, limit])
        return [passage_id for (passage_id,) in cursor.fetchall()]


def file_passages_matching_orm(
    readable: QuerySet[FilePassage], *, text: str, limit: int
) -> list[int]:
    """`file_passages_matching` through the ORM, over the readable passages' queryset: what
    the statement must equal (the tests compare them)."""
    passages = readable.extra(  # noqa: S610 (parameters bound)
        where=[_PASSAGE_MATCH], params=[text, text]
    )
    return list(passages.order_by("-pk").values_list("pk", flat=True)[:limit])
