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
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from rest_framework.response import Response
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.models import APIToken, OrganizationSettings, Role, User
from apps.calls import services as call_services
from apps.calls.models import CallParticipant, CallSession
from apps.chat import services
from apps.chat.models import Channel, ChannelKind, Membership, Message, MessagePin, Reaction
from apps.files import services as file_services
from apps.files.models import Attachment, AttachmentStatus, UploadSession
from apps.helpdesk import services as helpdesk_services
from apps.helpdesk.models import CannedReply, HelpDesk, Ticket, TicketEntry
from apps.integrations import services as integration_services
from apps.integrations.models import Bot, LinkPreview
from apps.ops.models import FeatureFlag
from apps.workspace.models import Reminder, SavedMessage
from tests.factories import PASSWORD, UserFactory

PUBLIC = "public"
PRIVATE = "private"
NONE = "-"
BAD_PASSWORD = "bad-password"  # a scope: the case posts a wrong password
NOT_IMAGE = "not-image"  # a scope: the case uploads text as a picture
# Calls (the `calls` flag is on): `non_member` may call `bystander` in their DM; `channel_admin` is
# ringing `member` (RINGING), `owner` and `admin` are talking (ACTIVE).
DM = "dm"
RINGING = "ringing"
ACTIVE = "active"
OPEN_TICKET = "open-ticket"
SOLVED_TICKET = "solved-ticket"
MEETING = "meeting"  # a meeting (through Janus) in the private channel
EMPTY_STATUS = "empty-status"  # a scope: the case sets a status with neither emoji nor text
PAST_PAUSE = "past-pause"  # a scope: the case pauses notifications until a time gone by

# The actors every route must have a case for (CONTRIBUTING.md, "Tests"), and all of them.
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
    # A bot account (integrations): owned by `channel_admin`, a member of the public channel.
    "bot": Role.MEMBER,
}


@dataclass
class World:
    users: dict[str, User]
    channels: dict[str, Channel]
    messages: dict[str, Message]
    member_token: APIToken
    attachments: dict[str, Attachment] = field(default_factory=dict)
    upload_session: UploadSession | None = None
    call_ids: dict[str, int] = field(default_factory=dict)
    # Integrations (the `integrations` and `link_previews` flags are on): ids of the bot, its
    # token, webhooks, a custom command, a poll, a bot message with buttons and a preview.
    integration_ids: dict[str, int] = field(default_factory=dict)
    # The help desk (the `helpdesk` flag is on): `channel_admin` is its agent, `member` asked
    # ticket OPEN_TICKET (handed over to a person) and SOLVED_TICKET (answered, then solved).
    helpdesk_ids: dict[str, int] = field(default_factory=dict)
    # Reminders (the `workplace_reminders` flag is on): `member`'s pending reminder.
    reminder_id: int = 0

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
    FeatureFlag.objects.create(name="calls", everyone=True)
    FeatureFlag.objects.create(name="assistant", everyone=True)
    FeatureFlag.objects.create(name="workplace_inbox", everyone=True)
    FeatureFlag.objects.create(name="workplace_reminders", everyone=True)
    reminder = Reminder.objects.create(
        user=users["member"],
        message=messages[PUBLIC],
        about_message=True,
        remind_at=timezone.now() + timedelta(days=1),
    )
    FeatureFlag.objects.create(name="pins_saved", everyone=True)
    FeatureFlag.objects.create(name="status_dnd", everyone=True)
    FeatureFlag.objects.create(name="data_export", everyone=True)
    OrganizationSettings.objects.update_or_create(pk=1, defaults={"read_receipts_enabled": True})
    call_dm = services.dm_open(user=users["non_member"], user_ids=[users["bystander"].pk])
    ringing_dm = services.dm_open(user=users["channel_admin"], user_ids=[users["member"].pk])
    ringing = call_services.call_start(user=users["channel_admin"], channel_id=ringing_dm.pk)
    # The world outlives the ring time on a slow run: this call rings until the tests end.
    CallSession.objects.filter(pk=ringing.pk).update(
        ring_deadline=ringing.ring_deadline + timedelta(days=1)
    )
    meeting = _meeting_of(users["bystander"], private)
    active_dm = services.dm_open(user=users["owner"], user_ids=[users["admin"].pk])
    active = call_services.call_start(user=users["owner"], channel_id=active_dm.pk)
    call_services.call_accept(user=users["admin"], call_id=active.pk)
    integration_ids = build_integrations(users, public, messages[PUBLIC])
    FeatureFlag.objects.create(name="helpdesk", everyone=True)
    desk = HelpDesk.objects.create(name="IT")
    desk.agents.add(users["channel_admin"])
    helpdesk_services.faq_save(
        helpdesk=desk, question="Opening hours?", answer="9 to 5.", actor=None
    )
    open_ticket = helpdesk_services.ticket_open(
        asker=users["member"], helpdesk_id=desk.pk, body="人工"
    )
    solved = helpdesk_services.ticket_open(
        asker=users["member"], helpdesk_id=desk.pk, body="opening hours"
    )
    helpdesk_services.ticket_set_state(user=users["member"], ticket_id=solved.pk, state="solved")
    canned = helpdesk_services.canned_reply_create(
        agent=users["channel_admin"], helpdesk_id=desk.pk, title="Hi", body="Hello"
    )
    return World(
        users=users,
        reminder_id=reminder.pk,
        integration_ids=integration_ids,
        helpdesk_ids={
            "desk": desk.pk,
            OPEN_TICKET: open_ticket.pk,
            SOLVED_TICKET: solved.pk,
            "canned": canned.pk,
        },
        channels={PUBLIC: public, PRIVATE: private, DM: call_dm},
        messages=messages,
        member_token=token,
        attachments=attachments,
        upload_session=upload_session,
        call_ids={RINGING: ringing.pk, ACTIVE: active.pk, MEETING: meeting},
    )


