from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from apps.core import converters, metrics

        converters.install()
        # Gauges of processes that ended are swept now and this process's at its exit.
        metrics.install_process_hooks()
        # The server's runtime tuning is installed by config/asgi.py, in server processes only
        # (apps/core/runtime/__init__.py).
