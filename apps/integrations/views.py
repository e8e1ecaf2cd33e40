"""The incoming webhook receiver: POST /hooks/<token>/ (Slack-compatible) and
/hooks/<token>/<gitlab|jenkins|alertmanager|slack>/.

Not a DRF view: the caller is a CI server or Alertmanager with no session or token, only the
secret URL; no CSRF (no cookies are used). Answers are JSON with a stable `code`:
200 posted, 400 `invalid_json` / `invalid_payload` / `unsupported_event`, 403
`bot_deactivated` (or a chat refusal such as `channel_archived`), 404 `webhook_not_found` /
`unknown_format`, 405 for other methods, 413 `payload_too_large`, 415 `unsupported_media_type`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.errors import DomainError
from apps.integrations import services


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "details": {}}, status=status)


def _payload(request: HttpRequest) -> Any:
    content_type = (request.content_type or "").lower()
    if content_type == "application/x-www-form-urlencoded":
        # Slack's older form: payload=<json>
        form = parse_qs(request.body.decode("utf-8", "replace"))
        return json.loads(form.get("payload", [""])[0])
    if content_type not in ("application/json", "text/plain", ""):
        raise ValueError("media")
    return json.loads(request.body)


@csrf_exempt
@require_POST
def incoming_webhook(request: HttpRequest, token: str, fmt: str = "slack") -> JsonResponse:
    limit = settings.ENCLAVE_WEBHOOK_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if (declared.isdigit() and int(declared) > limit) or len(request.body) > limit:
        return _error(413, "payload_too_large", _("The payload is too large."))
    try:
        payload = _payload(request)
    except ValueError as exc:
        if str(exc) == "media":
            return _error(415, "unsupported_media_type", _("Send JSON."))
        return _error(400, "invalid_json", _("The body is not valid JSON."))
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        message = services.incoming_webhook_post(
            raw_token=token, fmt=fmt, payload=payload, headers=headers
        )
    except DomainError as error:
        return JsonResponse(error.as_dict(), status=error.http_status)
    return JsonResponse({"ok": True, "message_id": message.pk})
