from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HelpdeskConfig(AppConfig):
    """The AI help desk (智能客服): a knowledge base, a bot that answers from it with citations,
    and the human agents' queue the bot hands over to."""

    name = "apps.helpdesk"
    label = "helpdesk"
    verbose_name = _("Help desk")
