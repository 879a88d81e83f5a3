"""The live snapshot: what the host sees every 1–2 s while the meeting runs.

``LiveTracker`` keeps running totals of the final segments it has been given (``add_segments``), so that
``snapshot(t, …)`` costs O(participants) plus a cached overlap/silence sweep that only re-runs after new
segments arrived. ``build_snapshot`` is the stateless one-shot equivalent.

Talk time so far = the participant's final segments up to ``t`` + the currently open provisional turn:
``end − max(start, end of their last final segment)`` for the detector's open turn ``(start, end)``,
which it reports once the turn holds enough voice to be kept and only up to the last frame it has decided,
so the live figure never runs ahead of what the final report will say. Opted-out
participants show presence only: their talk, camera and hand fields are None, and they are left out of
the totals except ``present``.
"""
from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping

import numpy as np
from pydantic import BaseModel

from analysis import presence as iv
from analysis.events import SpeechSegment
from analysis.meeting_state import MeetingState
from analysis.report import TranscriptEntry
from analysis.talk_metrics import talk_balance

OpenTurns = Mapping[str, tuple[float, float] | None] | Callable[[str], tuple[float, float] | None]


class LiveParticipant(BaseModel):
    key: str
    name: str
    role: str
    consent: bool
    present: bool
    talking_now: bool
    talk_time_s: float | None
    share_pct: float | None  # of everybody's talk time so far
    turns: int | None
    camera_on: bool | None  # None for opted-out participants (presence only)
    hand_up: bool | None
    compliance: str | None = None  # on_track | at_risk | failed, when a training policy applies to them
    compliance_reasons: list[str] = []
    talk_doubts: list[str] = []  # analysis.reliability.Doubt values: why the talk time may be off


class LiveTotals(BaseModel):
    present: int
    talking: int
    camera_on: int | None  # None: not observed by this transport (RTMS)
    hands_up: int | None
    total_talk_s: float
    talk_balance: float | None
    overlap_s: float  # final segments only
    silence_s: float  # final segments only, from the first join to t
    chat_messages: int | None
    reactions: int | None
    hand_raises: int | None


class ComplianceAlert(BaseModel):
    """A participant's compliance status changed (published on the live channel with the snapshot)."""

    t: float
    key: str
    name: str
    before: str
    after: str
    reasons: list[str]


class LiveSnapshot(BaseModel):
    t: float  # media seconds from meeting start
    ended: bool = False  # the final snapshot, at the meeting end: totals are final, nobody is present
    transcript: list[TranscriptEntry] = []  # final transcript lines that became ready since the last snapshot
    interim: list[TranscriptEntry] = []  # provisional text of speech still going on (replaced by finals)
    participants: list[LiveParticipant]
    totals: LiveTotals
    alerts: list[ComplianceAlert] = []  # compliance changes since the last snapshot
    not_observed: list[str] = []  # gaps open now (analysis.events.GapReason): talk time is not being measured


class _Running:
    __slots__ = ("talk_s", "turns", "last_end", "segs")

    def __init__(self) -> None:
        self.talk_s = 0.0
        self.turns = 0
        self.last_end = -np.inf
        self.segs: list[tuple[float, float]] = []


