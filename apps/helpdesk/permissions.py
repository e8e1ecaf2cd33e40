"""`access_*` for the help desk: fetch-and-check in one step, shared by REST, pages and services.

Anyone active may ask at an open desk (guests where the desk lets them). A ticket is visible
to its asker and to the desk's agents; to anyone else it does not exist (`ticket_not_found`).
Agent work (the queue, claiming, assigning, notes, canned replies) is for the desk's agents:
an asker is told `not_agent`. Every path also needs the `helpdesk` feature flag.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.core.errors import Forbidden, NotAuthenticated, NotFound
from apps.core.features import access_feature
from apps.helpdesk.models import CannedReply, HelpDesk, Ticket

FLAG = "helpdesk"


def require_helpdesk_user(user: User) -> None:
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not user.is_active:
        raise Forbidden(_("This account is deactivated."), code="account_deactivated")
    access_feature(user=user, name=FLAG)


def desk_not_found() -> NotFound:
    return NotFound(_("No such help desk."), code="helpdesk_not_found")


def ticket_not_found() -> NotFound:
    return NotFound(_("No such ticket."), code="ticket_not_found")


def not_agent() -> Forbidden:
    return Forbidden(_("Only the help desk's agents may do this."), code="not_agent")


def is_agent(*, user: User, helpdesk_id: int) -> bool:
    return HelpDesk.agents.through.objects.filter(helpdesk_id=helpdesk_id, user_id=user.pk).exists()


def access_desk_ask(*, user: User, helpdesk_id: int) -> HelpDesk:
    """A desk `user` may open a ticket at."""
    require_helpdesk_user(user)
    desk = HelpDesk.objects.filter(pk=helpdesk_id, is_active=True).first()
    if desk is None or (user.is_guest and not desk.allow_guests):
        raise desk_not_found()
    return desk


def access_desk_agent(*, user: User, helpdesk_id: int) -> HelpDesk:
    """A desk `user` is an agent of."""
    require_helpdesk_user(user)
    desk = HelpDesk.objects.filter(pk=helpdesk_id).first()
    if desk is None:
        raise desk_not_found()
    if not is_agent(user=user, helpdesk_id=desk.pk):
        raise not_agent()
    return desk


def access_ticket(*, user: User, ticket_id: int, lock: bool = False) -> tuple[Ticket, bool]:
    """The ticket and whether `user` sees it as an agent (else as its asker).

    `lock`: the ticket row stays locked (SELECT ... FOR UPDATE) until the caller's transaction
    ends, so two agents claiming at once are served one after the other.
    """
    require_helpdesk_user(user)
    tickets = Ticket.objects.filter(pk=ticket_id)
    if lock:
        tickets = tickets.select_for_update()
    ticket = tickets.first()
    if ticket is None:
        raise ticket_not_found()
    if is_agent(user=user, helpdesk_id=ticket.helpdesk_id):
        return ticket, True
    if ticket.asker_id == user.pk:
        return ticket, False
    raise ticket_not_found()


def access_ticket_agent(*, user: User, ticket_id: int, lock: bool = False) -> Ticket:
    ticket, agent = access_ticket(user=user, ticket_id=ticket_id, lock=lock)
    if not agent:
        raise not_agent()
    return ticket


def access_ticket_asker(*, user: User, ticket_id: int, lock: bool = False) -> Ticket:
    """The ticket, when `user` asked it (an agent answering their own ticket counts as asker)."""
    ticket, _agent = access_ticket(user=user, ticket_id=ticket_id, lock=lock)
    if ticket.asker_id != user.pk:
        raise Forbidden(_("Only the person who asked may do this."), code="not_asker")
    return ticket


def access_canned_reply(*, user: User, canned_reply_id: int) -> CannedReply:
    require_helpdesk_user(user)
    reply = CannedReply.objects.filter(pk=canned_reply_id).first()
    if reply is None:
        raise NotFound(_("No such canned reply."), code="canned_reply_not_found")
    if not is_agent(user=user, helpdesk_id=reply.helpdesk_id):
        raise not_agent()
    return reply
