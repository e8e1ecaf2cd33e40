"""The OpenAPI schema's error responses, for every operation in one place.

Every REST error has one shape (`apps.core.api.exception_handler`); which statuses an
operation can answer follows from what the view is: who may call it (401, 403), whether it
names objects (404), takes a body (400, 413, 415), changes state (409), is throttled (429).
A view adds statuses only it produces (a search time-out's 503) with `error_responses`, and an
explicit `@extend_schema(responses=...)` entry always wins.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_doc
from rest_framework import permissions, serializers


class ErrorOut(serializers.Serializer):
    """Every 4xx/5xx answer of the API."""

    code = serializers.CharField(
        help_text="Stable machine-readable code (`not_found`, `invalid`, `client_msg_id_reused`,"
        " ...); the status descriptions list the usual ones."
    )
    message = serializers.CharField(help_text="For people, in the user's language.")
    details = serializers.DictField(
        help_text="More about it: for `invalid`, each field's (or `field.index`'s) messages."
    )


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Bad input: `invalid` (the fields and their messages in `details`; an item of a list"
    " as `field.index`), `invalid_field`, `malformed_request` (not JSON), or the operation's"
    " own code (`empty_message`, `message_too_long`, `invalid_attachment`, ...).",
    401: "`not_authenticated` (no credentials) or `authentication_failed` (a wrong, revoked or"
    " expired token).",
    403: "`forbidden`, `csrf_failed` (a browser session without its CSRF token),"
    " `two_factor_required`, or a rule's own code (`not_member`, `channel_archived`,"
    " `guest_forbidden`, `not_org_admin`, `quota_exceeded`, ...).",
    404: "`not_found` or the object's own code (`channel_not_found`, `message_not_found`,"
    " `user_not_found`, `file_not_found`, ...): it does not exist or you may not see it.",
    406: "`not_acceptable`: ask for `application/json`.",
    409: "A conflict with the current state: `name_taken`, `client_msg_id_reused` (the"
    " `client_msg_id` was already used in another channel), `upload_expired`,"
    " `upload_complete`, ...",
    413: "`file_too_large`: above `ENCLAVE_UPLOAD_MAX_BYTES`.",
    415: "`unsupported_media_type` (send the documented content type) or `type_mismatch` (the"
    " file's content does not match its name).",
    429: "`rate_limited`: too many requests; wait `Retry-After` seconds.",
    503: "The service is briefly unavailable; try again.",
}

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
UPLOAD_MEDIA = ("multipart/form-data", "application/octet-stream", "*/*")


class EnclaveAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the error responses each operation can give."""

    def get_description(self) -> str:  # type: ignore[override]
        # drf-spectacular reads a viewset's `action` (a method name); a plain APIView may use
        # that attribute for something else (a callable), which must not break the schema.
        if isinstance(getattr(self.view, "action", None), str | None):
            return str(super().get_description())
        method = getattr(self.view, self.method.lower(), None)
        return get_doc(method) or get_doc(self.view.__class__)

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for status, description in self._error_statuses().items():
            if str(status) in responses:
                continue
            response = self._get_response_for_code(ErrorOut, str(status), direction=direction)
            response["description"] = description
            responses[str(status)] = response
        return responses

    def _error_statuses(self) -> dict[int, str]:
        view = self.view
        method = self.method.upper()
        statuses = [400, 406]
        authenticates = bool(getattr(view, "authentication_classes", None))
        open_to_all = all(
            isinstance(permission, permissions.AllowAny) for permission in view.get_permissions()
        )
        if authenticates or not open_to_all:
            statuses += [401, 403]
        if not open_to_all or "{" in self.path:
            statuses.append(404)  # an object that does not exist or that you may not see
        if method in UNSAFE:
            statuses.append(409)
        if method in WITH_BODY:
            statuses.append(415)
            if any(media in UPLOAD_MEDIA for media in self.map_parsers()):
                statuses.append(413)
        if view.get_throttles():
            statuses.append(429)
        described = {status: ERROR_DESCRIPTIONS[status] for status in statuses}
        described.update(getattr(view, "error_responses", {}))
        return dict(sorted(described.items()))
