"""Invitations: an administrator invites by e-mail (one, or many from a CSV file); the link in
the e-mail is signed, expires and works once, and its page creates the account.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts import services
from apps.accounts.audit import AuditAction, audit_record
from apps.accounts.models import Invitation, Role, User
from apps.accounts.signals import user_onboarded
from apps.core.errors import Forbidden, InvalidInput, NotFound

SALT = "enclave.accounts.invitation"
MAX_BULK_ROWS = 1000


class InvitationChannels(Protocol):
    """What an invitation needs to know about channels, which accounts cannot import: the app
    that knows them (apps.workspace) registers one in its `AppConfig.ready()`."""

    def choices(self, *, actor: User) -> list[tuple[int, str]]:
        """(id, label) of the channels `actor` may add an invited person to."""
        ...

    def check(self, *, actor: User, channel_ids: Sequence[int]) -> list[int]:
        """The ids, deduplicated; a domain error unless `actor` may add people to each."""
        ...


_channels: InvitationChannels | None = None


def register_invitation_channels(provider: InvitationChannels) -> None:
    global _channels
    _channels = provider


def invitation_channel_choices(*, actor: User) -> list[tuple[int, str]]:
    """The channels `actor` may choose for an invitation (none without a registered provider)."""
    return _channels.choices(actor=actor) if _channels is not None else []


def invitation_days() -> int:
    return int(getattr(settings, "ENCLAVE_INVITATION_DAYS", 7))


def invitation_token(invitation: Invitation) -> str:
    """The signed token of the link (the id and address; tampering breaks the signature)."""
    return signing.dumps({"id": invitation.pk, "email": invitation.email}, salt=SALT)


def invitation_path(invitation: Invitation) -> str:
    return reverse("accounts:invitation-accept", args=[invitation_token(invitation)])


def _check_actor(actor: User, role: str) -> None:
    if not actor.is_org_admin:
        raise Forbidden(_("Only administrators invite people."), code="not_org_admin")
    if role not in Role.values:
        raise InvalidInput(_("Unknown role."), code="invalid_role")
    if role == Role.OWNER or (role == Role.ADMIN and actor.role != Role.OWNER):
        raise Forbidden(_("You cannot invite someone with this role."), code="role_too_high")


def invitation_create(
    *,
    actor: User,
    email: str,
    role: str = Role.MEMBER,
    base_url: str = "",
    channel_ids: Sequence[int] = (),
) -> Invitation:
    """Invite one address: store the invitation and e-mail its link (`base_url` + path).

    `channel_ids`: channels the new account joins besides the default ones; the inviter must
    be allowed to add people to each (`InvitationChannels.check`).
    """
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(_("Not a valid e-mail address."), code="invalid_email") from None
    _check_actor(actor, role)
    if User.objects.filter(email__iexact=email, is_active=True).exists():
        raise InvalidInput(_("Someone with this address has an account."), code="email_taken")
    chosen: list[int] = []
    if channel_ids:
        if _channels is None:
            raise InvalidInput(_("Channels cannot be chosen here."), code="invalid_channels")
        chosen = _channels.check(actor=actor, channel_ids=channel_ids)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            email=email,
            role=role,
            channel_ids=chosen,
            invited_by=actor,
            expires_at=timezone.now() + timedelta(days=invitation_days()),
        )
        audit_record(
            action=AuditAction.INVITATION_CREATED,
            actor=actor,
            target=invitation,
            metadata={"role": role},
        )
    send_mail(
        _("You are invited to Enclave"),
        _(
            "%(name)s invites you to Enclave, your company's chat.\n\n"
            "Create your account here (the link works once, for %(days)d days):\n%(url)s\n"
        )
        % {
            "name": actor.name,
            "days": invitation_days(),
            "url": f"{base_url}{invitation_path(invitation)}",
        },
        None,
        [email],
    )
    return invitation


@dataclass
class BulkInvitationResult:
    invited: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def invitations_create_from_csv(
    *, actor: User, csv_text: str, base_url: str = ""
) -> BulkInvitationResult:
    """Invite every row of a CSV file: `email[,role]`, an optional header row.

    Rows that fail (bad address, taken, role) are reported and the others still go out.
    """
    result = BulkInvitationResult()
    rows = list(csv.reader(io.StringIO(csv_text)))
    if len(rows) > MAX_BULK_ROWS:
        raise InvalidInput(
            _("At most %(n)d rows at a time.") % {"n": MAX_BULK_ROWS}, code="too_many_rows"
        )
    for number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not cells or not cells[0] or (number == 1 and cells[0].lower() == "email"):
            continue
        role = cells[1].lower() if len(cells) > 1 and cells[1] else Role.MEMBER
        try:
            invitation_create(actor=actor, email=cells[0], role=role, base_url=base_url)
        except (InvalidInput, Forbidden) as error:
            result.errors.append(f"{number}: {cells[0]}: {error.message}")
        else:
            result.invited.append(cells[0].lower())
    return result


def invitation_for_token(token: str) -> Invitation:
    """The invitation a link stands for, if it may still be used; else NotFound."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise NotFound(_("This invitation link is not valid."), code="invitation_invalid") from None
    invitation = Invitation.objects.filter(pk=data.get("id"), email=data.get("email")).first()
    if invitation is None or invitation.revoked_at is not None:
        raise NotFound(_("This invitation link is not valid."), code="invitation_invalid")
    if invitation.accepted_at is not None:
        raise NotFound(_("This invitation was used already."), code="invitation_used")
    if invitation.expires_at <= timezone.now():
        raise NotFound(_("This invitation has expired."), code="invitation_expired")
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, username: str, password: str, display_name: str = "") -> User:
    """Create the invited account (once) with the chosen username and password."""
    invitation = invitation_for_token(token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise NotFound(_("This invitation was used already."), code="invitation_used")
    candidate = User(username=username, email=invitation.email, display_name=display_name)
    services.password_check(password=password, user=candidate)
    user = services.user_create(
        username=username,
        password=password,
        email=invitation.email,
        display_name=display_name,
        role=invitation.role,
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_user = user
    invitation.save(update_fields=["accepted_at", "accepted_user"])
    audit_record(action=AuditAction.INVITATION_ACCEPTED, actor=user, target=invitation)
    user_onboarded.send(
        sender=User, user=user, source="invitation", channel_ids=list(invitation.channel_ids)
    )
    return user


def invitation_revoke(*, actor: User, invitation: Invitation) -> None:
    """Make an unused invitation's link stop working."""
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(action=AuditAction.INVITATION_REVOKED, actor=actor, target=invitation)
