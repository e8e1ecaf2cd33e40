from django.urls import path

from apps.governance import api
from apps.governance.compliance_export import api as compliance_export_api

app_name = "governance_api"

urlpatterns = [
    path("governance/retention/", api.OrgRetentionApi.as_view(), name="org-retention"),
    path(
        "channels/<id:channel_id>/retention/",
        api.ChannelRetentionApi.as_view(),
        name="channel-retention",
    ),
    path("governance/legal-holds/", api.LegalHoldsApi.as_view(), name="legal-holds"),
    path(
        "governance/legal-holds/<id:hold_id>/release/",
        api.LegalHoldReleaseApi.as_view(),
        name="legal-hold-release",
    ),
    path("me/data-export/", api.MyDataExportsApi.as_view(), name="my-data-exports"),
    path("me/data-export/<id:export_id>/", api.MyDataExportApi.as_view(), name="my-data-export"),
    path(
        "me/data-export/<id:export_id>/download/",
        api.MyDataExportDownloadApi.as_view(),
        name="my-data-export-download",
    ),
]

# The compliance export (apps/governance/compliance_export/).
urlpatterns += [
    path(
        "governance/exports/",
        compliance_export_api.ComplianceExportsApi.as_view(),
        name="compliance-exports",
    ),
    path(
        "governance/exports/<id:export_id>/",
        compliance_export_api.ComplianceExportApi.as_view(),
        name="compliance-export",
    ),
    path(
        "governance/exports/<id:export_id>/download/",
        compliance_export_api.ComplianceExportDownloadApi.as_view(),
        name="compliance-export-download",
    ),
]