CHUNK = b"0123456789"


def build_integrations(users: dict[str, User], public: Channel, message: Message) -> dict[str, int]:
    """The bot `bot` (owned by channel_admin) with hooks in the public channel, a custom
    command, a poll by member, a bot message with a button, a preview on member's message."""
    FeatureFlag.objects.create(name="integrations", everyone=True)
    FeatureFlag.objects.create(name="link_previews", everyone=True)
    bot_user = users["bot"]
    User.objects.filter(pk=bot_user.pk).update(is_bot=True)
    bot_user.is_bot = True
    bot = Bot.objects.create(
        user=bot_user,
        owner=users["channel_admin"],
        endpoint_url="http://bot.example/act",
        signing_secret="s" * 64,
    )
    token, _raw = account_services.api_token_create(user=bot_user, name="ci")
    incoming, _url = integration_services.incoming_webhook_create(
        actor=users["channel_admin"], bot_id=bot.pk, channel_id=public.pk, name="CI"
    )
    outgoing = integration_services.outgoing_webhook_create(
        actor=users["channel_admin"],
        bot_id=bot.pk,
        channel_id=public.pk,
        name="Echo",
        url="http://bot.example/hook",
        trigger_words="echo",
    )
    command = integration_services.custom_command_create(
        actor=users["owner"],
        name="deploy",
        description="Deploy",
        url="http://bot.example/cmd",
        bot_id=bot.pk,
    )
    poll = integration_services.poll_create(
        user=users["member"], channel_id=public.pk, question="Lunch?", options=["A", "B"]
    )
    bot_message = integration_services.bot_message_send(
        user=bot_user,
        channel_id=public.pk,
        body="Deploy?",
        actions=[{"id": "approve", "label": "Approve", "style": "primary"}],
    )
    preview = LinkPreview.objects.create(
        message=message, url="http://wiki.example/page", title="Wiki"
    )
    return {
        "bot": bot.pk,
        "token": token.pk,
        "incoming": incoming.pk,
        "outgoing": outgoing.pk,
        "command": command.pk,
        "poll": poll.pk,
        "option": poll.options.first().pk,  # type: ignore[union-attr]
        "bot_message": bot_message.pk,
        "preview": preview.pk,
    }


