from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authed import AuthedRequest
from apps.chat.api import FastJSONRenderer
from apps.core.api import validated
from apps.search import selectors
from apps.search import serializers as s


class SearchApi(APIView):
    renderer_classes = [FastJSONRenderer]
    # For the schema's error responses (apps/core/schema.py).
    error_responses = {
        503: "`search_timeout`: the search ran longer than `ENCLAVE_SEARCH_TIMEOUT_MS`; narrow"
        " it (a channel, more words) or try again."
    }

    @extend_schema(
        operation_id="messages_search",
        parameters=[s.SearchQueryIn],
        responses=s.SearchOut,
        summary="Search the messages you may read, newest first",
        description=(
            "Every word must match (English words by their stem: `meetings` finds `meeting`). "
            "Chinese, Japanese and Korean text matches as typed, inside longer text too. "
            "Without `channel_id`, the channels you are a member of; page on with "
            "`before_id=next_before_id` while `has_more`."
        ),
    )
    def get(self, request: AuthedRequest) -> Response:
        query = validated(s.SearchQueryIn, request.query_params)
        page = selectors.search_messages(
            user=request.user,
            query=query["q"],
            channel_id=query.get("channel_id"),
            before_id=query.get("before_id"),
            limit=query["limit"],
        )
        return Response(
            {
                "results": page.results,
                "has_more": page.has_more,
                "next_before_id": page.next_before_id,
            }
        )
