"""Every HTML page carries the security headers: a strict Content-Security-Policy, a
Permissions-Policy, nosniff, same-origin referrers and opener, and no framing.

Every page route outside the REST API and the admin site is listed in PAGES (how to open it)
or NOT_PAGES (why it renders no HTML): a new page route fails `test_every_page_route_is_checked`
until it is. The admin site is walked per role (every changelist of every registered model).
The browser side, no CSP violation on the main screens:
tests/e2e/test_content_security_policy.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import get_resolver, path, reverse

from apps.accounts import invitations
from apps.accounts.models import OrganizationSettings, Role, User
from apps.core.middleware import PERMISSIONS_POLICY
from apps.ops.models import FeatureFlag
from apps.workspace.digests import digest_unsubscribe_token
from tests.core.test_url_coverage import _walk
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

FIXED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": PERMISSIONS_POLICY,
}

# The strict core of the policy, spelled out here rather than imported, so that loosening
# apps/core/middleware.py fails this test.
STRICT_DIRECTIVES = {
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


def directives(policy: str) -> dict[str, str]:
    parts = (part.strip() for part in policy.split(";"))
    return dict(part.split(" ", 1) for part in parts if part)


SCRIPT_TAG = re.compile(rb"<script\b[^>]*>", flags=re.IGNORECASE)


def inline_code(html: bytes) -> list[bytes]:
    """What the policy would refuse in a page: <style> blocks, style attributes, and scripts
    that are neither loaded from a URL nor JSON data."""
    found = re.findall(rb"<style\b[^>]*>|\sstyle=\S{0,40}", html, flags=re.IGNORECASE)
    found += [
        tag
        for tag in SCRIPT_TAG.findall(html)
        if b" src=" not in tag and b'type="application/json"' not in tag
    ]
    return found


def assert_secure_page(response: Any, *, api_docs: bool = False) -> None:
    assert response["Content-Type"].startswith("text/html"), response["Content-Type"]
    if not api_docs:
        assert inline_code(response.content) == []
    for header, value in FIXED_HEADERS.items():
        assert response.get(header) == value, (header, response.get(header))
    expected = dict(STRICT_DIRECTIVES)
    policy = directives(response["Content-Security-Policy"])
    if api_docs:  # Swagger UI's one <style> block, by its hash; its scripts stay strict
        style = policy.pop("style-src").split()
        assert style[0] == "'self'"
        assert len(style) == 2
        assert style[1].startswith("'sha256-")
        del expected["style-src"]
    assert policy == expected


def client_of(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def owner() -> User:
    return UserFactory(username="owner", role=Role.OWNER, is_staff=True, is_superuser=True)


def member() -> User:
    return UserFactory(username="member")


def pending_second_factor() -> Client:
    """A client between the password and the code (the verify page renders only then)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.factories import PASSWORD

    user = UserFactory(username="tina")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    client = Client()
    client.post(reverse("accounts:login"), {"username": "tina", "password": PASSWORD})
    return client


def invitation_path() -> str:
    invitation = invitations.invitation_create(actor=owner(), email="new@example.com")
    return reverse("accounts:invitation-accept", args=[invitations.invitation_token(invitation)])


def open_signup() -> None:
    OrganizationSettings.objects.update_or_create(
        pk=1, defaults={"open_signup_enabled": True, "signup_allowed_domains": "example.com"}
    )


def helpdesk_on() -> None:
    FeatureFlag.objects.create(name="helpdesk", everyone=True)
    cache.clear()


# url name -> () -> (client, path): each opens the page as someone allowed to see it.
PAGES: dict[str, Callable[[], tuple[Client, str]]] = {
    "chat:home": lambda: (client_of(member()), reverse("chat:home")),
    "chat:channel": lambda: (client_of(member()), reverse("chat:channel", args=[1])),
    "accounts:login": lambda: (Client(), reverse("accounts:login")),
    "accounts:login-verify": lambda: (pending_second_factor(), reverse("accounts:login-verify")),
    "accounts:two-factor": lambda: (client_of(member()), reverse("accounts:two-factor")),
    "accounts:sessions": lambda: (client_of(member()), reverse("accounts:sessions")),
    "accounts:invitations": lambda: (client_of(owner()), reverse("accounts:invitations")),
    "accounts:invitation-accept": lambda: (Client(), invitation_path()),
    "accounts:signup": lambda: (open_signup() or Client(), reverse("accounts:signup")),
    "accounts:password-reset": lambda: (Client(), reverse("accounts:password-reset")),
    "accounts:password-reset-done": lambda: (Client(), reverse("accounts:password-reset-done")),
    # A link that does not check out still renders its page ("this link is invalid").
    "accounts:password-reset-confirm": lambda: (
        Client(),
        reverse("accounts:password-reset-confirm", args=["MQ", "set-password"]),
    ),
    "accounts:password-reset-complete": lambda: (
        Client(),
        reverse("accounts:password-reset-complete"),
    ),
    "accounts:password-change": lambda: (client_of(member()), reverse("accounts:password-change")),
    "accounts:password-change-done": lambda: (
        client_of(member()),
        reverse("accounts:password-change-done"),
    ),
    "helpdesk:ask": lambda: (helpdesk_on() or client_of(member()), reverse("helpdesk:ask")),
    "helpdesk:agent": lambda: (helpdesk_on() or client_of(member()), reverse("helpdesk:agent")),
    "ops-overview": lambda: (client_of(owner()), reverse("ops-overview")),
    "analytics": lambda: (client_of(owner()), reverse("analytics")),
    "api-docs": lambda: (Client(), reverse("api-docs")),
    # The page an e-mail digest's link opens (no sign-in: the token is the proof).
    "workspace:digest-unsubscribe": lambda: (
        Client(),
        reverse(
            "workspace:digest-unsubscribe",
            args=[digest_unsubscribe_token(user=member())],
        ),
    ),
}

