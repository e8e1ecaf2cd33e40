from django.urls import path

from apps.accounts import api

app_name = "accounts_api"

urlpatterns = [
    path("users/me/", api.MeApi.as_view(), name="me"),
    path("users/me/avatar/", api.MeAvatarApi.as_view(), name="me-avatar"),
    path("users/", api.UserListApi.as_view(), name="users"),
    path("users/<int:user_id>/", api.UserDetailApi.as_view(), name="user"),
    path("auth/token/", api.TokenObtainApi.as_view(), name="token-obtain"),
    path("auth/tokens/", api.TokenListApi.as_view(), name="tokens"),
    path("auth/tokens/<int:token_id>/", api.TokenDetailApi.as_view(), name="token"),
    path("auth/sessions/", api.SessionListApi.as_view(), name="sessions"),
    path(
        "auth/sessions/end-others/", api.SessionEndOthersApi.as_view(), name="sessions-end-others"
    ),
]
