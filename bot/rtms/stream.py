"""Which stream to open: what ``meeting.rtms_started`` says, and the handshake's signature."""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


EARLIEST_MS, LATEST_MS = 946_684_800_000, 4_102_444_800_000  # 2000 .. 2100: anything else is not a start time
MAX_STREAM_AGE_S = 86_400.0  # a stream's start more than this far from now is not believed


class StreamSpec(BaseModel):
    """One RTMS stream of one meeting. ``started_ms`` (the event's ``event_ts``, ms since the epoch on
    Zoom's clock) is media time 0: audio timestamps are on the same clock, so a replacement worker's
    media time continues the first one's."""

    model_config = ConfigDict(frozen=True)

    meeting_uuid: str = Field(min_length=1, max_length=256)
    rtms_stream_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")
    server_urls: str = Field(min_length=1, max_length=2048, pattern=r"^wss://\S+$")
    meeting_id: str | None = Field(default=None, max_length=64)
    started_ms: int | None = Field(default=None, ge=EARLIEST_MS, le=LATEST_MS)


def spec_from_webhook(envelope: Mapping[str, Any]) -> StreamSpec:
    """The stream a ``meeting.rtms_started`` envelope announces. Zoom's schema puts the fields directly in
    ``payload``; its samples nest them in ``payload.object``: both are read, the top level first (as the
    orchestrator reads them). ValueError names what is wrong."""
    if not isinstance(envelope, Mapping):
        raise ValueError("not a JSON object")
    payload = envelope.get("payload")
    if not isinstance(payload, Mapping):
        raise ValueError("payload: not an object")
    nested = payload.get("object") or {}
    if not isinstance(nested, Mapping):
        raise ValueError("payload.object: not an object")
    payload = {**nested, **{k: v for k, v in payload.items() if k != "object" and v is not None}}
    meeting_id = payload.get("meeting_id")
    return StreamSpec(meeting_uuid=payload.get("meeting_uuid") or "",
                      rtms_stream_id=payload.get("rtms_stream_id") or "",
                      server_urls=payload.get("server_urls") or "",
                      meeting_id=str(meeting_id) if meeting_id is not None else None,
                      started_ms=envelope.get("event_ts"))


def signature(client_id: str, client_secret: str, spec: StreamSpec) -> str:
    """HMAC-SHA256 of ``client_id,meeting_uuid,rtms_stream_id`` under the secret, hex. Computed here rather
    than by ``rtms.generate_signature``, which lets ``ZM_RTMS_CLIENT``/``ZM_RTMS_SECRET`` override its
    arguments."""
    message = f"{client_id},{spec.meeting_uuid},{spec.rtms_stream_id}".encode()
    return hmac.new(client_secret.encode(), message, hashlib.sha256).hexdigest()
