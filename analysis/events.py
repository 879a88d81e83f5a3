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
    "gap_start", "gap_end",  # the bot stopped (or resumed) observing part of the meeting; ``reason`` says why
]
Role = Literal["host", "cohost", "attendee"]
CUSTOMER_KEY_MAX = 35  # Zoom's limit on a participant's customer_key
GapReason = Literal[
    "recording_not_permitted",  # in the meeting, but not (yet) allowed to record: no audio
    "recording_revoked",  # the host took the permission back: no audio until it is granted again
    "no_audio",  # recording, yet Zoom delivered no audio while it reported people talking
    "reconnecting",  # the connection dropped: nothing observed until the bot is back
    "waiting_room",  # the host moved the bot to the waiting room: nothing observed until admitted again
    "breakout",  # breakout rooms are open: only the bot's own room is observed
]
AUDIO_GAPS: frozenset[str] = frozenset({"recording_not_permitted", "recording_revoked", "no_audio"})
"""Gaps in which the roster is still observed and only audio (talk time, transcript) is missing."""


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
    reason: GapReason | None = None  # gap_start, gap_end


@dataclass(frozen=True)
class SpeechSegment:
    """One talk turn of one participant: voice from ``start_s`` to ``end_s`` with short pauses bridged."""

    key: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s
