"""Enclave's side of Janus (the SFU of meetings): rooms through the HTTP API, tokens through the
admin API. Server to server only, with the secrets from the settings; browsers never see them.

A room operation is a short-lived Janus session: create, attach the VideoRoom plugin, one
synchronous request, destroy. Tokens are Janus' stored tokens (`token_auth = true`): one per
participant, allowed the VideoRoom plugin only, added at join and removed when they leave.
"""

from __future__ import annotations

import json
import logging
import secrets
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

PLUGIN = "janus.plugin.videoroom"
MAX_RESPONSE_BYTES = 1 << 20


class JanusError(Exception):
    """Janus could not be reached or refused a request."""


def configured() -> bool:
    return bool(settings.ENCLAVE_JANUS_API_URL and settings.ENCLAVE_JANUS_ADMIN_URL)


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    body = {**body, "transaction": secrets.token_hex(8)}
    request = urllib.request.Request(  # noqa: S310 (a configured internal http(s) URL)
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(  # noqa: S310 (a configured internal http(s) URL)
            request, timeout=settings.ENCLAVE_JANUS_TIMEOUT_SECONDS
        ) as response:
            answer = json.loads(response.read(MAX_RESPONSE_BYTES))
    except (OSError, ValueError, urllib.error.URLError) as error:
        raise JanusError(f"janus unreachable: {error}") from error
    if not isinstance(answer, dict):
        raise JanusError("janus answered no object")
    if answer.get("janus") == "error":
        raise JanusError(f"janus error: {answer.get('error')}")
    return answer


def _admin(request: str, *path: int, **fields: Any) -> dict[str, Any]:
    url = "/".join([settings.ENCLAVE_JANUS_ADMIN_URL.rstrip("/"), *map(str, path)])
    return _post(
        url, {"janus": request, "admin_secret": settings.ENCLAVE_JANUS_ADMIN_SECRET, **fields}
    )


def server_info() -> dict[str, Any]:
    """GET /info: what /readyz checks (Janus answers, and the VideoRoom plugin is loaded)."""
    url = settings.ENCLAVE_JANUS_API_URL.rstrip("/") + "/info"
    try:
        with urllib.request.urlopen(  # noqa: S310
            url, timeout=settings.ENCLAVE_JANUS_TIMEOUT_SECONDS
        ) as response:
            info = json.loads(response.read(MAX_RESPONSE_BYTES))
    except (OSError, ValueError) as error:
        raise JanusError(f"janus unreachable: {error}") from error
    if not isinstance(info, dict) or PLUGIN not in (info.get("plugins") or {}):
        raise JanusError("janus answers without the VideoRoom plugin")
    return info


def videoroom(body: dict[str, Any]) -> dict[str, Any]:
    """One synchronous VideoRoom request in a session of its own; its `plugindata.data`."""
    base = settings.ENCLAVE_JANUS_API_URL.rstrip("/")
    secret = {"apisecret": settings.ENCLAVE_JANUS_API_SECRET}
    session = _post(base, {"janus": "create", **secret})["data"]["id"]
    try:
        handle = _post(f"{base}/{session}", {"janus": "attach", "plugin": PLUGIN, **secret})
        answer = _post(
            f"{base}/{session}/{handle['data']['id']}",
            {"janus": "message", "body": body, **secret},
        )
    finally:
        try:
            _post(f"{base}/{session}", {"janus": "destroy", **secret})
        except JanusError:
            logger.warning("janus session %s not destroyed", session)
    data = (answer.get("plugindata") or {}).get("data") or {}
    if data.get("videoroom") == "event" and data.get("error_code"):
        raise JanusError(f"videoroom error {data['error_code']}: {data.get('error')}")
    return dict(data)


def room_create(*, room: int, pin: str, secret: str, description: str, publishers: int) -> None:
    videoroom(
        {
            "request": "create",
            "admin_key": settings.ENCLAVE_JANUS_ADMIN_KEY,
            "room": room,
            "description": description[:100],
            "pin": pin,
            "secret": secret,
            "is_private": True,
            "publishers": publishers,
            "bitrate": 1_500_000,
            "fir_freq": 10,
            "audiocodec": "opus",
            "videocodec": "vp8",
            "audiolevel_event": True,
            "audio_active_packets": 50,
            "audio_level_average": 40,
            "notify_joining": True,
            "permanent": False,
        }
    )


def room_destroy(*, room: int, secret: str) -> None:
    try:
        videoroom({"request": "destroy", "room": room, "secret": secret})
    except JanusError as error:
        if "426" not in str(error):  # no such room: gone already
            raise


def room_kick(*, room: int, secret: str, feed_id: int) -> None:
    """Throw a publisher out of the room (its media stops for every subscriber)."""
    try:
        videoroom({"request": "kick", "room": room, "secret": secret, "id": feed_id})
    except JanusError as error:
        if "428" not in str(error) and "426" not in str(error):  # not (or no longer) there
            raise


def room_participants(*, room: int) -> list[dict[str, Any]]:
    data = videoroom({"request": "listparticipants", "room": room})
    return list(data.get("participants") or [])


def token_add(token: str) -> None:
    _admin("add_token", token=token, plugins=[PLUGIN])


def token_remove(token: str) -> None:
    try:
        _admin("remove_token", token=token)
    except JanusError as error:
        if "not found" not in str(error).lower() and "470" not in str(error):
            raise


def sessions_drop(*, opaque_id: str) -> int:
    """Destroy every Janus session with a handle attached under `opaque_id` (a participant's
    subscriptions as well as their publisher): their media stops at once. Counted."""
    dropped = 0
    for session in _admin("list_sessions").get("sessions") or []:
        try:
            handles = _admin("list_handles", session).get("handles") or []
            for handle in handles:
                info = _admin("handle_info", session, handle).get("info")
                if (info or {}).get("opaque_id") == opaque_id:
                    _admin("destroy_session", session)
                    dropped += 1
                    break
        except JanusError:
            continue  # the session went away meanwhile
    return dropped
