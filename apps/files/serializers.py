"""Input validation and OpenAPI shapes for the files REST API (bodies come from events.py)."""

from __future__ import annotations

from rest_framework import serializers

# An attachment's status as clients see it: the scan states, or "deleted".
STATUS_CHOICES = ["pending", "clean", "infected", "failed", "deleted"]


class AttachmentOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=STATUS_CHOICES,
        help_text="Only `clean` files can be downloaded; the others show a placeholder.",
    )
    name = serializers.CharField(help_text="Empty unless clean (or you uploaded it).")
    content_type = serializers.CharField(help_text="Sniffed from the content.")
    size = serializers.IntegerField()
    is_image = serializers.BooleanField()
    has_thumbnail = serializers.BooleanField()
    image_width = serializers.IntegerField(allow_null=True)
    image_height = serializers.IntegerField(allow_null=True)


class AttachmentDetailOut(AttachmentOut):
    channel_id = serializers.IntegerField(allow_null=True)
    message_id = serializers.IntegerField(allow_null=True)
    uploader_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    scanned_at = serializers.DateTimeField(allow_null=True)


class AdminAttachmentOut(AttachmentDetailOut):
    scan_signature = serializers.CharField()
    sha256 = serializers.CharField()


class UploadIn(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)
    name = serializers.CharField(
        required=False, max_length=1000, help_text="Overrides the multipart file name."
    )


class UploadSessionIn(serializers.Serializer):
    name = serializers.CharField(max_length=1000)
    size = serializers.IntegerField(min_value=0)


class UploadSessionOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    chunk_size = serializers.IntegerField()
    chunk_count = serializers.IntegerField()
    received_chunks = serializers.ListField(child=serializers.IntegerField())
    expires_at = serializers.DateTimeField()


class UsageRowOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    files = serializers.IntegerField()
    bytes = serializers.IntegerField()


class UsageOut(serializers.Serializer):
    total_bytes = serializers.IntegerField(help_text="Bytes stored once (deduplicated).")
    by_user = UsageRowOut(many=True)
    by_channel = UsageRowOut(many=True)
