from __future__ import annotations

from rest_framework import serializers

from apps.core.api import BoundedIntegerField
from apps.helpdesk.models import TicketState


class TicketOpenIn(serializers.Serializer):
    helpdesk_id = BoundedIntegerField(min_value=1)
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)


class EntryIn(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)


class AssignIn(serializers.Serializer):
    assignee_id = BoundedIntegerField(min_value=1, allow_null=True)


class StateIn(serializers.Serializer):
    state = serializers.ChoiceField(choices=TicketState.choices)


class RateIn(serializers.Serializer):
    rating = BoundedIntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class CannedReplyIn(serializers.Serializer):
    title = serializers.CharField(max_length=100)
    body = serializers.CharField(max_length=5000)


class QueueIn(serializers.Serializer):
    helpdesk_id = BoundedIntegerField(min_value=1, required=False)
    view = serializers.ChoiceField(
        choices=["unassigned", "mine", "open", "all"], required=False, default="open"
    )


class DeskOut(serializers.Serializer):
    id = BoundedIntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    is_agent = serializers.BooleanField()


class HelpdeskCitationOut(serializers.Serializer):
    document_id = BoundedIntegerField()
    title = serializers.CharField()
    position = BoundedIntegerField()
    text = serializers.CharField()
    score = serializers.FloatField()


class TicketOut(serializers.Serializer):
    id = BoundedIntegerField()
    helpdesk_id = BoundedIntegerField()
    asker_id = BoundedIntegerField()
    subject = serializers.CharField()
    state = serializers.CharField()
    needs_agent = serializers.BooleanField()
    handover_reason = serializers.CharField()
    assignee_id = BoundedIntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    solved_at = serializers.DateTimeField(allow_null=True)
    rating = BoundedIntegerField(allow_null=True)
    rating_comment = serializers.CharField()


class EntryOut(serializers.Serializer):
    id = BoundedIntegerField()
    ticket_id = BoundedIntegerField()
    kind = serializers.CharField()
    author_id = BoundedIntegerField(allow_null=True)
    body = serializers.CharField()
    citations = HelpdeskCitationOut(many=True)
    confidence = serializers.FloatField(allow_null=True)
    ai_generated = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class TicketDetailOut(serializers.Serializer):
    ticket = TicketOut()
    entries = EntryOut(many=True)
    as_agent = serializers.BooleanField()


class AgentOut(serializers.Serializer):
    id = BoundedIntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()


class CannedReplyOut(serializers.Serializer):
    id = BoundedIntegerField()
    title = serializers.CharField()
    body = serializers.CharField()
