"""What chat needs of a message's attachments, and the hook the files app fills.

A message carries files, but files are the files app's (upload, scanning, storage), and that
app depends on chat (who may read a channel's files). So chat does not import it: it states
here what it needs of an attachment, and `apps.files` registers its implementation in
`FilesConfig.ready()` (`apps/files/chat_attachments.py`). Attachments are opaque objects to
chat; only the store looks inside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypedDict

from django.core.exceptions import ImproperlyConfigured

from apps.accounts.models import User


class AttachmentPayload(TypedDict):
    """An attachment as a message carries it (`MessagePayload.attachments`)."""

    id: str
    status: str
    name: str
    content_type: str
    size: int
    is_image: bool
    has_thumbnail: bool
    image_width: int | None
    image_height: int | None


class AttachmentStore(Protocol):
    """The attachments of messages, as the files app keeps them."""

    def table(self) -> str:
        """The attachments' table; its `message_id` column names the message (the history
        page's one details query reads it, `apps.chat.queries._DETAILS_SQL`)."""
        ...

    def claim_for_message(self, *, sender: User, attachment_ids: Sequence[object]) -> list[Any]:
        """Lock the sender's own unattached files, in order (inside the sending transaction);
        raises a DomainError when one is not claimable."""
        ...

    def link_to_message(self, *, attachments: Sequence[Any], message_id: int) -> None:
        """Point claimed attachments at their message and its channel (same transaction)."""
        ...

    def delete_for_message(self, *, message_id: int) -> int:
        """Delete the files of a deleted message (same transaction)."""
        ...

    def of_messages(self, *, message_ids: Iterable[int]) -> dict[int, list[Any]]:
        """The attachments of these messages, oldest first, by message id (one query)."""
        ...

    def payload(self, attachment: Any) -> AttachmentPayload:
        """The public shape of one attachment."""
        ...


_store: AttachmentStore | None = None


def register_attachment_store(store: AttachmentStore) -> None:
    """Called once by the files app's AppConfig.ready()."""
    global _store
    _store = store


def attachment_store() -> AttachmentStore:
    """The registered store; messages cannot carry files without one."""
    if _store is None:
        raise ImproperlyConfigured("No attachment store: apps.files is not installed.")
    return _store
