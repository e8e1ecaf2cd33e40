from django.urls import path

from apps.chat import api

app_name = "chat_api"

urlpatterns = [
    path("channels/", api.ChannelListApi.as_view(), name="channels"),
    path("channels/browse/", api.ChannelBrowseApi.as_view(), name="channels-browse"),
    path("channels/<int:channel_id>/", api.ChannelDetailApi.as_view(), name="channel"),
    path("channels/<int:channel_id>/archive/", api.ChannelArchiveApi.as_view(), name="archive"),
    path(
        "channels/<int:channel_id>/unarchive/",
        api.ChannelUnarchiveApi.as_view(),
        name="unarchive",
    ),
    path("channels/<int:channel_id>/join/", api.ChannelJoinApi.as_view(), name="join"),
    path("channels/<int:channel_id>/leave/", api.ChannelLeaveApi.as_view(), name="leave"),
    path("channels/<int:channel_id>/members/", api.ChannelMembersApi.as_view(), name="members"),
    path(
        "channels/<int:channel_id>/members/<int:user_id>/",
        api.ChannelMemberApi.as_view(),
        name="member",
    ),
    path(
        "channels/<int:channel_id>/membership/",
        api.MembershipSettingsApi.as_view(),
        name="membership",
    ),
    path("channels/<int:channel_id>/messages/", api.ChannelMessagesApi.as_view(), name="messages"),
    path("channels/<int:channel_id>/read/", api.ChannelReadApi.as_view(), name="read"),
    path("channels/<int:channel_id>/typing/", api.ChannelTypingApi.as_view(), name="typing"),
    path("direct/", api.DirectOpenApi.as_view(), name="direct"),
    path("messages/<int:message_id>/", api.MessageDetailApi.as_view(), name="message"),
    path("messages/<int:message_id>/thread/", api.ThreadApi.as_view(), name="thread"),
    path("messages/<int:message_id>/reactions/", api.ReactionsApi.as_view(), name="reactions"),
    path("presence/", api.PresenceApi.as_view(), name="presence"),
]
