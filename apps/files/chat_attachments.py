"""The files app's side of `apps.chat.attachments`: how messages carry attachments.

Registered with chat in `FilesConfig.ready()`; chat calls it and never imports this app.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from apps.accounts.models import User
from apps.chat.attachments import AttachmentPayload
from apps.files import services
from apps.files.events import attachment_payload
from apps.files.models import Attachment


class FilesAttachmentStore:
    """`apps.chat.attachments.AttachmentStore` over `Attachment` rows."""

    def table(self) -> str:
        return Attachment._meta.db_table

    def claim_for_message(
        self, *, sender: User, attachment_ids: Sequence[object]
    ) -> list[Attachment]:
        return services.attachments_claim_for_message(sender=sender, attachment_ids=attachment_ids)

    def link_to_message(self, *, attachments: Sequence[Attachment], message_id: int) -> None:
        services.attachments_link_to_message(attachments=attachments, message_id=message_id)

    def delete_for_message(self, *, message_id: int) -> int:
        return services.attachments_delete_for_message(message_id=message_id)

    def of_messages(self, *, message_ids: Iterable[int]) -> dict[int, list[Attachment]]:
        attachments: dict[int, list[Attachment]] = {}
        for attachment in Attachment.objects.filter(message_id__in=message_ids).order_by(
            "created_at", "id"
        ):
            if attachment.message_id is not None:  # always, by the filter; for the type checker
                attachments.setdefault(attachment.message_id, []).append(attachment)
        return attachments

    def payload(self, attachment: Attachment) -> AttachmentPayload:
        return attachment_payload(attachment)
