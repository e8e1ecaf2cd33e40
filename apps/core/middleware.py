"""HTTP middleware shared by every page: the Content-Security-Policy and Permissions-Policy.

Django's `SecurityMiddleware` sends the other security headers (`X-Content-Type-Options`,
`Referrer-Policy`, `Cross-Origin-Opener-Policy`, HSTS in production) and
`XFrameOptionsMiddleware` sends `X-Frame-Options`; their settings are in
`config/settings/base.py`. docs/architecture/http.md describes the whole set.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from functools import cache
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import get_template


def _policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {sources}" for name, sources in directives.items())


# The app's policy: no inline script or style anywhere (styles set from JavaScript through the
# CSSOM, `element.style.x = ...`, are not inline styles and stay allowed), no plugin, no
# <base>, no framing (a PDF preview, framed by our own viewer, is a file response with a policy
# of its own: apps/files/api.py). 'self' in connect-src also covers ws:/wss: to our own host
# (CSP level 3; Chromium, Firefox, Safari 15.4+).
APP_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "media-src": "'self' blob:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

# Swagger UI's page (/api/docs/, drf-spectacular's template) has one <style> block: its
# policy allows that block by its hash, nothing else inline. Its scripts stay strict (the split
# view serves its start-up script from a URL, not inline).
API_DOCS_PREFIX = "/api/docs/"
API_DOCS_TEMPLATE = "drf_spectacular/swagger_ui.html"

# Calls (apps/calls) may use camera, microphone and screen sharing from our own pages; the other
# powerful features are off. Only names Chromium knows: an unknown one is a console error,
# which fails the browser tests.
PERMISSIONS_POLICY = ", ".join(
    [
        "camera=(self)",
        "microphone=(self)",
        "display-capture=(self)",
        "fullscreen=(self)",
        "accelerometer=()",
        "autoplay=(self)",
        "geolocation=()",
        "gyroscope=()",
        "hid=()",
        "idle-detection=()",
        "magnetometer=()",
        "midi=()",
        "payment=()",
        "screen-wake-lock=()",
        "serial=()",
        "usb=()",
        "xr-spatial-tracking=()",
    ]
)


def inline_style_hashes(template_name: str) -> list[str]:
    """CSP sources for the <style> blocks of a template (static text: rendered as written)."""
    source = get_template(template_name).template.source  # type: ignore[attr-defined]
    blocks = re.findall(r"<style>(.*?)</style>", source, flags=re.DOTALL)
    digests = (hashlib.sha256(block.encode()).digest() for block in blocks)
    return [f"'sha256-{base64.b64encode(digest).decode()}'" for digest in digests]


def _origin(url: str) -> str:
    """`scheme://host[:port]` of an absolute URL, or "" for a relative or empty one."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


@cache
def policies(janus_public_url: str) -> tuple[str, str]:
    """(the app's policy, the API docs' policy). Browsers open meetings' WebSocket to Janus
    at ENCLAVE_JANUS_PUBLIC_URL, which may be another host: connect-src names its origin."""
    app = dict(APP_DIRECTIVES)
    janus = _origin(janus_public_url)
    if janus:
        app["connect-src"] = f"'self' {janus}"
    docs = dict(app, **{"style-src": " ".join(["'self'", *inline_style_hashes(API_DOCS_TEMPLATE)])})
    return _policy(app), _policy(docs)


def content_security_policy(path: str) -> str:
    """The policy of the page at `path`."""
    app, docs = policies(settings.ENCLAVE_JANUS_PUBLIC_URL)
    return docs if path.startswith(API_DOCS_PREFIX) else app


class SecurityHeadersMiddleware:
    """Adds the Content-Security-Policy and Permissions-Policy to every response that has none
    (file downloads set a stricter policy of their own)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(
            "Content-Security-Policy", content_security_policy(request.path)
        )
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
