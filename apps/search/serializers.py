from rest_framework import serializers

from apps.chat.serializers import MessageOut
from apps.core.api import BoundedIntegerField


class SearchQueryIn(serializers.Serializer):
    q = serializers.CharField(
        trim_whitespace=False,
        allow_blank=True,
        help_text="Words or phrases; Chinese, Japanese and Korean need no spaces.",
    )
    channel_id = BoundedIntegerField(
        required=False, min_value=1, help_text="Only this channel (one you may read)."
    )
    before_id = BoundedIntegerField(
        required=False, min_value=1, help_text="The next page: `next_before_id` of this one."
    )
    limit = BoundedIntegerField(required=False, min_value=1, max_value=100, default=20)


class SearchOut(serializers.Serializer):
    results = MessageOut(many=True)
    has_more = serializers.BooleanField()
    next_before_id = BoundedIntegerField(allow_null=True)
