"""Input validation and OpenAPI shapes for the files REST API (bodies come from events.py)."""

from __future__ import annotations

from rest_framework import serializers

# STATUS_CHOICES: named by ENUM_NAME_OVERRIDES in config/settings/base.py (AttachmentStatusEnum).
from apps.chat.serializers import STATUS_CHOICES as STATUS_CHOICES
from apps.chat.serializers import AttachmentOut
from apps.core.api import BoundedIntegerField
from apps.files.selectors import FILE_KINDS


class AttachmentDetailOut(AttachmentOut):
    channel_id = BoundedIntegerField(allow_null=True)
    message_id = BoundedIntegerField(allow_null=True)
    uploader_id = BoundedIntegerField()
    created_at = serializers.DateTimeField()
    scanned_at = serializers.DateTimeField(allow_null=True)
    scan_failure = serializers.CharField(
        help_text=(
            "Why the scan failed, for the uploader: `limit_exceeded` (an archive too large or "
            "too deeply nested to check), `scanner_unverified` (the virus scanner does not "
            "report exceeded limits), `scanner_unavailable`; empty otherwise."
        )
    )


class AdminAttachmentOut(AttachmentDetailOut):
    scan_signature = serializers.CharField()
    sha256 = serializers.CharField()
    deleted_at = serializers.DateTimeField(
        allow_null=True, help_text="When its uploader or an admin removed it (kept until purged)."
    )


class UploadIn(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)
    name = serializers.CharField(
        required=False, max_length=1000, help_text="Overrides the multipart file name."
    )


class UploadSessionIn(serializers.Serializer):
    name = serializers.CharField(max_length=1000)
    size = BoundedIntegerField(min_value=0)


class UploadSessionOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    size = BoundedIntegerField()
    chunk_size = BoundedIntegerField()
    chunk_count = BoundedIntegerField()
    received_chunks = serializers.ListField(child=BoundedIntegerField())
    expires_at = serializers.DateTimeField()


class UsageRowOut(serializers.Serializer):
    id = BoundedIntegerField()
    name = serializers.CharField()
    files = BoundedIntegerField()
    bytes = BoundedIntegerField()


class UsageOut(serializers.Serializer):
    total_bytes = BoundedIntegerField(help_text="Bytes stored once (deduplicated).")
    by_user = UsageRowOut(many=True)
    by_channel = UsageRowOut(many=True)


class ChannelFilesIn(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=FILE_KINDS,
        required=False,
        help_text="`image`, `pdf`, `media` (clean images and PDFs: what the viewer shows)"
        " or `other`.",
    )
