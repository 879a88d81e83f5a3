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

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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


class _Tolerant(BaseModel):
    """Unknown fields are kept (``model_extra``); blank strings are None; numbers given for text are text."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: (None if isinstance(v, str) and not v.strip() else v) for k, v in data.items()}
        return data


class ReportParticipant(_Tolerant):
    """One row of ``GET /report/meetings/{id}/participants`` or ``/past_meetings/{id}/participants``: one
    join of one person (a rejoin, a breakout move or a waiting-room stay is another row)."""

    id: str | None = None  # Zoom user id; blank for people outside the account
    participant_user_id: str | None = None
    user_id: str | None = None  # per join
    registrant_id: str | None = None
    name: str | None = None
    user_email: str | None = None
    join_time: datetime | None = None
    leave_time: datetime | None = None  # absent while still in the meeting
    duration: int | None = None  # seconds
    status: str | None = None  # in_meeting | in_waiting_room
    bo_mtg_id: str | None = None  # set while in a breakout room
    customer_key: str | None = None  # set for Meeting SDK clients (our bot)
    internal_user: bool | None = None

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int | None:
        return parse_duration_s(v)

    @field_validator("name", mode="after")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return v.replace("#", ",") if v else v


class PastMeeting(_Tolerant):
    """``GET /past_meetings/{uuid}`` (Light): one ended instance. ``duration`` here is in minutes."""

    uuid: str | None = None
    id: str | None = None
    topic: str | None = None
    host_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None  # minutes
    participants_count: int | None = None
    total_minutes: int | None = None


class MeetingInstance(_Tolerant):
    uuid: str
    start_time: datetime | None = None


class Registration(_Tolerant):
    """The answer to adding a registrant: the personal join link binds whoever uses it to ``registrant_id``
    (absent when the meeting needs manual approval)."""

    registrant_id: str
    id: str | None = None  # the meeting number
    join_url: str | None = None
    topic: str | None = None
    start_time: datetime | None = None


class Registrant(_Tolerant):
    id: str | None = None  # the registrant id
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    status: str | None = None
    join_url: str | None = None
    create_time: datetime | None = None


class Occurrence(_Tolerant):
    """One occurrence of a recurring meeting (``GET /meetings/{id}``). ``occurrence_id`` is the start in epoch
    milliseconds, as text; ``status`` is ``available`` or ``deleted``."""

    occurrence_id: str | None = None
    start_time: datetime | None = None
    duration: int | None = None  # minutes
    status: str | None = None


class TrackingField(_Tolerant):
    field: str | None = None
    value: str | None = None


class ScheduledMeeting(_Tolerant):
    """One entry of a user's upcoming meetings, or one meeting's details (``GET /meetings/{id}``, which adds
    ``occurrences``, ``tracking_fields``, ``recurrence``, ``settings``). ``duration`` is in minutes. In the
    list a recurring meeting with a fixed time (type 8) shows its next occurrence only."""

    id: str
    uuid: str | None = None
    topic: str | None = None
    type: int | None = None  # 2 scheduled, 3 recurring without fixed time, 8 recurring with fixed time
    start_time: datetime | None = None
    duration: int | None = None
    timezone: str | None = None
    join_url: str | None = None
    host_id: str | None = None
    host_email: str | None = None  # details only
    password: str | None = None  # details only: the meeting passcode
    occurrences: list[Occurrence] = Field(default_factory=list)
    tracking_fields: list[TrackingField] = Field(default_factory=list)
    recurrence: dict | None = None

    @field_validator("occurrences", "tracking_fields", mode="before")
    @classmethod
    def _no_list(cls, v: Any) -> Any:
        return [] if v is None else v
