from django.urls import path

from apps.integrations import views

urlpatterns = [
    path("<str:token>/", views.incoming_webhook, name="integrations-hook"),
    path("<str:token>/<slug:fmt>/", views.incoming_webhook, name="integrations-hook-format"),
]
