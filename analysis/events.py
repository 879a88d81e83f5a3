"""The normalised events every transport emits (Zoom SDK or simulator), and speech segments.

Participants are identified by ``key``: the persistent identity that survives rejoins (the scenario key
in the simulator, the SDK's persistent id in Zoom). ``user_id`` is the per-join SDK id, which changes on
every rejoin. Times are media seconds from meeting start.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EventType = Literal[
    "join", "leave", "mute", "unmute", "video_on", "video_off", "chat", "raise_hand", "lower_hand",
    "reaction", "share_start", "share_end", "rename", "host_change", "end",
    "active_speaker",  # Zoom's dominant speaker changed (logged for comparison; talk time comes from audio)
]
Role = Literal["host", "cohost", "attendee"]


@dataclass(frozen=True)
class MeetingEvent:
    t: float
    type: EventType
    key: str | None = None  # None only for meeting-wide events ("end")
    user_id: int | None = None
    # identity, carried on "join" (and "rename" for name)
    name: str | None = None
    role: Role | None = None
    customer_key: str | None = None
    persistent_id: str | None = None
    consent: bool = True
    # payloads
    text: str | None = None  # chat
    to: str | None = None  # chat recipient: everyone | host | bot | <key>
    emoji: str | None = None  # reaction


@dataclass(frozen=True)
class SpeechSegment:
    """One talk turn of one participant: voice from ``start_s`` to ``end_s`` with short pauses bridged."""

    key: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s