class LiveTracker:
    """Incremental live statistics. Feed final segments as the detector emits them; snapshot at will."""

    def __init__(self, not_observed: Iterable[str] = ()) -> None:
        """``not_observed``: what the transport cannot see (``MeetingInfo.not_observed``): shown as null."""
        self._blind = frozenset(not_observed)
        self._run: dict[str, _Running] = {}
        self._dirty = True
        self._excluded: frozenset[str] = frozenset()
        self._speech = np.zeros((0, 2))
        self._overlap = np.zeros((0, 2))

    def add_segments(self, segments: Iterable[SpeechSegment]) -> None:
        for s in segments:
            if s.end_s <= s.start_s:
                continue
            r = self._run.setdefault(s.key, _Running())
            r.talk_s += s.end_s - s.start_s
            r.turns += 1
            r.last_end = max(r.last_end, s.end_s)
            r.segs.append((s.start_s, s.end_s))
            self._dirty = True

    def _refresh(self, excluded: frozenset[str]) -> None:
        if not self._dirty and excluded == self._excluded:
            return
        self._excluded = excluded
        sets = [iv.union(r.segs) for k, r in self._run.items() if r.segs and k not in excluded]
        self._speech = iv.union(np.concatenate(sets)) if sets else np.zeros((0, 2))
        self._overlap = iv.depth_at_least(sets, 2) if len(sets) >= 2 else np.zeros((0, 2))
        self._dirty = False

    def snapshot(self, t: float, state: MeetingState, talking_now: Mapping[str, bool] | None = None,
                 open_turns: OpenTurns | None = None) -> LiveSnapshot:
        talking_now = talking_now or {}
        get_open = _opener(open_turns)
        self._refresh(frozenset(k for k, p in state.participants.items() if not p.consent))
        rows: list[LiveParticipant] = []
        talk: dict[str, float] = {}
        for key, p in state.participants.items():
            if not p.consent:
                continue
            r = self._run.get(key)
            s = r.talk_s if r else 0.0
            turn = get_open(key)
            if turn is not None:
                start, end = turn
                s += max(0.0, min(end, t) - max(start, r.last_end if r else -np.inf))
            talk[key] = s
        total = sum(talk.values())
        eligible = [k for k, p in state.participants.items()
                    if p.consent and (p.presence.at(t) or talk.get(k, 0.0) > 0)]
        for key, p in state.participants.items():
            present = p.presence.at(t)
            if p.consent:
                r = self._run.get(key)
                s = talk[key]
                rows.append(LiveParticipant(
                    key=key, name=p.name, role=p.role, consent=True, present=present,
                    talking_now=bool(talking_now.get(key, False)) and present, talk_time_s=round(s, 3),
                    share_pct=round(100.0 * s / total, 2) if total > 0 else 0.0,
                    turns=(r.turns if r else 0) + (1 if get_open(key) is not None else 0),
                    camera_on=None if "camera" in self._blind else p.camera.at(t),
                    hand_up=None if "hands" in self._blind else p.hand.at(t)))
            else:
                rows.append(LiveParticipant(
                    key=key, name=p.name, role=p.role, consent=False, present=present, talking_now=False,
                    talk_time_s=None, share_pct=None, turns=None, camera_on=None, hand_up=None))
        lo = state.first_join_s if state.first_join_s is not None else 0.0
        speech_s = iv.total(iv.clip(self._speech, lo, t)) if t > lo else 0.0
        cons = [p for p in state.participants.values() if p.consent]
        blind = self._blind
        totals = LiveTotals(
            present=sum(1 for r in rows if r.present), talking=sum(1 for r in rows if r.talking_now),
            camera_on=None if "camera" in blind else sum(1 for r in rows if r.camera_on),
            hands_up=None if "hands" in blind else sum(1 for r in rows if r.hand_up),
            total_talk_s=round(total, 3), talk_balance=_round(talk_balance([talk[k] for k in eligible]), 4),
            overlap_s=round(iv.total(iv.clip(self._overlap, lo, t)), 3),
            silence_s=round(max(0.0, (t - lo) - speech_s), 3) if t > lo else 0.0,
            chat_messages=None if "chat" in blind else sum(bisect.bisect_right(p.chat_times, t) for p in cons),
            reactions=None if "reactions" in blind else sum(bisect.bisect_right(p.reactions, (t, "\U0010ffff"))
                                                            for p in cons),
            hand_raises=None if "hands" in blind else sum(bisect.bisect_right(p.hand_raise_times, t) for p in cons))
        return LiveSnapshot(t=float(t), participants=rows, totals=totals, not_observed=state.open_gaps())


def _round(x: float | None, nd: int) -> float | None:
    return None if x is None else round(x, nd)


def _opener(open_turns: OpenTurns | None) -> Callable[[str], tuple[float, float] | None]:
    if open_turns is None:
        return lambda _k: None
    if callable(open_turns):
        return open_turns
    return lambda k: open_turns.get(k)


def build_snapshot(t: float, state: MeetingState, segments: Mapping[str, Iterable[SpeechSegment]] | Iterable[SpeechSegment],
                   talking_now: Mapping[str, bool] | None = None,
                   open_turns: OpenTurns | None = None) -> LiveSnapshot:
    """One-shot snapshot from all final segments so far (a dict per key or a flat iterable)."""
    tr = LiveTracker()
    if isinstance(segments, Mapping):
        for segs in segments.values():
            tr.add_segments(segs)
    else:
        tr.add_segments(segments)
    return tr.snapshot(t, state, talking_now, open_turns)