def _meeting_of(host: User, channel: Channel) -> int:
    """The private channel's meeting: started through Janus when the module runs one
    (tests/chat/test_api_permissions.py), else only its row (the join cases are skipped)."""
    from apps.calls import janus

    if janus.configured():
        return int(call_services.meeting_start(user=host, channel_id=channel.pk)["call"]["id"])
    now = timezone.now()
    return CallSession.objects.create(
        channel=channel,
        kind="sfu",
        initiator=host,
        host=host,
        state="active",
        started_at=now,
        ring_deadline=now,
        answered_at=now,
    ).pk


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
        list(CallSession.objects.order_by("pk").values_list("pk", "state", "end_reason")),
        list(CallParticipant.objects.order_by("pk").values_list("pk", "state", "last_seen_at")),
        list(
            Ticket.objects.order_by("pk").values_list(
                "pk", "state", "needs_agent", "assignee_id", "rating"
            )
        ),
        list(TicketEntry.objects.order_by("pk").values_list("pk", "kind", "body")),
        list(CannedReply.objects.order_by("pk").values_list("pk", "title")),
        list(Reminder.objects.order_by("pk").values_list("pk", "remind_at", "delivered_at")),
        list(MessagePin.objects.order_by("pk").values_list("message_id", "pinned_by_id")),
        list(SavedMessage.objects.order_by("pk").values_list("user_id", "message_id")),
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


def call_kw(world: World, case: Case) -> dict[str, int]:
    scope = case.scope if case.scope in (ACTIVE, MEETING) else RINGING
    return {"call_id": world.call_ids[scope]}


# Routes whose allowed cases need a running Janus (the module starts one when installed).
NEEDS_JANUS = frozenset({"calls_api:meeting-start", "calls_api:join"})


def bot_kw(world: World, case: Case) -> dict[str, int]:
    return {"bot_id": world.integration_ids["bot"]}


def bot_manage(status: int) -> list[Case]:
    """The bot's owner (channel_admin) and organisation administrators; to others no bot."""
    return [
        *allowed(status, "owner", "admin", "channel_admin"),
        *refused(404, "bot_not_found", "member", "guest", "non_member"),
        *anonymous(NONE),
    ]


def bot_hook_create(status: int) -> list[Case]:
    """Managing the bot and posting in the channel: only channel_admin has both."""
    return [
        *allowed(status, "channel_admin"),
        *refused(403, "not_member", "owner", "admin"),
        *refused(404, "bot_not_found", "member", "guest", "non_member"),
        *anonymous(NONE),
    ]


def org_admin_only(status: int) -> list[Case]:
    return [
        *allowed(status, "owner", "admin"),
        *refused(403, "not_org_admin", "channel_admin", "member", "guest", "non_member"),
        *anonymous(NONE),
    ]


def on_ringing_call(status: int, *allowed_actors: str, **refusals: str) -> list[Case]:
    """The ringing call: `allowed_actors` may; `refusals` maps other participants to their
    403 code; every other signed-in user is told the call does not exist."""
    outsiders = set(SIGNED_IN) - set(allowed_actors) - set(refusals)
    return [
        *allowed(status, *allowed_actors),
        *(Case(actor, NONE, 403, code) for actor, code in refusals.items()),
        *refused(404, "call_not_found", *sorted(outsiders)),
        *anonymous(NONE),
    ]


def desk_kw(world: World, case: Case) -> dict[str, int]:
    return {"helpdesk_id": world.helpdesk_ids["desk"]}


def ticket_kw(world: World, case: Case) -> dict[str, int]:
    return {
        "ticket_id": world.helpdesk_ids[
            SOLVED_TICKET if case.scope == SOLVED_TICKET else OPEN_TICKET
        ]
    }


def desk_agents_only(status: int) -> list[Case]:
    """The desk's agent (`channel_admin`); everyone else is told they are not an agent."""
    return [
        *allowed(status, "channel_admin"),
        *refused(403, "not_agent", "owner", "admin", "member", "guest", "non_member"),
        *anonymous(NONE),
    ]


def on_ticket(status: int, *allowed_actors: str, **refusals: str) -> list[Case]:
    """The open ticket `member` asked: `allowed_actors` may; `refusals` maps the asker or the
    agent to their 403 code; everyone else is told the ticket does not exist."""
    outsiders = set(SIGNED_IN) - set(allowed_actors) - set(refusals)
    return [
        *allowed(status, *allowed_actors),
        *(Case(actor, NONE, 403, code) for actor, code in refusals.items()),
        *refused(404, "ticket_not_found", *sorted(outsiders)),
        *anonymous(NONE),
    ]


def files_admin(status: int) -> list[Case]:
    """Organisation admins and owners only (quarantine, release, rescan, usage)."""
    return [
        *allowed(status, "owner", "admin"),
        *refused(403, "not_org_admin", "channel_admin", "member", "guest", "non_member"),
        *anonymous(NONE),
    ]


