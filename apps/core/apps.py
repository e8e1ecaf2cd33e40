from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db import connection

        if connection.vendor == "postgresql":
            from apps.core import dbpool, pgtypes

            dbpool.install()
            pgtypes.install()
