"""The REST permission matrix: for every route under /api/v1/, who may call it and what the others
get back. `tests/chat/test_api_permissions.py` runs it; `tests/core/test_url_coverage.py` fails
when a route exists that has no entry here (the Zulip-style URL gate).

Actors: `owner` and `admin` are organisation roles without channel membership; `channel_admin`
created both channels; `member` belongs to both; `guest` (organisation guest) belongs to the
private channel only; `non_member` is an organisation member outside both; `anonymous` has no
credentials. `bystander` and `invitee` are people acted upon, never actors.
Each message carries a clean PNG uploaded by `member` (world.attachments), and `member` has a
resumable upload whose only chunk is stored (world.upload_session).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image
from rest_framework.response import Response
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.models import APIToken, Role, User
from apps.chat import services
from apps.chat.models import Channel, ChannelKind, Membership, Message, Reaction
from apps.files import services as file_services
from apps.files.models import Attachment, AttachmentStatus, UploadSession
from tests.factories import PASSWORD, UserFactory

PUBLIC = "public"
PRIVATE = "private"
NONE = "-"
BAD_PASSWORD = "bad-password"  # a scope: the case posts a wrong password
NOT_IMAGE = "not-image"  # a scope: the case uploads text as a picture

# The actors every route must have a case for (DESIGN.md §6), and all of them.
CORE_ACTORS = ("owner", "admin", "member", "guest", "non_member", "anonymous")
SIGNED_IN = ("owner", "admin", "channel_admin", "member", "guest", "non_member")
ACTORS = (*SIGNED_IN, "anonymous")
ORG_ROLES = {
    "owner": Role.OWNER,
    "admin": Role.ADMIN,
    "channel_admin": Role.MEMBER,
    "member": Role.MEMBER,
    "guest": Role.GUEST,
    "non_member": Role.MEMBER,
    "bystander": Role.MEMBER,
    "invitee": Role.MEMBER,
}


@dataclass
class World:
    users: dict[str, User]
    channels: dict[str, Channel]
    messages: dict[str, Message]
    member_token: APIToken
    attachments: dict[str, Attachment] = field(default_factory=dict)
    upload_session: UploadSession | None = None

    def user(self, actor: str) -> User | None:
        return None if actor == "anonymous" else self.users[actor]

    def channel_id(self, scope: str) -> int:
        return self.channels[scope].pk

    def message_id(self, scope: str) -> int:
        return self.messages[scope].pk


def build_world() -> World:
    """Two channels, one message by `member` in each (with member's 👍), one token of member's."""
    users = {
        name: UserFactory(username=name.replace("_", ""), role=role)
        for name, role in ORG_ROLES.items()
    }
    public = services.channel_create(
        creator=users["channel_admin"],
        kind=ChannelKind.PUBLIC,
        name="public-room",
        member_ids=[users["member"].pk, users["bystander"].pk],
    )
    private = services.channel_create(
        creator=users["channel_admin"],
        kind=ChannelKind.PRIVATE,
        name="private-room",
        member_ids=[users["member"].pk, users["guest"].pk, users["bystander"].pk],
    )
    messages = {}
    attachments = {}
    for scope, channel in ((PUBLIC, public), (PRIVATE, private)):
        attachments[scope] = clean_image_attachment(users["member"], name=f"{scope}.png")
        message = services.message_send(
            sender=users["member"],
            channel_id=channel.pk,
            body=f"hello {scope}",
            attachment_ids=[attachments[scope].pk],
        ).message
        services.reaction_add(user=users["member"], message_id=message.pk, emoji="👍")
        messages[scope] = message
    token, _raw = account_services.api_token_create(user=users["member"], name="laptop")
    upload_session = file_services.upload_session_create(
        uploader=users["member"], name="resumed.bin", size=len(CHUNK)
    )
    file_services.upload_session_put_chunk(
        user=users["member"], session_id=upload_session.pk, index=0, data=CHUNK
    )
    return World(
        users=users,
        channels={PUBLIC: public, PRIVATE: private},
        messages=messages,
        member_token=token,
        attachments=attachments,
        upload_session=upload_session,
    )


CHUNK = b"0123456789"


def png_bytes(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(out, format="PNG")
    return out.getvalue()


def clean_image_attachment(uploader: User, *, name: str) -> Attachment:
    """An uploaded PNG marked clean (as if clamd said OK) and given its thumbnail."""
    attachment = file_services.attachment_upload(
        uploader=uploader, source=io.BytesIO(png_bytes()), name=name
    )
    Attachment.objects.filter(pk=attachment.pk).update(status=AttachmentStatus.CLEAN)
    file_services.attachment_make_thumbnail(attachment_id=attachment.pk)
    attachment.refresh_from_db()
    return attachment


def state_fingerprint() -> tuple[Any, ...]:
    """Everything a REST write could change; equal before and after a refused request."""
    return (
        list(
            Channel.objects.order_by("pk").values_list(
                "pk", "name", "topic", "description", "is_archived", "last_seq"
            )
        ),
        list(
            Membership.objects.order_by("pk").values_list(
                "channel_id", "user_id", "role", "is_muted", "notification_level", "last_read_seq"
            )
        ),
        list(Message.objects.order_by("pk").values_list("pk", "version", "body", "deleted_at")),
        list(Reaction.objects.order_by("pk").values_list("message_id", "user_id", "emoji")),
        list(APIToken.objects.order_by("pk").values_list("pk", "name", "revoked_at")),
        list(User.objects.order_by("pk").values_list("pk", "display_name", "is_active")),
        list(
            Attachment.objects.order_by("pk").values_list(
                "pk", "status", "message_id", "deleted_at", "released_by_id"
            )
        ),
        list(
            UploadSession.objects.order_by("pk").values_list(
                "pk", "received_chunks", "completed_attachment_id"
            )
        ),
    )


# --- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    actor: str
    scope: str
    status: int
    code: str | None = None

    @property
    def allowed(self) -> bool:
        return self.status < 400


def allowed(status: int, *actors: str, scope: str = NONE) -> list[Case]:
    return [Case(actor, scope, status) for actor in actors]


def refused(status: int, code: str, *actors: str, scope: str = NONE) -> list[Case]:
    return [Case(actor, scope, status, code) for actor in actors]


def anonymous(*scopes: str) -> list[Case]:
    return [Case("anonymous", scope, 401, "not_authenticated") for scope in scopes]


def everyone(status: int) -> list[Case]:
    """Any signed-in user may; anonymous gets 401."""
    return [*allowed(status, *SIGNED_IN), *anonymous(NONE)]


def read(status: int, not_found: str) -> list[Case]:
    """Members read; non-guests also read public channels; outsiders of private ones get 404."""
    return [
        *allowed(status, "owner", "admin", "channel_admin", "member", "non_member", scope=PUBLIC),
        *refused(404, not_found, "guest", scope=PUBLIC),
        *allowed(status, "channel_admin", "member", "guest", scope=PRIVATE),
        *refused(404, not_found, "owner", "admin", "non_member", scope=PRIVATE),
        *anonymous(PUBLIC, PRIVATE),
    ]


def post(status: int, not_found: str) -> list[Case]:
    """Only members post (react, type, mark read, leave, change their settings)."""
    return [
        *allowed(status, "channel_admin", "member", scope=PUBLIC),
        *refused(403, "not_member", "owner", "admin", "non_member", scope=PUBLIC),
        *refused(404, not_found, "guest", scope=PUBLIC),
        *allowed(status, "channel_admin", "member", "guest", scope=PRIVATE),
        *refused(404, not_found, "owner", "admin", "non_member", scope=PRIVATE),
        *anonymous(PUBLIC, PRIVATE),
    ]


def manage(status: int) -> list[Case]:
    """Channel admins; org admins and owners too, on public channels (private: members only)."""
    return [
        *allowed(status, "owner", "admin", "channel_admin", scope=PUBLIC),
        *refused(403, "not_channel_admin", "member", "non_member", scope=PUBLIC),
        *refused(404, "channel_not_found", "guest", scope=PUBLIC),
        *allowed(status, "channel_admin", scope=PRIVATE),
        *refused(403, "not_channel_admin", "member", "guest", scope=PRIVATE),
        *refused(404, "channel_not_found", "owner", "admin", "non_member", scope=PRIVATE),
        *anonymous(PUBLIC, PRIVATE),
    ]


Body = Callable[[World, Case], Any]


@dataclass(frozen=True)
class Route:
    """How to call one (url name, method) and what each actor gets."""

    cases: list[Case]
    kwargs: Callable[[World, Case], dict[str, int]] = lambda world, case: {}
    body: Body | None = None
    query: Callable[[World, Case], dict[str, Any]] | None = None
    format: str = "json"
    # A raw body of this content type instead of `format` (chunk uploads).
    content_type: str | None = None


def channel_kw(world: World, case: Case) -> dict[str, int]:
    return {"channel_id": world.channel_id(case.scope)}


def message_kw(world: World, case: Case) -> dict[str, int]:
    return {"message_id": world.message_id(case.scope)}


def attachment_kw(world: World, case: Case) -> dict[str, Any]:
    return {"attachment_id": world.attachments[PRIVATE if case.scope == PRIVATE else PUBLIC].pk}


def files_admin(status: int) -> list[Case]:
    """Organisation admins and owners only (quarantine, release, rescan, usage)."""
    return [
        *allowed(status, "owner", "admin"),
        *refused(403, "not_org_admin", "channel_admin", "member", "guest", "non_member"),
        *anonymous(NONE),
    ]


def own_upload(status: int) -> list[Case]:
    """Only the uploader (`member`) reaches their upload session; to others it does not exist."""
    return [
        *allowed(status, "member"),
        *refused(404, "upload_not_found", "owner", "admin", "channel_admin", "guest"),
        *refused(404, "upload_not_found", "non_member"),
        *anonymous(NONE),
    ]


def bystander_kw(world: World, case: Case) -> dict[str, int]:
    return {"channel_id": world.channel_id(case.scope), "user_id": world.users["bystander"].pk}


def avatar_body(world: World, case: Case) -> dict[str, Any]:
    if case.scope == NOT_IMAGE:
        return {"avatar": SimpleUploadedFile("me.png", b"not a picture", "image/png")}
    return {"avatar": SimpleUploadedFile("me.png", png_bytes(), "image/png")}


def token_obtain_body(world: World, case: Case) -> dict[str, str]:
    user = world.users["invitee" if case.actor == "anonymous" else case.actor]
    password = "wrong" if case.scope == BAD_PASSWORD else PASSWORD
    return {"username": user.username, "password": password, "name": "cli"}


MATRIX: dict[tuple[str, str], Route] = {
    # --- chat ---
    ("chat_api:channels", "get"): Route(everyone(200)),
    ("chat_api:channels", "post"): Route(
        [
            *allowed(201, "owner", "admin", "channel_admin", "member", "non_member"),
            *refused(403, "guest_forbidden", "guest"),
            *anonymous(NONE),
        ],
        body=lambda world, case: {"kind": "public", "name": f"new-{case.actor}"},
    ),
    ("chat_api:channels-browse", "get"): Route(everyone(200)),
    ("chat_api:channel", "get"): Route(read(200, "channel_not_found"), kwargs=channel_kw),
    ("chat_api:channel", "patch"): Route(
        manage(200), kwargs=channel_kw, body=lambda world, case: {"topic": "changed"}
    ),
    ("chat_api:archive", "post"): Route(manage(200), kwargs=channel_kw),
    ("chat_api:unarchive", "post"): Route(manage(200), kwargs=channel_kw),
    ("chat_api:join", "post"): Route(read(200, "channel_not_found"), kwargs=channel_kw),
    ("chat_api:leave", "post"): Route(post(204, "channel_not_found"), kwargs=channel_kw),
    ("chat_api:members", "get"): Route(read(200, "channel_not_found"), kwargs=channel_kw),
    ("chat_api:members", "post"): Route(
        [
            *allowed(204, "owner", "admin", "channel_admin", "member", scope=PUBLIC),
            *refused(403, "cannot_invite", "non_member", scope=PUBLIC),
            *refused(404, "channel_not_found", "guest", scope=PUBLIC),
            *allowed(204, "channel_admin", scope=PRIVATE),
            *refused(403, "cannot_invite", "member", "guest", scope=PRIVATE),
            *refused(404, "channel_not_found", "owner", "admin", "non_member", scope=PRIVATE),
            *anonymous(PUBLIC, PRIVATE),
        ],
        kwargs=channel_kw,
        body=lambda world, case: {"user_ids": [world.users["invitee"].pk]},
    ),
    ("chat_api:member", "patch"): Route(
        manage(200), kwargs=bystander_kw, body=lambda world, case: {"role": "admin"}
    ),
    ("chat_api:member", "delete"): Route(manage(204), kwargs=bystander_kw),
    ("chat_api:membership", "patch"): Route(
        post(200, "channel_not_found"),
        kwargs=channel_kw,
        body=lambda world, case: {"is_muted": True, "notification_level": "mentions"},
    ),
    ("chat_api:messages", "get"): Route(read(200, "channel_not_found"), kwargs=channel_kw),
    ("chat_api:messages", "post"): Route(
        post(201, "channel_not_found"),
        kwargs=channel_kw,
        body=lambda world, case: {"body": "hi there"},
    ),
    ("chat_api:read", "post"): Route(
        post(200, "channel_not_found"),
        kwargs=channel_kw,
        body=lambda world, case: {"seq": 2},
    ),
    ("chat_api:typing", "post"): Route(
        post(204, "channel_not_found"), kwargs=channel_kw, body=lambda world, case: {}
    ),
    ("chat_api:direct", "post"): Route(
        everyone(200), body=lambda world, case: {"user_ids": [world.users["bystander"].pk]}
    ),
    ("chat_api:message", "get"): Route(read(200, "message_not_found"), kwargs=message_kw),
    ("chat_api:message", "patch"): Route(
        [
            *allowed(200, "member", scope=PUBLIC),
            *refused(
                403, "not_author", "owner", "admin", "channel_admin", "non_member", scope=PUBLIC
            ),
            *refused(404, "message_not_found", "guest", scope=PUBLIC),
            *allowed(200, "member", scope=PRIVATE),
            *refused(403, "not_author", "channel_admin", "guest", scope=PRIVATE),
            *refused(404, "message_not_found", "owner", "admin", "non_member", scope=PRIVATE),
            *anonymous(PUBLIC, PRIVATE),
        ],
        kwargs=message_kw,
        body=lambda world, case: {"body": "changed"},
    ),
    ("chat_api:message", "delete"): Route(
        [
            *allowed(204, "owner", "admin", "channel_admin", "member", scope=PUBLIC),
            *refused(403, "not_author", "non_member", scope=PUBLIC),
            *refused(404, "message_not_found", "guest", scope=PUBLIC),
            *allowed(204, "channel_admin", "member", scope=PRIVATE),
            *refused(403, "not_author", "guest", scope=PRIVATE),
            *refused(404, "message_not_found", "owner", "admin", "non_member", scope=PRIVATE),
            *anonymous(PUBLIC, PRIVATE),
        ],
        kwargs=message_kw,
    ),
    ("chat_api:thread", "get"): Route(read(200, "message_not_found"), kwargs=message_kw),
    ("chat_api:reactions", "post"): Route(
        post(200, "message_not_found"),
        kwargs=message_kw,
        body=lambda world, case: {"emoji": "🎉"},
    ),
    ("chat_api:reactions", "delete"): Route(
        post(200, "message_not_found"),
        kwargs=message_kw,
        query=lambda world, case: {"emoji": "👍"},
    ),
    ("chat_api:presence", "get"): Route(
        everyone(200), query=lambda world, case: {"user_ids": str(world.users["member"].pk)}
    ),
    ("chat_api:presence", "post"): Route(
        everyone(200), body=lambda world, case: {"status": "online"}
    ),
    ("search_api:search", "get"): Route(
        read(200, "channel_not_found"),
        query=lambda world, case: {"q": "hello", "channel_id": world.channel_id(case.scope)},
    ),
    # --- accounts ---
    ("accounts_api:me", "get"): Route(everyone(200)),
    ("accounts_api:me", "patch"): Route(
        everyone(200), body=lambda world, case: {"display_name": "Renamed"}
    ),
    ("accounts_api:me-avatar", "put"): Route(
        [
            *everyone(200),
            *refused(400, "avatar_not_image", "member", "guest", scope=NOT_IMAGE),
        ],
        body=avatar_body,
        format="multipart",
    ),
    ("accounts_api:me-avatar", "delete"): Route(everyone(200)),
    ("accounts_api:users", "get"): Route(everyone(200)),
    ("accounts_api:user", "get"): Route(
        [
            *allowed(200, "owner", "admin", "channel_admin", "member", "non_member"),
            *refused(404, "user_not_found", "guest"),
            *anonymous(NONE),
        ],
        kwargs=lambda world, case: {"user_id": world.users["invitee"].pk},
    ),
    ("accounts_api:token-obtain", "post"): Route(
        [
            *allowed(201, *ACTORS),
            *refused(401, "invalid_credentials", "anonymous", "member", scope=BAD_PASSWORD),
        ],
        body=token_obtain_body,
    ),
    ("accounts_api:tokens", "get"): Route(everyone(200)),
    ("accounts_api:tokens", "post"): Route(everyone(201), body=lambda world, case: {"name": "ci"}),
    ("accounts_api:token", "delete"): Route(
        [
            *allowed(204, "member"),
            *refused(404, "not_found", "owner", "admin", "channel_admin", "guest", "non_member"),
            *anonymous(NONE),
        ],
        kwargs=lambda world, case: {"token_id": world.member_token.pk},
    ),
    ("accounts_api:sessions", "get"): Route(everyone(200)),
    ("accounts_api:sessions-end-others", "post"): Route(everyone(200)),
    # --- files ---
    ("files_api:files", "post"): Route(
        everyone(201),
        body=lambda world, case: {"file": SimpleUploadedFile("report.txt", b"quarterly numbers")},
        format="multipart",
    ),
    ("files_api:file", "get"): Route(read(200, "file_not_found"), kwargs=attachment_kw),
    ("files_api:file", "delete"): Route(
        [
            *allowed(204, "owner", "admin", "member", scope=PUBLIC),
            *refused(403, "not_uploader", "channel_admin", "non_member", scope=PUBLIC),
            *refused(404, "file_not_found", "guest", scope=PUBLIC),
            *allowed(204, "owner", "admin", "member", scope=PRIVATE),
            *refused(403, "not_uploader", "channel_admin", "guest", scope=PRIVATE),
            *refused(404, "file_not_found", "non_member", scope=PRIVATE),
            *anonymous(PUBLIC, PRIVATE),
        ],
        kwargs=attachment_kw,
    ),
    ("files_api:download", "get"): Route(read(200, "file_not_found"), kwargs=attachment_kw),
    ("files_api:preview", "get"): Route(read(200, "file_not_found"), kwargs=attachment_kw),
    ("files_api:thumbnail", "get"): Route(read(200, "file_not_found"), kwargs=attachment_kw),
    ("files_api:rescan", "post"): Route(files_admin(200), kwargs=attachment_kw),
    ("files_api:release", "post"): Route(files_admin(200), kwargs=attachment_kw),
    ("files_api:quarantine", "get"): Route(files_admin(200)),
    ("files_api:usage", "get"): Route(files_admin(200)),
    ("files_api:channel-files", "get"): Route(read(200, "channel_not_found"), kwargs=channel_kw),
    ("files_api:uploads", "post"): Route(
        everyone(201), body=lambda world, case: {"name": "big.iso", "size": 5_000_000}
    ),
    ("files_api:upload-chunk", "put"): Route(
        own_upload(200),
        kwargs=lambda world, case: {"session_id": world.upload_session.pk, "index": 0},
        body=lambda world, case: CHUNK,
        content_type="application/octet-stream",
    ),
    ("files_api:upload-complete", "post"): Route(
        own_upload(201), kwargs=lambda world, case: {"session_id": world.upload_session.pk}
    ),
}


def matrix_params() -> list[tuple[str, str, Case]]:
    return [
        (name, method, case) for (name, method), route in MATRIX.items() for case in route.cases
    ]


def case_id(name: str, method: str, case: Case) -> str:
    scope = "" if case.scope == NONE else f"-{case.scope}"
    return f"{name.split(':')[1]}-{method}{scope}-{case.actor}-{case.status}"


def call(world: World, name: str, method: str, case: Case) -> Response:
    """Make the request of one matrix case as its actor."""
    route = MATRIX[(name, method)]
    path = reverse(name, kwargs=route.kwargs(world, case))
    if route.query is not None:
        path = f"{path}?{urlencode(route.query(world, case))}"
    client = APIClient()
    user = world.user(case.actor)
    if user is not None and name != "accounts_api:token-obtain":
        client.force_authenticate(user)
    body = route.body(world, case) if route.body is not None else None
    if route.content_type is not None:
        return getattr(client, method)(path, body, content_type=route.content_type)
    return getattr(client, method)(path, body, format=route.format)