# Routes outside the REST API and the admin site that render no HTML page.
NOT_PAGES = {
    "accounts:logout": "POST only, redirects",
    "accounts:set-language": "POST only, redirects",
    "analytics-csv": "CSV",
    "avatar-file": "an image",
    "schema": "the OpenAPI document",
    "javascript-catalog": "JavaScript",
    "integrations-hook": "incoming webhook, JSON",
    "integrations-hook-format": "incoming webhook, JSON",
    "healthz": "plain text",
    "readyz": "JSON",
    "metrics": "Prometheus text",
    "api-not-found": "JSON 404 under /api/",
}


def page_routes() -> set[str]:
    names = set()
    for route, namespace, pattern in _walk(get_resolver().url_patterns):
        if route.startswith("api/v1/") or namespace.startswith("admin"):
            continue
        names.add(f"{namespace}:{pattern.name}" if namespace else str(pattern.name))
    return names


def test_every_page_route_is_checked() -> None:
    unchecked = sorted(page_routes() - set(PAGES) - set(NOT_PAGES))
    stale = sorted((set(PAGES) | set(NOT_PAGES)) - page_routes())

    assert unchecked == [], f"add these routes to PAGES or NOT_PAGES: {unchecked}"
    assert stale == []


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_has_the_security_headers(name: str) -> None:
    client, page_path = PAGES[name]()

    response = client.get(page_path)

    assert response.status_code == 200, (page_path, response.status_code)
    assert_secure_page(response, api_docs=name == "api-docs")


def test_not_found_page_has_the_security_headers() -> None:
    response = client_of(member()).get("/no-such-page/")

    assert response.status_code == 404
    assert_secure_page(response)


def test_forbidden_page_has_the_security_headers() -> None:
    response = client_of(member()).get(reverse("accounts:invitations"))

    assert response.status_code == 403
    assert_secure_page(response)


def test_csrf_failure_page_has_the_security_headers() -> None:
    client = Client(enforce_csrf_checks=True)

    response = client.post(reverse("accounts:login"), {"username": "x", "password": "y"})

    assert response.status_code == 403
    assert b"login-card" in response.content  # ours (templates/403_csrf.html), not Django's
    assert_secure_page(response)


def _crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


urlpatterns = [path("crash/", _crash)]


@pytest.mark.urls(__name__)
def test_server_error_page_has_the_security_headers() -> None:
    client = Client(raise_request_exception=False)

    response = client.get("/crash/")

    assert response.status_code == 500
    assert_secure_page(response)


@pytest.mark.parametrize("role", [None, Role.MEMBER])
def test_who_may_not_use_the_admin_lands_on_a_page_with_the_headers(role: str | None) -> None:
    client = client_of(UserFactory(role=role) if role else None)

    response = client.get(reverse("admin:index"), follow=True)

    assert response.status_code in (200, 403)
    assert response.redirect_chain
    assert_secure_page(response)


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_admin_pages_have_the_security_headers(role: str) -> None:
    user = UserFactory(username=role, role=role, is_staff=True, is_superuser=role == Role.OWNER)
    client = client_of(user)
    assert_secure_page(client.get(reverse("admin:index")))
    opened = 0
    for model in admin.site._registry:
        meta = model._meta
        response = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        if response.status_code == 200:
            assert_secure_page(response)
            opened += 1
    assert opened >= 15
    add_user = client.get(reverse("admin:accounts_user_add"))
    assert add_user.status_code == 200
    assert_secure_page(add_user)


def test_the_inline_code_check_sees_styles_and_scripts() -> None:
    page = (
        b'<style>p {}</style><p style="color: red"></p><script>alert(1)</script>'
        b'<script type="module" src="/static/js/app.js"></script>'
        b'<script id="x" type="application/json">{}</script>'
    )

    assert inline_code(page) == [b"<style>", b' style="color:', b"<script>"]


def test_a_janus_on_another_host_is_the_only_other_origin_pages_may_connect_to(
    settings: Any,
) -> None:
    settings.ENCLAVE_JANUS_PUBLIC_URL = "wss://janus.example.com:8989/janus/"

    response = client_of(member()).get(reverse("chat:home"))

    policy = directives(response["Content-Security-Policy"])
    assert policy["connect-src"] == "'self' wss://janus.example.com:8989"
    assert policy["script-src"] == "'self'"


def test_a_janus_on_our_own_host_adds_no_source(settings: Any) -> None:
    settings.ENCLAVE_JANUS_PUBLIC_URL = "/janus/"

    response = client_of(member()).get(reverse("chat:home"))

    assert directives(response["Content-Security-Policy"])["connect-src"] == "'self'"
