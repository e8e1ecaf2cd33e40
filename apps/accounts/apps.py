from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from apps.accounts import schema, signals  # noqa: F401  (registers hooks)
        from apps.accounts.admin_login import route_admin_login_through_enclave

        route_admin_login_through_enclave()
