"""REST API v1 of the help desk. Thin: parse, call one service or selector, shape the output.

Every view needs the `helpdesk` feature flag (404 `feature_disabled` without it).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authed import AuthedRequest
from apps.core.api import validated
from apps.core.features import require_flag
from apps.helpdesk import events, selectors, services
from apps.helpdesk import serializers as s
from apps.helpdesk.permissions import FLAG


class HelpdeskView(APIView):
    permission_classes = [IsAuthenticated, require_flag(FLAG)]


def _detail(request: AuthedRequest, ticket_id: int) -> Response:
    detail = selectors.ticket_detail(user=request.user, ticket_id=ticket_id)
    return Response(
        {"ticket": detail.ticket, "entries": detail.entries, "as_agent": detail.as_agent}
    )


class DeskListApi(HelpdeskView):
    @extend_schema(operation_id="helpdesk_desks", responses=s.DeskOut(many=True))
    def get(self, request: AuthedRequest) -> Response:
        desks = selectors.desks_for(user=request.user)
        return Response(s.DeskOut(desks, many=True).data)


class TicketListApi(HelpdeskView):
    @extend_schema(
        operation_id="helpdesk_tickets",
        parameters=[s.QueueIn],
        responses=s.TicketOut(many=True),
        summary="Your own tickets, or (with helpdesk_id) an agent's queue",
    )
    def get(self, request: AuthedRequest) -> Response:
        query = validated(s.QueueIn, request.query_params)
        if "helpdesk_id" in query:
            return Response(
                selectors.ticket_queue(
                    user=request.user, helpdesk_id=query["helpdesk_id"], view=query["view"]
                )
            )
        return Response(selectors.tickets_mine(user=request.user))

    @extend_schema(
        operation_id="helpdesk_ticket_open",
        request=s.TicketOpenIn,
        responses={201: s.TicketDetailOut},
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.TicketOpenIn, request.data)
        ticket = services.ticket_open(asker=request.user, **data)
        response = _detail(request, ticket.pk)
        response.status_code = status.HTTP_201_CREATED
        return response


class TicketDetailApi(HelpdeskView):
    @extend_schema(operation_id="helpdesk_ticket", responses=s.TicketDetailOut)
    def get(self, request: AuthedRequest, ticket_id: int) -> Response:
        return _detail(request, ticket_id)


class TicketEntriesApi(HelpdeskView):
    @extend_schema(
        operation_id="helpdesk_ticket_post", request=s.EntryIn, responses={201: s.TicketDetailOut}
    )
    def post(self, request: AuthedRequest, ticket_id: int) -> Response:
        data = validated(s.EntryIn, request.data)
        services.ticket_post(user=request.user, ticket_id=ticket_id, **data)
        response = _detail(request, ticket_id)
        response.status_code = status.HTTP_201_CREATED
        return response


class TicketNotesApi(HelpdeskView):
    @extend_schema(
        operation_id="helpdesk_ticket_note", request=s.EntryIn, responses={201: s.EntryOut}
    )
    def post(self, request: AuthedRequest, ticket_id: int) -> Response:
        data = validated(s.EntryIn, request.data)
        entry = services.ticket_note(agent=request.user, ticket_id=ticket_id, **data)
        return Response(events.entry_payload(entry), status=status.HTTP_201_CREATED)


class TicketHandoverApi(HelpdeskView):
    @extend_schema(operation_id="helpdesk_ticket_handover", request=None, responses=s.TicketOut)
    def post(self, request: AuthedRequest, ticket_id: int) -> Response:
        ticket = services.ticket_handover(asker=request.user, ticket_id=ticket_id)
        return Response(events.ticket_payload(ticket))


class TicketClaimApi(HelpdeskView):
    @extend_schema(operation_id="helpdesk_ticket_claim", request=None, responses=s.TicketOut)
    def post(self, request: AuthedRequest, ticket_id: int) -> Response:
        ticket = services.ticket_claim(agent=request.user, ticket_id=ticket_id)
        return Response(events.ticket_payload(ticket))


class TicketAssignApi(HelpdeskView):
    @extend_schema(operation_id="helpdesk_ticket_assign", request=s.AssignIn, responses=s.TicketOut)
    def post(self, request: AuthedRequest, ticket_id: int) -> Response:
        data = validated(s.AssignIn, request.data)
        ticket = services.ticket_assign(agent=request.user, ticket_id=ticket_id, **data)
        return Response(events.ticket_payload(ticket))


class TicketStateApi(HelpdeskView):
    @extend_schema(operation_id="helpdesk_ticket_state", request=s.StateIn, responses=s.TicketOut)
    def post(self, request: AuthedRequest, ticket_id: int) -> Response:
        data = validated(s.StateIn, request.data)
        ticket = services.ticket_set_state(user=request.user, ticket_id=ticket_id, **data)
        return Response(events.ticket_payload(ticket))


class TicketRateApi(HelpdeskView):
    @extend_schema(operation_id="helpdesk_ticket_rate", request=s.RateIn, responses=s.TicketOut)
    def post(self, request: AuthedRequest, ticket_id: int) -> Response:
        data = validated(s.RateIn, request.data)
        ticket = services.ticket_rate(asker=request.user, ticket_id=ticket_id, **data)
        return Response(events.ticket_payload(ticket))


class DeskAgentsApi(HelpdeskView):
    @extend_schema(operation_id="helpdesk_agents", responses=s.AgentOut(many=True))
    def get(self, request: AuthedRequest, helpdesk_id: int) -> Response:
        agents = selectors.desk_agents(user=request.user, helpdesk_id=helpdesk_id)
        return Response(s.AgentOut(agents, many=True).data)


class CannedReplyListApi(HelpdeskView):
    @extend_schema(operation_id="helpdesk_canned_replies", responses=s.CannedReplyOut(many=True))
    def get(self, request: AuthedRequest, helpdesk_id: int) -> Response:
        replies = selectors.canned_replies(user=request.user, helpdesk_id=helpdesk_id)
        return Response(s.CannedReplyOut(replies, many=True).data)

    @extend_schema(
        operation_id="helpdesk_canned_reply_create",
        request=s.CannedReplyIn,
        responses={201: s.CannedReplyOut},
    )
    def post(self, request: AuthedRequest, helpdesk_id: int) -> Response:
        data = validated(s.CannedReplyIn, request.data)
        reply = services.canned_reply_create(agent=request.user, helpdesk_id=helpdesk_id, **data)
        return Response(s.CannedReplyOut(reply).data, status=status.HTTP_201_CREATED)


class CannedReplyDetailApi(HelpdeskView):
    @extend_schema(operation_id="helpdesk_canned_reply_delete", responses={204: None})
    def delete(self, request: AuthedRequest, canned_reply_id: int) -> Response:
        services.canned_reply_delete(agent=request.user, canned_reply_id=canned_reply_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
