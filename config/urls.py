from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.cache import cache_control
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.accounts.views import avatar_file
from apps.analytics.views import analytics_csv_view, analytics_view
from apps.core.views import api_not_found, healthz, read_only_api_page
from apps.ops.metrics import metrics_view
from apps.ops.overview import overview_view
from apps.ops.views import readyz

# The includes' paths do not overlap, so their order only sets how many patterns Django tries
# before it finds a request's: the busiest first (resolving the search: 38 µs behind the
# pages and the other APIs, 22 µs so).
api_v1 = [
    path("", include("apps.chat.urls")),
    path("", include("apps.search.urls")),
    path("", include("apps.files.urls")),
    path("", include("apps.accounts.api_urls")),
    path("", include("apps.ops.api_urls")),
    path("", include("apps.calls.urls")),
    path("", include("apps.integrations.urls")),
    path("", include("apps.helpdesk.urls")),
    path("", include("apps.assistant.urls")),
    path("", include("apps.workspace.urls")),
    path("", include("apps.governance.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("", include("apps.chat.page_urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("helpdesk/", include("apps.helpdesk.page_urls")),
    path("email/", include("apps.workspace.page_urls")),
    # The IT admin's overview, inside the admin console (before it: admin/ would take the path).
    path("admin/overview/", overview_view, name="ops-overview"),
    path("admin/analytics/", analytics_view, name="analytics"),
    path("admin/analytics/export.csv", analytics_csv_view, name="analytics-csv"),
    path("admin/", admin.site.urls),
    # Avatars only: attachments are served by apps.files with their own permission checks.
    path("media/avatars/<str:name>", avatar_file, name="avatar-file"),
    path("api/schema/", read_only_api_page(SpectacularAPIView.as_view()), name="schema"),
    path(
        "api/docs/",
        read_only_api_page(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
    # The catalog changes only with a deploy; browsers revalidate it daily.
    path(
        "jsi18n/",
        cache_control(max_age=86400)(JavaScriptCatalog.as_view()),
        name="javascript-catalog",
    ),
    # Incoming webhooks: the secret URL is the credential (apps/integrations/views.py).
    path("hooks/", include("apps.integrations.webhook_urls")),
    path("healthz", healthz, name="healthz"),  # liveness
    path("readyz", readyz, name="readyz"),  # readiness: database, Redis, clamd, Celery
    # Prometheus; allowed networks or a bearer token only (apps/ops/metrics.py).
    path("metrics", metrics_view, name="metrics"),
    re_path(r"^api/(?P<path>.*)$", api_not_found, name="api-not-found"),
]
