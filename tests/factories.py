"""factory_boy factories for the whole suite."""

from __future__ import annotations

import factory
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.chat.models import Channel, ChannelKind, ChannelRole, Membership

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.Sequence(lambda n: f"User {n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.MEMBER
    is_active = True
    password = factory.django.Password(PASSWORD)


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    kind = ChannelKind.PUBLIC
    name = factory.Sequence(lambda n: f"channel-{n}")
    created_at = factory.LazyFunction(timezone.now)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    channel = factory.SubFactory(ChannelFactory)
    user = factory.SubFactory(UserFactory)
    role = ChannelRole.MEMBER
