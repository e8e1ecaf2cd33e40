from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    """Operations: readiness, backups and restore drills, feature flags (and, later, metrics)."""

    name = "apps.ops"
    label = "ops"
    verbose_name = _("Operations")

    def ready(self) -> None:
        from apps.core.features import register_flag_evaluator
        from apps.ops.flags.selectors import feature_flag_is_active

        # The other apps gate features through apps.core.features, which cannot import us.
        register_flag_evaluator(lambda user, name: feature_flag_is_active(user=user, name=name))

        from apps.ops import metrics

        # Celery's task outcomes and durations; the database pool sampled per process.
        metrics.install_celery_signals()
        metrics.start_pool_sampler()
