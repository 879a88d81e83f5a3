"""Zoom REST shapes the orchestrator reads, parsed tolerantly: Zoom leaves fields blank or out (an
external participant's id and e-mail, a live row's ``leave_time``, a 2021-era empty duration), sends
``duration`` as seconds in reports but ``hh:mm:ss`` (or ``mm:ss``) on the Dashboard, and names may show
``#`` for ``,``. A row is never dropped for any of that; what is missing stays None
(``../shared/reference/zoom-rest-webhooks.md`` §1).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, field_validator


def encode_meeting_uuid(uuid: str) -> str:
    """A meeting UUID for a URL path: encoded twice if it starts with ``/`` or contains ``//`` (Zoom decodes
    those once before routing), once otherwise (UUIDs contain ``+``, ``=`` and ``/``)."""
    once = quote(uuid, safe="")
    return quote(once, safe="") if uuid.startswith("/") or "//" in uuid else once


def parse_duration_s(value: Any) -> int | None:
    """Seconds from an int, a numeric string, or ``hh:mm:ss`` / ``mm:ss``; None for blank."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if ":" in text:
        parts = [int(p) for p in text.split(":")]
        seconds = 0
        for p in parts:
            seconds = seconds * 60 + p
        return seconds
    return int(float(text))


class ReportParticipant(BaseModel):
    """One row of ``GET /report/meetings/{id}/participants`` (one per join of one person)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None  # Zoom user id; blank for people outside the account
    participant_user_id: str | None = None
    user_id: str | None = None  # per join
    registrant_id: str | None = None
    name: str | None = None
    user_email: str | None = None
    join_time: datetime | None = None
    leave_time: datetime | None = None  # absent while still in the meeting
    duration: int | None = None  # seconds
    status: str | None = None
    bo_mtg_id: str | None = None
    customer_key: str | None = None

    @field_validator("id", "participant_user_id", "user_id", "registrant_id", "name", "user_email", "status",
                     "bo_mtg_id", "customer_key", "join_time", "leave_time", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            return None
        return str(v) if isinstance(v, int) else v

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int | None:
        return parse_duration_s(v)

    @field_validator("name", mode="after")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return v.replace("#", ",") if v else v
