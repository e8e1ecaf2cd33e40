from django.urls import path

from apps.accounts import api

app_name = "accounts_api"

urlpatterns = [
    path("users/me/", api.MeApi.as_view(), name="me"),
    path("users/me/avatar/", api.MeAvatarApi.as_view(), name="me-avatar"),
    path("users/me/status/", api.MyStatusApi.as_view(), name="me-status"),
    path("users/me/dnd/", api.MyDndApi.as_view(), name="me-dnd"),
    path(
        "users/me/notification-settings/",
        api.MyNotificationSettingsApi.as_view(),
        name="me-notification-settings",
    ),
    path("auth/token/", api.TokenObtainApi.as_view(), name="token-obtain"),
    path("auth/tokens/", api.TokenListApi.as_view(), name="tokens"),
    path("auth/tokens/<id:token_id>/", api.TokenDetailApi.as_view(), name="token"),
    path("auth/sessions/", api.SessionListApi.as_view(), name="sessions"),
    path("invitations/", api.InvitationListApi.as_view(), name="invitations"),
    path("invitations/channels/", api.InvitationChannelsApi.as_view(), name="invitation-channels"),
    path(
        "auth/sessions/end-others/", api.SessionEndOthersApi.as_view(), name="sessions-end-others"
    ),
]
