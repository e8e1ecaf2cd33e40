"""REST API v1 of governance: retention (administrators set, members read their channel's)
and legal holds (compliance officers). Thin: parse, call one service or selector, shape."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authed import AuthedRequest
from apps.core.api import validated
from apps.core.features import require_flag
from apps.files.api import serve_stored
from apps.governance import data_export, selectors, services
from apps.governance import serializers as s
from apps.governance.data_export import FLAG as DATA_EXPORT_FLAG
from apps.governance.permissions import (
    access_channel_retention_read,
    access_legal_hold_manage,
    access_retention_manage,
)


class OrgRetentionApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="retention_org",
        responses=s.OrgRetentionOut,
        summary="The organisation's retention policy (administrators)",
    )
    def get(self, request: AuthedRequest) -> Response:
        access_retention_manage(user=request.user)
        return Response(selectors.org_retention_payload())

    @extend_schema(
        operation_id="retention_org_set",
        request=s.OrgRetentionIn,
        responses=s.OrgRetentionOut,
        summary="Set the organisation's retention policy (administrators; audited)",
    )
    def put(self, request: AuthedRequest) -> Response:
        access_retention_manage(user=request.user)
        data = validated(s.OrgRetentionIn, request.data)
        services.retention_set_org(actor=request.user, days=data["days"])
        return Response(selectors.org_retention_payload())


class ChannelRetentionApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="retention_channel",
        responses=s.ChannelRetentionOut,
        summary="How long the channel's messages are kept (whoever may read the channel)",
    )
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        channel = access_channel_retention_read(user=request.user, channel_id=channel_id)
        return Response(selectors.channel_retention_payload(channel_id=channel.pk))

    @extend_schema(
        operation_id="retention_channel_set",
        request=s.ChannelRetentionIn,
        responses=s.ChannelRetentionOut,
        summary="Set the channel's own retention, or follow the organisation's (administrators)",
    )
    def put(self, request: AuthedRequest, channel_id: int) -> Response:
        access_retention_manage(user=request.user)
        data = validated(s.ChannelRetentionIn, request.data)
        services.retention_set_channel(
            actor=request.user,
            channel_id=channel_id,
            inherit=data["mode"] == "inherit",
            days=data.get("days") if data["mode"] == "delete" else None,
        )
        return Response(selectors.channel_retention_payload(channel_id=channel_id))


class LegalHoldsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="legal_holds",
        responses=s.LegalHoldOut(many=True),
        summary="Every legal hold, newest first (compliance officers)",
    )
    def get(self, request: AuthedRequest) -> Response:
        access_legal_hold_manage(user=request.user)
        return Response(selectors.legal_holds_list())

    @extend_schema(
        operation_id="legal_hold_create",
        request=s.LegalHoldIn,
        responses={201: s.LegalHoldOut},
        summary="Place a legal hold on users and channels (compliance officers; audited)",
    )
    def post(self, request: AuthedRequest) -> Response:
        access_legal_hold_manage(user=request.user)
        data = validated(s.LegalHoldIn, request.data)
        hold = services.legal_hold_create(actor=request.user, **data)
        return Response(selectors.legal_hold_payload(hold), status=201)


class LegalHoldReleaseApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="legal_hold_release",
        request=None,
        responses=s.LegalHoldOut,
        summary="Release a legal hold (compliance officers; audited)",
    )
    def post(self, request: AuthedRequest, hold_id: int) -> Response:
        hold = services.legal_hold_release(actor=request.user, hold_id=hold_id)
        return Response(selectors.legal_hold_payload(hold))


# --- a user's own data export ("Download my data"; docs/operations.md "Personal data") ----------


class MyDataExportsApi(APIView):
    permission_classes = [IsAuthenticated, require_flag(DATA_EXPORT_FLAG)]

    @extend_schema(
        operation_id="me_data_exports",
        responses=s.DataExportOut(many=True),
        summary="Your own data exports, newest first",
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(data_export.data_exports_of(user=request.user))

    @extend_schema(
        operation_id="me_data_export_request",
        request=None,
        responses={202: s.DataExportOut},
        summary="Ask for a ZIP of your own data; 409 data_export_in_progress while one is built",
    )
    def post(self, request: AuthedRequest) -> Response:
        export = data_export.data_export_request(user=request.user)
        return Response(data_export.data_export_payload(export), status=202)


class MyDataExportApi(APIView):
    permission_classes = [IsAuthenticated, require_flag(DATA_EXPORT_FLAG)]

    @extend_schema(
        operation_id="me_data_export",
        responses=s.DataExportOut,
        summary="One of your data exports (others' answer 404 data_export_not_found)",
    )
    def get(self, request: AuthedRequest, export_id: int) -> Response:
        export = data_export.access_data_export(user=request.user, export_id=export_id)
        return Response(data_export.data_export_payload(export))


class MyDataExportDownloadApi(APIView):
    permission_classes = [IsAuthenticated, require_flag(DATA_EXPORT_FLAG)]
    error_responses = {
        409: "`data_export_not_ready`: the ZIP is still being prepared (or failed).",
        410: "`data_export_expired`: past `ENCLAVE_DATA_EXPORT_TTL_HOURS`; ask for a new one.",
    }

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # Browsers ask for application/zip or */*; errors are still rendered as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="me_data_export_download",
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
        summary="Download your data export (the requester only; 410 once expired)",
    )
    def get(self, request: AuthedRequest, export_id: int) -> HttpResponseBase:
        export = data_export.access_data_export_download(user=request.user, export_id=export_id)
        data_export.data_export_downloaded(user=request.user, export=export)
        stamp = export.created_at.strftime("%Y%m%d")
        return serve_stored(
            request=request,
            storage_name=export.storage_name,
            content_type="application/zip",
            filename=f"enclave-data-{request.user.username}-{stamp}.zip",
            inline=False,
        )
