"""Input validation and OpenAPI shapes for the assistant's REST API."""

from __future__ import annotations

from rest_framework import serializers

from apps.assistant.services import MAX_QUESTION_CHARS
from apps.core.api import BoundedIntegerField


class AskIn(serializers.Serializer):
    question = serializers.CharField(max_length=MAX_QUESTION_CHARS, trim_whitespace=True)
    channel_id = BoundedIntegerField(required=False, allow_null=True, default=None)


class CitationOut(serializers.Serializer):
    index = BoundedIntegerField()
    message_id = BoundedIntegerField()
    channel_id = BoundedIntegerField()
    channel_name = serializers.CharField()
    sender_name = serializers.CharField()
    url = serializers.CharField()
    file_id = serializers.CharField(
        allow_blank=True, help_text="A passage of a file: the file's id; empty for a message."
    )
    file_name = serializers.CharField(allow_blank=True)


class AnswerOut(serializers.Serializer):
    capability = serializers.CharField()
    mode = serializers.CharField()
    outcome = serializers.CharField()
    text = serializers.CharField()
    ai_generated = serializers.BooleanField()
    citations = CitationOut(many=True)
    prompt_tokens = BoundedIntegerField()
    completion_tokens = BoundedIntegerField()


class AssistantStatusOut(serializers.Serializer):
    mode = serializers.CharField(help_text="generative (a model is configured) or extractive")
    retrieval = serializers.CharField(help_text="full_text, or hybrid with embeddings")
    bot_user_id = BoundedIntegerField(allow_null=True)
    calls_today = BoundedIntegerField()
    tokens_today = BoundedIntegerField()
    calls_per_day = BoundedIntegerField(help_text="0: no limit")
    tokens_per_day = BoundedIntegerField(help_text="0: no limit")
