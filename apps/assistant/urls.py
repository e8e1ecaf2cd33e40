from django.urls import path

from apps.assistant import api

app_name = "assistant_api"

urlpatterns = [
    path("assistant/", api.AssistantStatusApi.as_view(), name="status"),
    path("assistant/ask/", api.AssistantAskApi.as_view(), name="ask"),
]
