from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from apps.accounts.models import Role


class UserOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    display_name = serializers.CharField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    is_bot = serializers.BooleanField()
    time_zone = serializers.CharField()
    language = serializers.CharField()
    avatar_url = serializers.CharField(allow_null=True)


class ProfileIn(serializers.Serializer):
    display_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    time_zone = serializers.CharField(max_length=64, required=False)
    language = serializers.ChoiceField(
        choices=[("", ""), *settings.LANGUAGES], required=False, allow_blank=True
    )


class AvatarIn(serializers.Serializer):
    avatar = serializers.ImageField(help_text="PNG, JPEG, GIF or WebP; at most 5 MB and 4096×4096.")


class TokenObtainIn(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False)
    name = serializers.CharField(max_length=100, required=False, default="API client")
    otp = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        help_text="A TOTP or recovery code; required for accounts with two-factor authentication.",
    )


class TokenCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class TokenOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class TokenCreatedOut(TokenOut):
    token = serializers.CharField(help_text="The raw token. Shown once; store it now.")


class SessionOut(serializers.Serializer):
    id = serializers.IntegerField()
    ip_address = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField()
    created_at = serializers.DateTimeField()
    current = serializers.BooleanField(help_text="The session this request came with.")


class SessionsEndedOut(serializers.Serializer):
    ended = serializers.IntegerField(help_text="How many other sessions were signed out.")
