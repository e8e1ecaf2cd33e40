from django.urls import path

from apps.chat import api

app_name = "chat_api"

urlpatterns = [
    path("users/", api.UserListApi.as_view(), name="users"),
    path("users/<id:user_id>/", api.UserDetailApi.as_view(), name="user"),
    path("channels/", api.ChannelListApi.as_view(), name="channels"),
    path("channels/browse/", api.ChannelBrowseApi.as_view(), name="channels-browse"),
    path("channels/<id:channel_id>/", api.ChannelDetailApi.as_view(), name="channel"),
    path("channels/<id:channel_id>/archive/", api.ChannelArchiveApi.as_view(), name="archive"),
    path(
        "channels/<id:channel_id>/unarchive/",
        api.ChannelUnarchiveApi.as_view(),
        name="unarchive",
    ),
    path("channels/<id:channel_id>/join/", api.ChannelJoinApi.as_view(), name="join"),
    path("channels/<id:channel_id>/leave/", api.ChannelLeaveApi.as_view(), name="leave"),
    path("channels/<id:channel_id>/members/", api.ChannelMembersApi.as_view(), name="members"),
    path(
        "channels/<id:channel_id>/members/<id:user_id>/",
        api.ChannelMemberApi.as_view(),
        name="member",
    ),
    path(
        "channels/<id:channel_id>/membership/",
        api.MembershipSettingsApi.as_view(),
        name="membership",
    ),
    path("channels/<id:channel_id>/messages/", api.ChannelMessagesApi.as_view(), name="messages"),
    path("channels/<id:channel_id>/pins/", api.ChannelPinsApi.as_view(), name="pins"),
    path("channels/<id:channel_id>/read/", api.ChannelReadApi.as_view(), name="read"),
    path(
        "channels/<id:channel_id>/receipts/",
        api.ChannelReceiptsApi.as_view(),
        name="channel-receipts",
    ),
    path("channels/<id:channel_id>/typing/", api.ChannelTypingApi.as_view(), name="typing"),
    path("direct/", api.DirectOpenApi.as_view(), name="direct"),
    path("messages/<id:message_id>/", api.MessageDetailApi.as_view(), name="message"),
    path("messages/<id:message_id>/thread/", api.ThreadApi.as_view(), name="thread"),
    path("messages/<id:message_id>/reactions/", api.ReactionsApi.as_view(), name="reactions"),
    path(
        "messages/<id:message_id>/receipts/",
        api.MessageReceiptsApi.as_view(),
        name="message-receipts",
    ),
    path("messages/<id:message_id>/pin/", api.MessagePinApi.as_view(), name="pin"),
    path("presence/", api.PresenceApi.as_view(), name="presence"),
    path("commands/", api.CommandListApi.as_view(), name="commands"),
]
