from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/verify/", views.login_verify, name="login-verify"),
    path("security/two-factor/", views.two_factor_settings, name="two-factor"),
    path("security/sessions/", views.sessions_page, name="sessions"),
    path("invitations/", views.invitations_page, name="invitations"),
    path("invite/<str:token>/", views.invitation_accept_page, name="invitation-accept"),
    path("signup/", views.signup_page, name="signup"),
    # Password reset by e-mail (local accounts only: directory users have no local password).
    path(
        "password-reset/",
        views.RateLimitedPasswordResetView.as_view(
            template_name="accounts/password_reset.html",
            email_template_name="accounts/password_reset_email.txt",
            subject_template_name="accounts/password_reset_subject.txt",
            success_url=reverse_lazy("accounts:password-reset-done"),
        ),
        name="password-reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password-reset-done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html",
            success_url=reverse_lazy("accounts:password-reset-complete"),
        ),
        name="password-reset-confirm",
    ),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="accounts/password_reset_complete.html"
        ),
        name="password-reset-complete",
    ),
    path("security/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path(
        "security/password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password-change-done",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/language/", views.set_language, name="set-language"),
]
