"""MeetingState: the roster and per-participant state built from normalised ``MeetingEvent``s.

Feed events in media-time order with ``apply``. The state never raises on odd input: an event for an
unknown participant (unknown ``user_id`` and no known ``key``) or after the meeting ended is counted in
``ignored`` and dropped; an event that changes nothing (a join while joined, video_on while on, a leave
while not present …) is counted in ``redundant`` and dropped.

Rules
- Identity is ``key`` (persistent across rejoins). ``user_id`` changes on every rejoin: each join maps its
  ``user_id`` to the key, and later events may carry only ``user_id``.
- Presence: join opens an interval, leave closes it; "end" closes everything. Rejoins add intervals to the
  same participant.
- Leaving also closes the camera, the screen share and the raised hand, and mutes (no camera, hand or
  audio without presence). A fresh join starts muted with the camera off.
- Camera, mute, hand, share, reaction and chat events of a participant who is not present are redundant.
- Renames keep the key; ``name`` is the latest, ``name_history`` keeps (t, name) of every name.
- Consent: read from each join; once a participant has opted out in this meeting they stay opted out.
  Chat text of opted-out senders is never stored (only the count and the time).
- Gaps: ``gap_start``/``gap_end`` (meeting-wide, with a ``reason``) mark stretches the observer could not
  see (no recording permission, reconnecting, breakout rooms); "end" closes any still open.
- Queries at a media time ``t`` (``present``, ``camera_on``, ``hand_up``, ``totals``) answer for any ``t``
  up to the last applied event; open intervals are taken to continue.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

from analysis.events import MeetingEvent

OPEN = math.inf


class _Spans:
    """Append-only intervals with an optionally open last one; ``[start, end)`` in media seconds."""

    __slots__ = ("starts", "ends")

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []

    @property
    def is_open(self) -> bool:
        return bool(self.ends) and self.ends[-1] == OPEN

    def open(self, t: float) -> bool:
        if self.is_open:
            return False
        self.starts.append(t)
        self.ends.append(OPEN)
        return True

    def close(self, t: float) -> bool:
        if not self.is_open:
            return False
        self.ends[-1] = max(t, self.starts[-1])
        return True

    def at(self, t: float) -> bool:
        i = bisect.bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.ends[i]

    def closed_until(self, until: float) -> np.ndarray:
        """Intervals with open ends closed at ``until`` and everything clipped to ``[0, until)``."""
        if not self.starts:
            return np.zeros((0, 2))
        arr = np.column_stack([np.asarray(self.starts, float), np.minimum(np.asarray(self.ends, float), until)])
        arr[:, 0] = np.maximum(arr[:, 0], 0.0)
        return arr[arr[:, 1] > arr[:, 0]]

    def total(self, until: float) -> float:
        arr = self.closed_until(until)
        return float((arr[:, 1] - arr[:, 0]).sum()) if len(arr) else 0.0


@dataclass
class ChatMessage:
    t: float
    sender: str  # participant key
    to: str  # everyone | host | bot | <key>
    text: str | None  # None when the sender has not consented


@dataclass
class Participant:
    key: str
    name: str
    role: str = "attendee"
    customer_key: str | None = None
    persistent_id: str | None = None
    consent: bool = True
    user_ids: list[int] = field(default_factory=list)
    name_history: list[tuple[float, str]] = field(default_factory=list)
    role_history: list[tuple[float, str]] = field(default_factory=list)
    presence: _Spans = field(default_factory=_Spans)
    unmuted: _Spans = field(default_factory=_Spans)
    camera: _Spans = field(default_factory=_Spans)
    share: _Spans = field(default_factory=_Spans)
    hand: _Spans = field(default_factory=_Spans)
    hand_raise_times: list[float] = field(default_factory=list)
    reactions: list[tuple[float, str]] = field(default_factory=list)
    chat_times: list[float] = field(default_factory=list)

    @property
    def hand_raises(self) -> int:
        return len(self.hand_raise_times)

    @property
    def chat_messages(self) -> int:
        return len(self.chat_times)

    @property
    def first_join_s(self) -> float | None:
        return self.presence.starts[0] if self.presence.starts else None


class MeetingState:
    def __init__(self) -> None:
        self.participants: dict[str, Participant] = {}
        self.user_to_key: dict[int, str] = {}
        self.chat: list[ChatMessage] = []
        self.ended_at: float | None = None
        self.last_t: float = 0.0
        self.first_join_s: float | None = None
        self.ignored: int = 0  # unknown participant, or after "end"
        self.redundant: int = 0  # known participant, but the event changes nothing
        self.out_of_order: int = 0  # applied, but earlier than an event already applied
        self._all_chat_times: list[float] = []
        self._all_reaction_times: list[float] = []
        self._all_hand_times: list[float] = []
        self._gaps: dict[str, _Spans] = {}  # reason -> stretches the observer could not see

    # ------------------------------------------------------------------ events
    def apply(self, ev: MeetingEvent) -> bool:
        """Apply one event. Returns True if it changed the state, False if ignored or redundant."""
        if self.ended_at is not None:
            self.ignored += 1
            return False
        t = float(ev.t)
        if t < self.last_t:
            self.out_of_order += 1
            t = self.last_t  # never move time backwards: clamp, keep the event
        self.last_t = t
        if ev.type == "end":
            self._end(t)
            return True
        if ev.type == "join":
            return self._join(t, ev)
        if ev.type == "active_speaker":
            return False  # Zoom's view of who is loudest; talk time is measured from each person's audio
        if ev.type in ("gap_start", "gap_end"):
            spans = self._gaps.setdefault(ev.reason or "unknown", _Spans())
            changed = spans.open(t) if ev.type == "gap_start" else spans.close(t)
            self.redundant += not changed
            return changed
        p = self._resolve(ev)
        if p is None:
            self.ignored += 1
            return False
        changed = self._dispatch(t, ev, p)
        if not changed:
            self.redundant += 1
        return changed

    def apply_all(self, events) -> None:
        for ev in events:
            self.apply(ev)

    def _resolve(self, ev: MeetingEvent) -> Participant | None:
        key = ev.key
        if key is None and ev.user_id is not None:
            key = self.user_to_key.get(ev.user_id)
        return self.participants.get(key) if key is not None else None

    def _join(self, t: float, ev: MeetingEvent) -> bool:
        key = ev.key
        if key is None and ev.user_id is not None:
            key = self.user_to_key.get(ev.user_id)
        if key is None:
            self.ignored += 1
            return False
        p = self.participants.get(key)
        if p is None:
            p = Participant(key=key, name=ev.name or key, role=ev.role or "attendee",
                            customer_key=ev.customer_key, persistent_id=ev.persistent_id, consent=ev.consent)
            p.name_history.append((t, p.name))
            p.role_history.append((t, p.role))
            self.participants[key] = p
        else:
            p.consent = p.consent and ev.consent
            if ev.name and ev.name != p.name:
                p.name = ev.name
                p.name_history.append((t, ev.name))
            if ev.role and ev.role != p.role:
                p.role = ev.role
                p.role_history.append((t, ev.role))
            p.customer_key = ev.customer_key or p.customer_key
            p.persistent_id = ev.persistent_id or p.persistent_id
        if ev.user_id is not None:
            self.user_to_key[ev.user_id] = key
            if ev.user_id not in p.user_ids:
                p.user_ids.append(ev.user_id)
        if not p.presence.open(t):
            self.redundant += 1  # join while already joined
            return False
        if self.first_join_s is None:
            self.first_join_s = t
        return True

    def _dispatch(self, t: float, ev: MeetingEvent, p: Participant) -> bool:
        typ = ev.type
        if typ == "rename":
            if not ev.name or ev.name == p.name:
                return False
            p.name = ev.name
            p.name_history.append((t, ev.name))
            return True
        if typ == "host_change":
            return self._host_change(t, ev, p)
        if typ == "leave":
            return self._leave(t, p)
        if not p.presence.is_open:
            return False  # nothing but a rename or a host change happens to an absent participant
        if typ == "unmute":
            return p.unmuted.open(t)
        if typ == "mute":
            return p.unmuted.close(t)
        if typ == "video_on":
            return p.camera.open(t)
        if typ == "video_off":
            return p.camera.close(t)
        if typ == "share_start":
            return p.share.open(t)
        if typ == "share_end":
            return p.share.close(t)
        if typ == "raise_hand":
            if p.hand.open(t):
                p.hand_raise_times.append(t)
                self._all_hand_times.append(t)
                return True
            return False
        if typ == "lower_hand":
            return p.hand.close(t)
        if typ == "reaction":
            p.reactions.append((t, ev.emoji or ""))
            self._all_reaction_times.append(t)
            return True
        if typ == "chat":
            p.chat_times.append(t)
            self._all_chat_times.append(t)
            self.chat.append(ChatMessage(t=t, sender=p.key, to=ev.to or "everyone",
                                         text=ev.text if p.consent else None))
            return True
        return False

    def _host_change(self, t: float, ev: MeetingEvent, p: Participant) -> bool:
        new_role = ev.role or "host"
        if new_role == p.role:
            return False
        if new_role == "host":
            for other in self.participants.values():
                if other is not p and other.role == "host":
                    other.role = "attendee"
                    other.role_history.append((t, "attendee"))
        p.role = new_role
        p.role_history.append((t, new_role))
        return True

    def _leave(self, t: float, p: Participant) -> bool:
        if not p.presence.close(t):
            return False
        for spans in (p.unmuted, p.camera, p.share, p.hand):
            spans.close(t)
        return True

    def _end(self, t: float) -> None:
        for p in self.participants.values():
            self._leave(t, p)
        for spans in self._gaps.values():
            spans.close(t)
        self.ended_at = t

    # ------------------------------------------------------------------ queries
    def key_for_user(self, user_id: int) -> str | None:
        return self.user_to_key.get(user_id)

    def _p(self, key: str) -> Participant | None:
        return self.participants.get(key)

    def present(self, key: str, t: float) -> bool:
        p = self._p(key)
        return bool(p and p.presence.at(t))

    def camera_on(self, key: str, t: float) -> bool:
        p = self._p(key)
        return bool(p and p.camera.at(t))

    def hand_up(self, key: str, t: float) -> bool:
        p = self._p(key)
        return bool(p and p.hand.at(t))

    def unmuted(self, key: str, t: float) -> bool:
        p = self._p(key)
        return bool(p and p.unmuted.at(t))

    def sharing(self, key: str, t: float) -> bool:
        p = self._p(key)
        return bool(p and p.share.at(t))

    def presence_intervals(self, key: str, until: float | None = None) -> np.ndarray:
        """``[n, 2]`` presence intervals, open ones closed at ``until`` (default: end or last event)."""
        return self.participants[key].presence.closed_until(self._until(until))

    def camera_intervals(self, key: str, until: float | None = None) -> np.ndarray:
        return self.participants[key].camera.closed_until(self._until(until))

    def share_intervals(self, key: str, until: float | None = None) -> np.ndarray:
        return self.participants[key].share.closed_until(self._until(until))

    def unmuted_intervals(self, key: str, until: float | None = None) -> np.ndarray:
        return self.participants[key].unmuted.closed_until(self._until(until))

    def present_s(self, key: str, until: float | None = None) -> float:
        return self.participants[key].presence.total(self._until(until))

    def camera_on_s(self, key: str, until: float | None = None) -> float:
        return self.participants[key].camera.total(self._until(until))

    def gaps(self, until: float | None = None) -> list[tuple[float, float, str]]:
        """Every stretch the observer could not see, ``(start, end, reason)`` in time order."""
        end = self._until(until)
        return sorted((float(a), float(b), reason) for reason, spans in self._gaps.items()
                      for a, b in spans.closed_until(end))

    def open_gaps(self) -> list[str]:
        """The reasons of the gaps open now."""
        return sorted(reason for reason, spans in self._gaps.items() if spans.is_open)

    def _until(self, until: float | None) -> float:
        if until is not None:
            return float(until)
        return self.ended_at if self.ended_at is not None else self.last_t

    def totals(self, t: float) -> dict[str, int]:
        """Meeting-wide counts as of media time ``t`` (all participants, whatever their consent)."""
        ps = self.participants.values()
        return {
            "participants_seen": sum(1 for p in ps if p.presence.starts and p.presence.starts[0] <= t),
            "present": sum(1 for p in ps if p.presence.at(t)),
            "camera_on": sum(1 for p in ps if p.camera.at(t)),
            "hands_up": sum(1 for p in ps if p.hand.at(t)),
            "unmuted": sum(1 for p in ps if p.unmuted.at(t)),
            "sharing": sum(1 for p in ps if p.share.at(t)),
            "chat_messages": bisect.bisect_right(self._all_chat_times, t),
            "reactions": bisect.bisect_right(self._all_reaction_times, t),
            "hand_raises": bisect.bisect_right(self._all_hand_times, t),
        }
