"""REST API v1 of the compliance export (officers with `governance.export_compliance`, and the
owner): request, list, status and download. Thin: parse, call one service or selector, shape."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authed import AuthedRequest
from apps.core.api import validated
from apps.files.api import StoredFileResponse
from apps.files.storage import open_stored
from apps.governance.compliance_export import selectors, services
from apps.governance.compliance_export import serializers as s
from apps.governance.compliance_export.models import ComplianceExport
from apps.governance.compliance_export.permissions import (
    access_compliance_export,
    access_compliance_export_download,
    access_compliance_export_manage,
)


def export_zip_response(export: ComplianceExport) -> StreamingHttpResponse:
    """The export's ZIP as a download (the caller checked the access and audited it)."""
    reader = open_stored(export.storage_name)
    response = StoredFileResponse(
        reader, start=0, length=reader.size, content_type="application/zip"
    )
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"compliance-export-{export.pk}.zip"
    )
    response["Cache-Control"] = "private, no-store"
    return response


class ComplianceExportsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="compliance_exports",
        responses=s.ComplianceExportOut(many=True),
        summary="Compliance exports, newest first (export officers)",
    )
    def get(self, request: AuthedRequest) -> Response:
        access_compliance_export_manage(user=request.user)
        return Response(selectors.compliance_exports_list())

    @extend_schema(
        operation_id="compliance_export_create",
        request=s.ComplianceExportIn,
        responses={202: s.ComplianceExportOut},
        summary="Export the messages of users and channels in a time range (audited)",
    )
    def post(self, request: AuthedRequest) -> Response:
        access_compliance_export_manage(user=request.user)
        data = validated(s.ComplianceExportIn, request.data)
        export = services.compliance_export_request(actor=request.user, **data)
        export.refresh_from_db()  # an eager build (the embedded mode) has finished already
        return Response(selectors.compliance_export_payload(export), status=202)


class ComplianceExportApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="compliance_export",
        responses=s.ComplianceExportOut,
        summary="One compliance export and its state (export officers)",
    )
    def get(self, request: AuthedRequest, export_id: int) -> Response:
        export = access_compliance_export(user=request.user, export_id=export_id)
        return Response(selectors.compliance_export_payload(export))


class ComplianceExportDownloadApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="compliance_export_download",
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
        summary="Download the export's ZIP until it expires (export officers; audited)",
    )
    def get(self, request: AuthedRequest, export_id: int) -> StreamingHttpResponse:
        export = access_compliance_export_download(user=request.user, export_id=export_id)
        services.compliance_export_downloaded(actor=request.user, export=export)
        return export_zip_response(export)
