"""Pages of the workplace: the unsubscribe link of the e-mail digests (no sign-in needed)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.core.errors import InvalidInput
from apps.workspace import digests

_TEMPLATE = "workspace/unsubscribe.html"


# The signed token in the address is the credential, not a session: mail clients' one-click
# unsubscribe (RFC 8058, a POST from the mail provider) carries no CSRF token, and a forged
# request could only do what the link's owner asked for. GET only asks (link scanners and
# previews open links); POST turns the e-mails off.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def digest_unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm (GET) and stop (POST) the e-mail digests of the link's owner."""
    try:
        user = digests.digest_unsubscribe_user(token=token)
    except InvalidInput as error:
        return render(request, _TEMPLATE, {"invalid": error.message}, status=400)
    with translation.override(user.language or translation.get_language()):
        if request.method == "POST":
            digests.digest_unsubscribe(token=token)
            return render(request, _TEMPLATE, {"done": True})
        return render(request, _TEMPLATE, {})
