from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    """Usage analytics for the organisation's admins, from daily summary tables."""

    name = "apps.analytics"
    label = "analytics"
    verbose_name = _("Analytics")
