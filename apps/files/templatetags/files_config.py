"""Settings of the files app that the web client needs, for the chat page's data-* attributes."""

from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def chunked_upload_threshold() -> int:
    """Files larger than this many bytes are uploaded in resumable chunks (/api/v1/uploads/)."""
    return settings.ENCLAVE_UPLOAD_CHUNKED_THRESHOLD_BYTES
