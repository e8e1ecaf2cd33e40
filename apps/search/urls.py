from django.urls import path

from apps.search import api

app_name = "search_api"

urlpatterns = [
    path("search/", api.SearchApi.as_view(), name="search"),
]
