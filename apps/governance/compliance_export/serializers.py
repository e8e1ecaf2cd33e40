from __future__ import annotations

from rest_framework import serializers

from apps.core.api import BoundedIntegerField
from apps.governance.compliance_export.models import ComplianceExportStatus
from apps.governance.compliance_export.services import MAX_SCOPE_IDS


class ComplianceExportIn(serializers.Serializer):
    user_ids = serializers.ListField(
        child=BoundedIntegerField(),
        max_length=MAX_SCOPE_IDS,
        default=list,
        help_text="Senders to export; empty: every sender.",
    )
    channel_ids = serializers.ListField(
        child=BoundedIntegerField(),
        max_length=MAX_SCOPE_IDS,
        default=list,
        help_text="Channels to export; empty: every channel.",
    )
    start = serializers.DateTimeField(help_text="Messages sent at or after this moment.")
    end = serializers.DateTimeField(help_text="Messages sent before this moment.")


class ComplianceExportOut(serializers.Serializer):
    id = BoundedIntegerField()
    status = serializers.ChoiceField(choices=ComplianceExportStatus.choices)
    requested_by_id = BoundedIntegerField(allow_null=True)
    requested_by = serializers.CharField()
    requested_at = serializers.DateTimeField()
    user_ids = serializers.ListField(child=BoundedIntegerField())
    channel_ids = serializers.ListField(child=BoundedIntegerField())
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    message_count = BoundedIntegerField()
    file_count = BoundedIntegerField()
    size = BoundedIntegerField(help_text="Bytes of the ZIP.")
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="After this the ZIP is deleted."
    )
    error = serializers.CharField()
