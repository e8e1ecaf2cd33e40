from django.urls import path

from apps.calls import api

app_name = "calls_api"

urlpatterns = [
    path("channels/<id:channel_id>/calls/", api.CallStartApi.as_view(), name="start"),
    path("channels/<id:channel_id>/meetings/", api.MeetingStartApi.as_view(), name="meeting-start"),
    path("calls/<id:call_id>/join/", api.MeetingJoinApi.as_view(), name="join"),
    path("calls/live/", api.MeetingsLiveApi.as_view(), name="live"),
    path("calls/ice-servers/", api.IceServersApi.as_view(), name="ice-servers"),
    path("calls/<id:call_id>/", api.CallDetailApi.as_view(), name="call"),
    path("calls/<id:call_id>/accept/", api.CallAcceptApi.as_view(), name="accept"),
    path("calls/<id:call_id>/decline/", api.CallDeclineApi.as_view(), name="decline"),
    path("calls/<id:call_id>/cancel/", api.CallCancelApi.as_view(), name="cancel"),
    path("calls/<id:call_id>/hangup/", api.CallHangupApi.as_view(), name="hangup"),
    path("calls/<id:call_id>/heartbeat/", api.CallHeartbeatApi.as_view(), name="heartbeat"),
    path("calls/<id:call_id>/signal/", api.CallSignalApi.as_view(), name="signal"),
]
