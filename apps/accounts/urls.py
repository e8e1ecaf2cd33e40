from django.contrib.auth import views as auth_views
from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/verify/", views.login_verify, name="login-verify"),
    path("security/two-factor/", views.two_factor_settings, name="two-factor"),
    path("security/sessions/", views.sessions_page, name="sessions"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/language/", views.set_language, name="set-language"),
]
