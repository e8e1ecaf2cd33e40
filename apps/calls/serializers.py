"""Input validation and OpenAPI shapes for the calls REST API (bodies: apps.calls.events)."""

from __future__ import annotations

from rest_framework import serializers

from apps.calls.models import CallMedia, CallMode
from apps.core.api import BoundedIntegerField


class CallStartIn(serializers.Serializer):
    media = serializers.ChoiceField(choices=CallMedia.choices, default=CallMedia.AUDIO)


class MeetingStartIn(serializers.Serializer):
    media = serializers.ChoiceField(choices=CallMedia.choices, default=CallMedia.VIDEO)
    mode = serializers.ChoiceField(choices=CallMode.choices, default=CallMode.MEETING)


class CallSignalIn(serializers.Serializer):
    to_user_id = BoundedIntegerField()
    payload = serializers.JSONField(
        help_text='{"sdp": {"type": "offer"|"answer", "sdp": "..."}} or {"candidate": {...}}'
    )


class ParticipantOut(serializers.Serializer):
    user_id = BoundedIntegerField()
    state = serializers.CharField()
    joined_at = serializers.DateTimeField(allow_null=True)
    left_at = serializers.DateTimeField(allow_null=True)
    role = serializers.CharField(help_text="host | presenter | listener")
    hand_raised_at = serializers.DateTimeField(allow_null=True)
    camera_feed_id = BoundedIntegerField(
        allow_null=True, help_text="Meetings: the Janus publisher id to subscribe to, if on stage"
    )
    screen_feed_id = BoundedIntegerField(allow_null=True, help_text="The same for a screen share")


class CallOut(serializers.Serializer):
    id = BoundedIntegerField()
    channel_id = BoundedIntegerField()
    kind = serializers.CharField()
    media = serializers.CharField()
    state = serializers.CharField(help_text="ringing | active | ended")
    end_reason = serializers.CharField(
        allow_null=True, help_text="declined | cancelled | busy | missed | ended | failed"
    )
    initiator_id = BoundedIntegerField()
    started_at = serializers.DateTimeField()
    ring_deadline = serializers.DateTimeField()
    answered_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    mode = serializers.CharField(help_text="meeting | classroom")
    started_message_key = serializers.CharField(
        allow_null=True, help_text="client_msg_id of the meeting's 'meeting started' message"
    )
    host_id = BoundedIntegerField(allow_null=True)
    participants = ParticipantOut(many=True)


class JanusAccessOut(serializers.Serializer):
    url = serializers.CharField(help_text="Janus' WebSocket")
    token = serializers.CharField(help_text="This participant's Janus token")
    room = BoundedIntegerField()
    pin = serializers.CharField()
    feed_id = BoundedIntegerField(help_text="The publisher id to join the room with")
    screen_feed_id = BoundedIntegerField(help_text="The publisher id of a screen share")
    opaque_id = serializers.CharField()
    publish = serializers.BooleanField(help_text="False: a classroom listener")
    reconnect_seconds = BoundedIntegerField(
        help_text="How long the page retries Janus after losing it, before leaving"
    )


class MeetingJoinOut(serializers.Serializer):
    call = CallOut()
    janus = JanusAccessOut()


class IceServerOut(serializers.Serializer):
    urls = serializers.ListField(child=serializers.CharField())
    username = serializers.CharField(required=False)
    credential = serializers.CharField(required=False)


class IceServersOut(serializers.Serializer):
    ice_servers = IceServerOut(many=True)
    ttl = BoundedIntegerField(help_text="Seconds the TURN credentials are valid for.")
    ice_transport_policy = serializers.ChoiceField(
        choices=["all", "relay"],
        help_text="RTCPeerConnection's iceTransportPolicy: relay sends all media through TURN.",
    )
