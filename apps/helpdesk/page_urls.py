from django.urls import path

from apps.helpdesk import views

app_name = "helpdesk"

urlpatterns = [
    path("", views.ask_page, name="ask"),
    path("agent/", views.agent_page, name="agent"),
]
