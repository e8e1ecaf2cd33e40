from django.urls import path

from apps.workspace import views

app_name = "workspace"

urlpatterns = [
    path(
        "unsubscribe/<str:token>/",
        views.digest_unsubscribe_page,
        name="digest-unsubscribe",
    ),
]
