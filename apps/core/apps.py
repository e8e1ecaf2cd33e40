from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db import connection

        from apps.core import converters, metrics

        converters.install()
        # Gauges of processes that ended are swept now and this process's at its exit.
        metrics.install_process_hooks()

        if connection.vendor == "postgresql":
            from apps.core import dbpool, pgtypes

            dbpool.install()
            pgtypes.install()
