from django.urls import path

from apps.workspace import api

app_name = "workspace_api"

urlpatterns = [
    path("workspace/default-channels/", api.DefaultChannelsApi.as_view(), name="default-channels"),
    path("inbox/", api.InboxApi.as_view(), name="inbox"),
    path("saved/", api.SavedListApi.as_view(), name="saved"),
    path("saved/<id:message_id>/", api.SavedItemApi.as_view(), name="saved-item"),
    path("inbox/mark-all-read/", api.InboxMarkAllReadApi.as_view(), name="inbox-mark-all-read"),
    path("reminders/", api.RemindersApi.as_view(), name="reminders"),
    path("reminders/<id:reminder_id>/", api.ReminderApi.as_view(), name="reminder"),
]
