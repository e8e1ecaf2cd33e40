from __future__ import annotations

from rest_framework import serializers

from apps.core.api import BoundedIntegerField
from apps.governance.services import MAX_RETENTION_DAYS


class OrgRetentionIn(serializers.Serializer):
    days = BoundedIntegerField(
        min_value=1,
        max_value=MAX_RETENTION_DAYS,
        allow_null=True,
        help_text="Delete messages older than this many days; null keeps them forever.",
    )


class OrgRetentionOut(serializers.Serializer):
    days = BoundedIntegerField(allow_null=True)
    summary = serializers.CharField()


class ChannelRetentionIn(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=["inherit", "keep", "delete"],
        help_text="inherit: follow the organisation; keep: forever; delete: after `days`.",
    )
    days = BoundedIntegerField(
        min_value=1, max_value=MAX_RETENTION_DAYS, required=False, allow_null=True
    )

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        if attrs["mode"] == "delete" and attrs.get("days") is None:
            raise serializers.ValidationError({"days": "Required to delete old messages."})
        return attrs


class ChannelRetentionOut(serializers.Serializer):
    channel_id = BoundedIntegerField()
    days = BoundedIntegerField(allow_null=True)
    # The field is named like Field.source; DRF takes it as a declared field all the same.
    source = serializers.ChoiceField(choices=["organisation", "channel"])  # type: ignore[assignment]
    summary = serializers.CharField(help_text="What members read in the channel's details.")


class LegalHoldIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    reason = serializers.CharField(max_length=2000)
    user_ids = serializers.ListField(child=BoundedIntegerField(), max_length=1000, default=list)
    channel_ids = serializers.ListField(child=BoundedIntegerField(), max_length=1000, default=list)


class LegalHoldOut(serializers.Serializer):
    id = BoundedIntegerField()
    name = serializers.CharField()
    reason = serializers.CharField()
    user_ids = serializers.ListField(child=BoundedIntegerField())
    channel_ids = serializers.ListField(child=BoundedIntegerField())
    created_by_id = BoundedIntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    released_at = serializers.DateTimeField(allow_null=True)


class DataExportOut(serializers.Serializer):
    id = BoundedIntegerField()
    status = serializers.ChoiceField(choices=["pending", "running", "ready", "failed", "expired"])
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="After this the ZIP is deleted; ask for a new one."
    )
    size = BoundedIntegerField(help_text="Bytes of the ZIP, once ready.")
    download_url = serializers.CharField(allow_null=True)
