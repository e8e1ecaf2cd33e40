"""The files app's verdicts, as the assistant hears them: `post_save` of `Attachment`.

The files app writes a scan verdict, an admin's release and a deletion with
`save(update_fields=[... "status" ... | "deleted_at"])`, and it cannot import us (a lower app),
so we listen to Django's own signal for its model rather than add a hook there. A save that
leaves the file clean and undeleted enqueues the reading of its text after the commit; any
other state drops what was kept of it at once, in the same transaction. Writes by `update()`
send no signal (a message's files deleted with it): retrieval checks the file's and message's
state itself, so the index never has to be right for the boundary to hold.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from apps.assistant.file_index import file_kind, file_text_forget
from apps.files.models import Attachment, AttachmentStatus

_WATCHED_FIELDS = frozenset({"status", "deleted_at"})


def on_attachment_saved(
    sender: type[Attachment],
    instance: Attachment,
    created: bool = False,
    update_fields: Iterable[str] | None = None,
    **kwargs: object,
) -> None:
    if update_fields is not None and not _WATCHED_FIELDS & set(update_fields):
        return  # a thumbnail, a message link: nothing about the verdict changed
    if instance.status != AttachmentStatus.CLEAN or instance.deleted_at is not None:
        if not created:
            file_text_forget(attachment_id=instance.pk)
        return
    if file_kind(instance) is None:
        return
    from apps.assistant.tasks import index_file_text

    attachment_id = str(instance.pk)
    transaction.on_commit(lambda: index_file_text.delay(attachment_id))