def retention_admins(status: int) -> list[Case]:
    """Organisation admins and the owner set any channel's retention, member or not."""
    return [
        *allowed(status, "owner", "admin", scope=PUBLIC),
        *allowed(status, "owner", "admin", scope=PRIVATE),
        *refused(
            403, "not_org_admin", "channel_admin", "member", "guest", "non_member", scope=PUBLIC
        ),
        *anonymous(PUBLIC),
    ]


def compliance_officers(status: int) -> list[Case]:
    """Legal holds: the owner (no actor of the world holds governance.manage_legal_hold)."""
    return [
        *allowed(status, "owner"),
        *refused(403, "not_compliance_officer", "admin", "channel_admin", "member", "guest"),
        *refused(403, "not_compliance_officer", "non_member"),
        *anonymous(NONE),
    ]


def legal_hold_kw(world: World, case: Case) -> dict[str, int]:
    """An active hold on nothing, placed for the case (inside its savepoint)."""
    from apps.governance.models import LegalHold

    hold = LegalHold.objects.create(name="Case 7", reason="Audit")
    return {"hold_id": hold.pk}


def compliance_exporters(status: int) -> list[Case]:
    """Compliance exports: the owner (no actor of the world holds governance.export_compliance;
    administrators do not get it with their role)."""
    return [
        *allowed(status, "owner"),
        *refused(403, "not_compliance_exporter", "admin", "channel_admin", "member", "guest"),
        *refused(403, "not_compliance_exporter", "non_member"),
        *anonymous(NONE),
    ]


def own_data_export(status: int) -> list[Case]:
    """A data export is its requester's (`member`) alone; to anybody else it does not exist."""
    return [
        *allowed(status, "member"),
        *refused(
            404,
            "data_export_not_found",
            "owner",
            "admin",
            "channel_admin",
            "guest",
            "non_member",
        ),
        *anonymous(NONE),
    ]


def compliance_export_kw(world: World, case: Case) -> dict[str, int]:
    """A built export with its ZIP in the file storage (inside the case's savepoint)."""
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from apps.files.storage import files_storage
    from apps.governance.models import ComplianceExport, ComplianceExportStatus

    now = timezone.now()
    name = files_storage().save(
        "compliance-exports/matrix.zip", ContentFile(b"PK\x05\x06" + bytes(18))
    )
    export = ComplianceExport.objects.create(
        start=now - timedelta(days=1),
        end=now,
        status=ComplianceExportStatus.READY,
        storage_name=name,
        finished_at=now,
        expires_at=now + timedelta(hours=1),
    )
    return {"export_id": export.pk}


def data_export_kw(world: World, case: Case) -> dict[str, int]:
    """`member`'s data export, built for the case (inside its savepoint)."""
    from apps.governance.data_export import data_export_build
    from apps.governance.models import DataExport

    export = DataExport.objects.create(user=world.users["member"])
    data_export_build(export_id=export.pk)
    return {"export_id": export.pk}


