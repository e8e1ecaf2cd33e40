"""Pushes of governance: `data_export.ready` (a user's own data export can be downloaded), to
that user's tabs only. Listed in `EVENT_SCHEMAS` like chat's (`apps/chat/events.py`); adding a
field is free, any other change bumps the protocol's `v`."""

from __future__ import annotations

from typing import Literal, TypedDict


class DataExportPayload(TypedDict):
    id: int
    status: str  # pending, running, ready, failed, expired
    created_at: str
    finished_at: str | None
    expires_at: str | None
    size: int
    download_url: str | None


class DataExportReadyEvent(TypedDict):
    type: Literal["data_export.ready"]
    export: DataExportPayload


EVENT_SCHEMAS: dict[str, type] = {"data_export.ready": DataExportReadyEvent}
