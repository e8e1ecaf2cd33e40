from django.urls import path

from apps.helpdesk import api

app_name = "helpdesk_api"

urlpatterns = [
    path("helpdesk/desks/", api.DeskListApi.as_view(), name="desks"),
    path("helpdesk/desks/<id:helpdesk_id>/agents/", api.DeskAgentsApi.as_view(), name="agents"),
    path(
        "helpdesk/desks/<id:helpdesk_id>/canned-replies/",
        api.CannedReplyListApi.as_view(),
        name="canned-replies",
    ),
    path(
        "helpdesk/canned-replies/<id:canned_reply_id>/",
        api.CannedReplyDetailApi.as_view(),
        name="canned-reply",
    ),
    path("helpdesk/tickets/", api.TicketListApi.as_view(), name="tickets"),
    path("helpdesk/tickets/<id:ticket_id>/", api.TicketDetailApi.as_view(), name="ticket"),
    path(
        "helpdesk/tickets/<id:ticket_id>/entries/", api.TicketEntriesApi.as_view(), name="entries"
    ),
    path("helpdesk/tickets/<id:ticket_id>/notes/", api.TicketNotesApi.as_view(), name="notes"),
    path(
        "helpdesk/tickets/<id:ticket_id>/handover/",
        api.TicketHandoverApi.as_view(),
        name="handover",
    ),
    path("helpdesk/tickets/<id:ticket_id>/claim/", api.TicketClaimApi.as_view(), name="claim"),
    path("helpdesk/tickets/<id:ticket_id>/assign/", api.TicketAssignApi.as_view(), name="assign"),
    path("helpdesk/tickets/<id:ticket_id>/state/", api.TicketStateApi.as_view(), name="state"),
    path("helpdesk/tickets/<id:ticket_id>/rate/", api.TicketRateApi.as_view(), name="rate"),
]