def org_admins(status: int) -> list[Case]:
    """Organisation admins and the owner (invitations, workplace settings)."""
    return files_admin(status)


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
        body=lambda world, case: {"body": "hi there", "client_msg_id": str(uuid.uuid4())},
    ),
    ("chat_api:read", "post"): Route(
        post(200, "channel_not_found"),
        kwargs=channel_kw,
        body=lambda world, case: {"seq": 2},
    ),
    ("chat_api:channel-receipts", "get"): Route(post(200, "channel_not_found"), kwargs=channel_kw),
    ("chat_api:message-receipts", "get"): Route(
        [
            *allowed(200, "member", scope=PUBLIC),
            *refused(
                403,
                "receipts_sender_only",
                "owner",
                "admin",
                "channel_admin",
                "non_member",
                scope=PUBLIC,
            ),
            *refused(404, "message_not_found", "guest", scope=PUBLIC),
            *allowed(200, "member", scope=PRIVATE),
            *refused(403, "receipts_sender_only", "channel_admin", "guest", scope=PRIVATE),
            *refused(404, "message_not_found", "owner", "admin", "non_member", scope=PRIVATE),
            *anonymous(PUBLIC, PRIVATE),
        ],
        kwargs=message_kw,
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
    ("accounts_api:me-status", "put"): Route(
        [
            *everyone(200),
            *refused(400, "status_empty", "member", "guest", scope=EMPTY_STATUS),
        ],
        body=lambda world, case: (
            {"emoji": "", "text": " "}
            if case.scope == EMPTY_STATUS
            else {"emoji": "📅", "text": "In a meeting", "clear_after": "1h"}
        ),
    ),
    ("accounts_api:me-status", "delete"): Route(everyone(200)),
    ("accounts_api:me-dnd", "get"): Route(everyone(200)),
    ("accounts_api:me-dnd", "put"): Route(
        [
            *everyone(200),
            *refused(400, "dnd_until_past", "member", "guest", scope=PAST_PAUSE),
        ],
        body=lambda world, case: (
            {"until": (timezone.now() - timedelta(hours=1)).isoformat()}
            if case.scope == PAST_PAUSE
            else {
                "minutes": 30,
                "schedule": {"enabled": True, "days": [0, 4], "start": "19:00", "end": "08:00"},
            }
        ),
    ),
    ("accounts_api:me-notification-settings", "get"): Route(everyone(200)),
    ("accounts_api:me-notification-settings", "patch"): Route(
        everyone(200), body=lambda world, case: {"sound": False, "email_unread": False}
    ),
    ("chat_api:users", "get"): Route(everyone(200)),
    ("chat_api:user", "get"): Route(
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
    # --- ops ---
    ("ops_api:features", "get"): Route(everyone(200)),
    # --- calls (behind the `calls` flag, on in the world) ---
    ("calls_api:start", "post"): Route(
        [
            *allowed(201, "non_member", scope=DM),
            *refused(404, "channel_not_found", "owner", "admin", "channel_admin", scope=DM),
            *refused(404, "channel_not_found", "member", "guest", scope=DM),
            *refused(400, "not_direct_channel", "member", scope=PUBLIC),
            *anonymous(DM),
        ],
        kwargs=channel_kw,
        body=lambda world, case: {"media": "video"},
    ),
    # --- assistant (behind the `assistant` flag, on in the world; extractive: no model) ---
    ("assistant_api:status", "get"): Route(everyone(200)),
    ("assistant_api:ask", "post"): Route(
        read(200, "channel_not_found"),
        body=lambda world, case: {"question": "hello", "channel_id": world.channel_id(case.scope)},
    ),
    ("calls_api:call", "get"): Route(
        on_ringing_call(200, "channel_admin", "member"), kwargs=call_kw
    ),
    ("calls_api:accept", "post"): Route(
        on_ringing_call(200, "member", channel_admin="not_callee"), kwargs=call_kw
    ),
    ("calls_api:decline", "post"): Route(
        on_ringing_call(200, "member", channel_admin="not_callee"), kwargs=call_kw
    ),
    ("calls_api:cancel", "post"): Route(
        on_ringing_call(200, "channel_admin", member="not_initiator"), kwargs=call_kw
    ),
    ("calls_api:hangup", "post"): Route(
        on_ringing_call(200, "channel_admin", "member"), kwargs=call_kw
    ),
    ("calls_api:heartbeat", "post"): Route(
        on_ringing_call(200, "channel_admin", "member"), kwargs=call_kw
    ),
    ("calls_api:signal", "post"): Route(
        [
            *allowed(204, "owner", "admin", scope=ACTIVE),
            *refused(404, "call_not_found", "channel_admin", "guest", "non_member", scope=ACTIVE),
            *refused(409, "call_not_active", "member", scope=RINGING),
            *anonymous(ACTIVE),
        ],
        kwargs=call_kw,
        body=lambda world, case: {
            "to_user_id": world.users["owner" if case.actor == "admin" else "admin"].pk,
            "payload": {"candidate": None},
        },
    ),
    ("calls_api:ice-servers", "get"): Route(everyone(200)),
    # --- slash commands (chat's registry) ---
    ("chat_api:commands", "get"): Route(everyone(200)),
    # --- integrations (behind the `integrations` flag, on in the world) ---
    ("integrations_api:bots", "get"): Route(everyone(200)),
    ("integrations_api:bots", "post"): Route(
        [
            *allowed(201, "owner", "admin"),
            *refused(403, "cannot_create_bot", "channel_admin", "member", "guest", "non_member"),
            *anonymous(NONE),
        ],
        body=lambda world, case: {"username": f"{case.actor}-bot"},
    ),
    ("integrations_api:bot", "get"): Route(bot_manage(200), kwargs=bot_kw),
    ("integrations_api:bot", "patch"): Route(
        bot_manage(200), kwargs=bot_kw, body=lambda world, case: {"description": "CI"}
    ),
    ("integrations_api:bot", "delete"): Route(bot_manage(204), kwargs=bot_kw),
    ("integrations_api:bot-tokens", "post"): Route(
        bot_manage(201), kwargs=bot_kw, body=lambda world, case: {"name": "laptop"}
    ),
    ("integrations_api:bot-token", "delete"): Route(
        bot_manage(204),
        kwargs=lambda world, case: {
            "bot_id": world.integration_ids["bot"],
            "token_id": world.integration_ids["token"],
        },
    ),
    ("integrations_api:bot-incoming-webhooks", "post"): Route(
        bot_hook_create(201),
        kwargs=bot_kw,
        body=lambda world, case: {"channel_id": world.channel_id(PUBLIC), "name": "CI"},
    ),
    ("integrations_api:bot-outgoing-webhooks", "post"): Route(
        bot_hook_create(201),
        kwargs=bot_kw,
        body=lambda world, case: {
            "channel_id": world.channel_id(PUBLIC),
            "name": "Echo",
            "url": "http://bot.example/x",
            "trigger_words": "ping",
        },
    ),
    ("integrations_api:incoming-webhook", "delete"): Route(
        bot_manage(204),
        kwargs=lambda world, case: {"webhook_id": world.integration_ids["incoming"]},
    ),
    ("integrations_api:outgoing-webhook", "delete"): Route(
        bot_manage(204),
        kwargs=lambda world, case: {"webhook_id": world.integration_ids["outgoing"]},
    ),
    ("integrations_api:custom-commands", "get"): Route(org_admin_only(200)),
    ("integrations_api:custom-commands", "post"): Route(
        org_admin_only(201),
        body=lambda world, case: {
            "name": f"cmd-{case.actor}",
            "description": "Runs",
            "url": "http://bot.example/c",
            "bot_id": world.integration_ids["bot"],
        },
    ),
    ("integrations_api:custom-command", "delete"): Route(
        org_admin_only(204),
        kwargs=lambda world, case: {"command_id": world.integration_ids["command"]},
    ),
    ("integrations_api:settings", "get"): Route(org_admin_only(200)),
    ("integrations_api:settings", "patch"): Route(
        org_admin_only(200), body=lambda world, case: {"link_preview_hosts": "wiki.example"}
    ),
    ("integrations_api:poll-vote", "post"): Route(
        [
            *allowed(200, "channel_admin", "member"),
            *refused(403, "not_member", "owner", "admin", "non_member"),
            *refused(404, "poll_not_found", "guest"),
            *anonymous(NONE),
        ],
        kwargs=lambda world, case: {"poll_id": world.integration_ids["poll"]},
        body=lambda world, case: {"option_id": world.integration_ids["option"]},
    ),
    ("integrations_api:bot-messages", "post"): Route(
        [
            *allowed(201, "bot", scope=PUBLIC),
            *refused(403, "not_a_bot", *SIGNED_IN, scope=PUBLIC),
            *anonymous(PUBLIC),
        ],
        body=lambda world, case: {
            "channel_id": world.channel_id(PUBLIC),
            "body": "Build 12 finished",
            "actions": [{"id": "rerun", "label": "Rerun"}],
        },
    ),
    ("integrations_api:action-click", "post"): Route(
        [
            *allowed(202, "channel_admin", "member"),
            *refused(403, "not_member", "owner", "admin", "non_member"),
            *refused(404, "message_not_found", "guest"),
            *anonymous(NONE),
        ],
        kwargs=lambda world, case: {
            "message_id": world.integration_ids["bot_message"],
            "action_id": "approve",
        },
    ),
    ("integrations_api:message-extras", "get"): Route(
        read(200, "channel_not_found"),
        kwargs=channel_kw,
        query=lambda world, case: {"ids": str(world.message_id(case.scope))},
    ),
    ("integrations_api:link-preview", "delete"): Route(
        [
            *allowed(204, "member"),
            *refused(403, "not_message_sender", "owner", "admin", "channel_admin", "non_member"),
            *refused(404, "message_not_found", "guest"),
            *anonymous(NONE),
        ],
        kwargs=lambda world, case: {"preview_id": world.integration_ids["preview"]},
    ),
    # --- help desk (behind the `helpdesk` flag, on in the world) ---
    ("helpdesk_api:desks", "get"): Route(everyone(200)),
    ("helpdesk_api:agents", "get"): Route(desk_agents_only(200), kwargs=desk_kw),
    ("helpdesk_api:canned-replies", "get"): Route(desk_agents_only(200), kwargs=desk_kw),
    ("helpdesk_api:canned-replies", "post"): Route(
        desk_agents_only(201), kwargs=desk_kw, body=lambda world, case: {"title": "T", "body": "B"}
    ),
    ("helpdesk_api:canned-reply", "delete"): Route(
        desk_agents_only(204),
        kwargs=lambda world, case: {"canned_reply_id": world.helpdesk_ids["canned"]},
    ),
    ("helpdesk_api:tickets", "get"): Route(everyone(200)),
    ("helpdesk_api:tickets", "post"): Route(
        everyone(201),
        body=lambda world, case: {"helpdesk_id": world.helpdesk_ids["desk"], "body": "人工"},
    ),
    ("helpdesk_api:ticket", "get"): Route(
        on_ticket(200, "member", "channel_admin"), kwargs=ticket_kw
    ),
    ("helpdesk_api:entries", "post"): Route(
        on_ticket(201, "member", "channel_admin"),
        kwargs=ticket_kw,
        body=lambda world, case: {"body": "more"},
    ),
    ("helpdesk_api:notes", "post"): Route(
        on_ticket(201, "channel_admin", member="not_agent"),
        kwargs=ticket_kw,
        body=lambda world, case: {"body": "internal"},
    ),
    ("helpdesk_api:handover", "post"): Route(
        on_ticket(200, "member", channel_admin="not_asker"), kwargs=ticket_kw
    ),
    ("helpdesk_api:claim", "post"): Route(
        on_ticket(200, "channel_admin", member="not_agent"), kwargs=ticket_kw
    ),
    ("helpdesk_api:assign", "post"): Route(
        on_ticket(200, "channel_admin", member="not_agent"),
        kwargs=ticket_kw,
        body=lambda world, case: {"assignee_id": world.users["channel_admin"].pk},
    ),
    ("helpdesk_api:state", "post"): Route(
        on_ticket(200, "member", "channel_admin"),
        kwargs=ticket_kw,
        body=lambda world, case: {"state": "solved"},
    ),
    ("helpdesk_api:rate", "post"): Route(
        [
            *allowed(200, "member", scope=SOLVED_TICKET),
            *refused(403, "not_asker", "channel_admin", scope=SOLVED_TICKET),
            *refused(409, "ticket_not_solved", "member", scope=OPEN_TICKET),
            *refused(404, "ticket_not_found", "owner", "admin", "guest", "non_member"),
            *anonymous(NONE),
        ],
        kwargs=ticket_kw,
        body=lambda world, case: {"rating": 5},
    ),
    ("calls_api:live", "get"): Route(everyone(200)),
    ("calls_api:meeting-start", "post"): Route(
        [
            # The meeting going on there is joined; channel_admin and member are in a ringing call.
            *allowed(201, "guest", scope=PRIVATE),
            *refused(409, "already_in_call", "channel_admin", "member", scope=PRIVATE),
            *refused(404, "channel_not_found", "owner", "admin", "non_member", scope=PRIVATE),
            *refused(400, "direct_channel_meeting", "non_member", scope=DM),
            *anonymous(PRIVATE),
        ],
        kwargs=channel_kw,
        body=lambda world, case: {"media": "video", "mode": "meeting"},
    ),
    ("calls_api:join", "post"): Route(
        [
            *allowed(200, "guest", scope=MEETING),
            *refused(409, "already_in_call", "channel_admin", "member", scope=MEETING),
            *refused(404, "call_not_found", "owner", "admin", "non_member", scope=MEETING),
            *anonymous(MEETING),
        ],
        kwargs=call_kw,
    ),
    # --- invitations and the workplace (organisation admins and the owner) ---
    ("accounts_api:invitations", "post"): Route(
        org_admins(201),
        body=lambda world, case: {
            "email": f"new-{case.actor}@example.com",
            "channel_ids": [world.channel_id(PUBLIC)],
        },
    ),
    ("accounts_api:invitation-channels", "get"): Route(org_admins(200)),
    ("workspace_api:default-channels", "get"): Route(org_admins(200)),
    # --- the inbox (the `workplace_inbox` flag is on): everyone's own ---
    ("workspace_api:inbox", "get"): Route(everyone(200)),
    ("workspace_api:inbox-mark-all-read", "post"): Route(everyone(200)),
    # --- reminders (the `workplace_reminders` flag is on): everyone's own ---
    ("workspace_api:reminders", "get"): Route(everyone(200)),
    # About a message: whoever may read it (others are told it does not exist).
    ("workspace_api:reminders", "post"): Route(
        read(201, "message_not_found"),
        body=lambda world, case: {"message_id": world.message_id(case.scope), "preset": "1h"},
    ),
    # `member`'s reminder: someone else's answers like one that does not exist.
    ("workspace_api:reminder", "delete"): Route(
        [
            *allowed(204, "member"),
            *refused(
                404, "reminder_not_found", "owner", "admin", "channel_admin", "guest", "non_member"
            ),
            *anonymous(NONE),
        ],
        kwargs=lambda world, case: {"reminder_id": world.reminder_id},
    ),
    # --- pins and saved messages (the `pins_saved` flag is on): pin where one posts, save what
    # one reads
    ("chat_api:pins", "get"): Route(read(200, "channel_not_found"), kwargs=channel_kw),
    ("chat_api:pin", "post"): Route(post(200, "message_not_found"), kwargs=message_kw),
    ("chat_api:pin", "delete"): Route(post(200, "message_not_found"), kwargs=message_kw),
    ("workspace_api:saved", "get"): Route(everyone(200)),
    ("workspace_api:saved", "post"): Route(
        read(200, "message_not_found"),
        body=lambda world, case: {"message_id": world.message_id(case.scope)},
    ),
    ("workspace_api:saved-item", "delete"): Route(
        read(200, "message_not_found"), kwargs=message_kw
    ),
    ("workspace_api:default-channels", "put"): Route(
        org_admins(200),
        body=lambda world, case: {"channel_ids": [world.channel_id(PUBLIC)]},
    ),
    # --- governance: retention (administrators set it, readers of a channel see it) and legal
    # holds (compliance officers and the owner; administrators are not officers by role) ---
    ("governance_api:org-retention", "get"): Route(org_admins(200)),
    ("governance_api:org-retention", "put"): Route(
        org_admins(200), body=lambda world, case: {"days": 30}
    ),
    ("governance_api:channel-retention", "get"): Route(
        read(200, "channel_not_found"), kwargs=channel_kw
    ),
    ("governance_api:channel-retention", "put"): Route(
        retention_admins(200),
        kwargs=channel_kw,
        body=lambda world, case: {"mode": "delete", "days": 7},
    ),
    ("governance_api:legal-holds", "get"): Route(compliance_officers(200)),
    ("governance_api:legal-holds", "post"): Route(
        compliance_officers(201),
        body=lambda world, case: {
            "name": "Case 42",
            "reason": "Litigation",
            "channel_ids": [world.channel_id(PUBLIC)],
        },
    ),
    ("governance_api:legal-hold-release", "post"): Route(
        compliance_officers(200), kwargs=legal_hold_kw
    ),
    # --- governance: compliance exports (holders of governance.export_compliance and the owner)
    ("governance_api:compliance-exports", "get"): Route(compliance_exporters(200)),
    ("governance_api:compliance-exports", "post"): Route(
        compliance_exporters(202),
        body=lambda world, case: {
            "channel_ids": [world.channel_id(PUBLIC)],
            "start": "2026-01-01T00:00:00Z",
            "end": "2026-02-01T00:00:00Z",
        },
    ),
    ("governance_api:compliance-export", "get"): Route(
        compliance_exporters(200), kwargs=compliance_export_kw
    ),
    ("governance_api:compliance-export-download", "get"): Route(
        compliance_exporters(200), kwargs=compliance_export_kw
    ),
    # --- personal data: a user's own data export (the `data_export` flag is on) ---
    ("governance_api:my-data-exports", "get"): Route(everyone(200)),
    ("governance_api:my-data-exports", "post"): Route(everyone(202)),
    ("governance_api:my-data-export", "get"): Route(own_data_export(200), kwargs=data_export_kw),
    ("governance_api:my-data-export-download", "get"): Route(
        own_data_export(200), kwargs=data_export_kw
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
