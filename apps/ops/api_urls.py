from django.urls import path

from apps.ops.flags import api

app_name = "ops_api"

urlpatterns = [
    path("features/", api.FeatureFlagsApi.as_view(), name="features"),
]
