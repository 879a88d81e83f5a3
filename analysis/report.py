"""The final meeting report (``report.json``): pydantic models and ``build_report``.

Times are seconds from meeting start unless a key ends in ``_at`` (ISO 8601 UTC). Definitions of every
number are in docs/metrics.md. Opted-out participants (consent false) appear with identity and presence
only: every analytic field (talk, camera, chat, reactions, hands, scores) is ``null`` — "not measured",
never 0 — they have no speech segments, no chat entries, no transcript lines, and they are left out of
every meeting-level analytic total (talk balance, overlap, silence, chat/reaction/hand totals).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import numpy as np
from pydantic import AliasChoices, BaseModel, Field, field_validator

from analysis import presence as iv
from analysis import scores
from analysis.scores import ATTENTION_WEIGHTS, ENGAGEMENT_WEIGHTS
from analysis.effectiveness import Effectiveness, compute_effectiveness
from analysis.events import AUDIO_GAPS, SpeechSegment
from analysis.meeting_state import MeetingState
from analysis.reliability import ChannelStats, TalkReliability, assess
from analysis.talk_metrics import TalkParams, compute_talk_metrics, seg_array
from analysis.transcript import text_signals
from analysis.transcript_coverage import AsrSummary

SCHEMA_VERSION = 1



def rounded(x: float | None, nd: int = 3) -> float | None:
    """A figure as reports give it (``nd`` decimals), or None."""
    return None if x is None else round(float(x), nd)


_r = rounded  # every figure below goes through it


# ---------------------------------------------------------------------------------------------- input
# shares and roles are listed, not nulled: no share is reported, and everyone's role is "attendee"
Unobserved = Literal["hands", "reactions", "chat", "camera", "mute", "share", "roles"]


class MeetingInfo(BaseModel):
    id: str
    topic: str = ""
    # what the transport cannot see (RTMS: all of these): reported as null, never 0, and left out of scores
    not_observed: list[Unobserved] = Field(default_factory=list)
    # meeting start (t = 0), ISO 8601; naive values are taken as UTC. Also accepted as "started_at".
    start: datetime = Field(validation_alias=AliasChoices("start", "started_at"))
    duration_s: float | None = None
    end: datetime | None = Field(default=None, validation_alias=AliasChoices("end", "ended_at"))

    @field_validator("id", mode="before")
    @classmethod
    def _str_id(cls, v: Any) -> str:
        return str(v)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return v
        return v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v.astimezone(timezone.utc)


def iso_utc(dt: datetime) -> str:
    s = dt.astimezone(timezone.utc).isoformat(timespec="milliseconds" if dt.microsecond else "seconds")
    return s.replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------- output
class Span(BaseModel):
    start_s: float
    end_s: float


class PresenceSpan(BaseModel):
    join_s: float
    leave_s: float


class NameChange(BaseModel):
    t: float
    name: str


class ReactionEvent(BaseModel):
    t: float
    emoji: str


class ChatEntry(BaseModel):
    t: float
    sender: str  # participant key
    to: str  # everyone | host | bot | <key>
    text: str | None  # null when the sender did not consent (such messages are not listed at all)


class ComplianceCheck(BaseModel):
    name: str
    status: str  # pass | fail | warn | n/a
    detail: str | None = None
    at_s: float | None = None


class Compliance(BaseModel):
    status: str
    checks: list[ComplianceCheck] = Field(default_factory=list)


class AttentionComponents(BaseModel):
    """Each in 0..1; ``weights`` are the ones used (responsiveness left out when no roll call was asked)."""

    presence_share: float  # present_s / meeting duration
    camera_share: float | None  # camera_on_s / present_s; None: the camera was not observed
    responsiveness: float | None = None  # roll calls answered / asked while present; None: none asked
    interaction: float | None  # min(1, (chat messages + reactions + hand raises) / 3); None: not observed
    speaking: float = 0.0  # 1 if they spoke at least one turn
    weights: dict[str, float] = Field(default_factory=lambda: dict(ATTENTION_WEIGHTS))


class EngagementComponents(BaseModel):
    talk_share: float  # talk_time_s / everybody's talk time
    equal_share: float  # 1 / number of eligible participants
    talk_component: float  # min(1, talk_share / equal_share)
    spread: float = 0.0  # quarters of their time in the meeting with activity / 4
    nonverbal_actions: int | None  # chat messages + reactions + hand raises; None: none of them observed
    nonverbal_component: float | None  # min(1, nonverbal_actions / 3)
    weights: dict[str, float] = Field(default_factory=lambda: dict(ENGAGEMENT_WEIGHTS))


class ParticipantReport(BaseModel):
    key: str
    name: str
    role: str
    customer_key: str | None
    persistent_id: str | None
    consent: bool
    name_history: list[NameChange]
    presence: list[PresenceSpan]
    present_s: float
    first_join_s: float | None
    joins: int
    user_ids: list[int] = Field(default_factory=list)  # Zoom's per-join user ids, as the transport saw them
    # talk (null for opted-out participants)
    talk_time_s: float | None
    speaking_pct: float | None
    turns: int | None
    backchannels: int | None
    longest_monologue_s: float | None
    mean_turn_s: float | None
    overlap_s: float | None
    interruptions_made: int | None
    interrupted_by_others: int | None
    speech: list[Span]
    # presence-side engagement (null for opted-out participants)
    camera_on_s: float | None
    camera: list[Span]
    unmuted_s: float | None
    share: list[Span]
    chat_messages: int | None
    chat_times: list[float]
    reactions: int | None
    reaction_events: list[ReactionEvent]
    hand_raises: int | None
    hand_raise_times: list[float]
    attention_score: float | None
    attention: AttentionComponents | None
    engagement_score: float | None
    engagement: EngagementComponents | None
    compliance: Compliance | None = None
    text: TextStats | None = None  # from the transcript; null when ASR was off or for opted-out participants
    talk_reliability: TalkReliability | None = None  # whether talk time can be trusted; null when opted out


class TextStats(BaseModel):
    """Counted on the raw recognised text (see docs/metrics.md)."""

    words: int
    questions: int
    filler_words: int
    words_per_minute: float | None  # words / talk time; null without talk time


class TranscriptEntry(BaseModel):
    participant: str
    start_s: float
    end_s: float
    text: str
    source: Literal["live", "settled"] = "live"  # settled: the speaker's stretch decoded again as one


class InterruptionEntry(BaseModel):
    t: float
    by: str
    of: str
    overlap_s: float
    yielded: bool


class ReportMeeting(BaseModel):
    id: str
    topic: str
    started_at: str
    ended_at: str
    duration_s: float


class MeetingMetrics(BaseModel):
    talk_balance: float | None
    overlap_s: float
    silence_s: float
    window: Span  # the analysed stretch: first join → meeting end
    speech_s: float  # time anyone talks
    total_talk_s: float  # sum of participants' talk time
    speaker_switches: int
    speaker_switches_per_min: float
    median_switch_gap_s: float | None
    interruptions_total: int
    interruption_matrix: dict[str, dict[str, int]]  # [by][of]
    pair_overlap_s: dict[str, dict[str, float]]
    overlap_intervals: list[Span]
    participants_total: int
    participants_consented: int
    peak_present: int
    chat_messages: int | None  # None: not observed (Observer.not_observed)
    reactions: int | None
    hand_raises: int | None
    events_ignored: int
    parameters: dict[str, float]
    effectiveness: Effectiveness | None = None  # for the host: balance, monologues, questions, quiet stretches


class ObserverGap(BaseModel):
    """A stretch the bot could not see: talk time and transcript there are not measured (not zero)."""

    start_s: float
    end_s: float
    reason: str  # analysis.events.GapReason
    audio_only: bool  # the roster (presence, camera, chat) was still observed; only audio is missing


class Observer(BaseModel):
    """The bot that measured the meeting; its customer key finds its own row in Zoom's reports, which
    aligns the bot's clock (media time 0 = the bot's join) with Zoom's. ``gaps`` are what it could not
    see; ``audio_observed_s`` is the analysed window without them: where talk time was measured."""

    name: str = "Rollcall"
    customer_key: str | None = None
    gaps: list[ObserverGap] = Field(default_factory=list)
    audio_observed_s: float | None = None
    transport: Literal["zoom_sdk", "rtms"] = "zoom_sdk"  # a bot in the meeting, or a stream Zoom sends out
    not_observed: list[str] = Field(default_factory=list)  # what this transport cannot see (reported as null)


class Report(BaseModel):
    schema_version: int = SCHEMA_VERSION
    meeting: ReportMeeting
    observer: Observer | None = None
    participants: list[ParticipantReport]
    transcript: list[TranscriptEntry]
    asr: AsrSummary | None = None  # what the transcript covers and what was dropped; null when ASR was off
    chat: list[ChatEntry]
    interruptions: list[InterruptionEntry]
    meeting_metrics: MeetingMetrics


# ---------------------------------------------------------------------------------------------- build
def _spans(arr: np.ndarray) -> list[Span]:
    return [Span(start_s=_r(a), end_s=_r(b)) for a, b in arr]


def _observed(blind: set[str], **counts: int) -> dict[str, int]:
    """The counts whose kind the transport observes (``chat``, ``reactions``, ``hands``)."""
    return {k: v for k, v in counts.items() if k not in blind}


def _observer(state: MeetingState, window: tuple[float, float]) -> Observer:
    """The observer's gaps over its whole time (from media time 0: one before anyone's first join is still
    time it did not see), and the analysed window's seconds outside them."""
    gaps = [(a, min(b, window[1]), reason) for a, b, reason in state.gaps(window[1])]
    gaps = [g for g in gaps if g[1] > g[0]]
    in_window = [(max(a, window[0]), b) for a, b, _ in gaps if b > window[0]]
    unseen = iv.total(iv.union(in_window)) if in_window else 0.0
    return Observer(gaps=[ObserverGap(start_s=_r(a), end_s=_r(b), reason=r, audio_only=r in AUDIO_GAPS) for a, b, r in gaps],
                    audio_observed_s=_r(max(0.0, window[1] - window[0] - unseen)))


def _text_stats(texts: list[str], talk_time_s: float) -> TextStats:
    sig = [text_signals(t) for t in texts]
    words = sum(x.words for x in sig)
    return TextStats(words=words, questions=sum(x.questions for x in sig), filler_words=sum(x.fillers for x in sig),
                     words_per_minute=_r(60.0 * words / talk_time_s, 1) if talk_time_s > 0 else None)


def build_report(
    meeting_info: MeetingInfo | Mapping[str, Any],
    state: MeetingState,
    segments: Mapping[str, Sequence[SpeechSegment]] | Sequence[SpeechSegment],
    transcript: Sequence[TranscriptEntry | Mapping[str, Any]] = (),
    *,
    params: TalkParams = TalkParams(),
    compliance: Mapping[str, Compliance] | None = None,
    roll_call: Mapping[str, tuple[int, int]] | None = None,
    transcribed: bool = False,
    channels: Mapping[str, ChannelStats | None] | None = None,
    asr: AsrSummary | None = None,
) -> Report:
    """Build the final report. ``segments``: final speech segments, per key or flat. ``roll_call``: per
    key, roll calls (asked while present, answered) when a training policy ran. ``channels``: what the
    talk detector measured of each participant's audio, for the reliability of their talk time."""
    info = meeting_info if isinstance(meeting_info, MeetingInfo) else MeetingInfo.model_validate(dict(meeting_info))
    if info.duration_s is not None:
        duration = float(info.duration_s)
    elif info.end is not None:
        duration = (info.end - info.start).total_seconds()
    elif state.ended_at is not None:
        duration = state.ended_at
    else:
        duration = state.last_t
    duration = max(0.0, duration)
    blind = set(info.not_observed)

    if not isinstance(segments, Mapping):
        by_key: dict[str, list[SpeechSegment]] = {}
        for s in segments:
            by_key.setdefault(s.key, []).append(s)
        segments = by_key
    consented = [k for k, p in state.participants.items() if p.consent]
    opted_out = {k for k, p in state.participants.items() if not p.consent}
    # only consented roster members are analysed; segments of unknown or opted-out keys are dropped
    segs = {k: list(segments.get(k, ())) for k in consented}

    presence = {k: state.presence_intervals(k, duration) for k in state.participants}
    present_s = {k: iv.total(a) for k, a in presence.items()}
    first_join = state.first_join_s if state.first_join_s is not None else 0.0
    window = (min(first_join, duration), duration)
    eligible = [k for k in consented if present_s[k] > 0]
    tm = compute_talk_metrics(segs, window=window, balance_keys=eligible, params=params)

    n_eligible = len(eligible)
    total_talk = tm.total_talk_s
    tx = [e if isinstance(e, TranscriptEntry) else TranscriptEntry.model_validate(dict(e)) for e in transcript]
    tx = [e for e in tx if e.participant not in opted_out]
    said: dict[str, list[str]] = {}
    for e in tx:
        said.setdefault(e.participant, []).append(e.text)
    rows: list[ParticipantReport] = []
    for key, p in state.participants.items():
        pres = presence[key]
        base = dict(
            key=key, name=p.name, role=p.role, customer_key=p.customer_key, persistent_id=p.persistent_id,
            consent=p.consent, name_history=[NameChange(t=_r(t), name=n) for t, n in p.name_history],
            presence=[PresenceSpan(join_s=_r(a), leave_s=_r(b)) for a, b in pres],
            present_s=_r(present_s[key]), first_join_s=_r(p.first_join_s), joins=len(p.presence.starts),
            user_ids=list(p.user_ids),
            compliance=(compliance or {}).get(key),
        )
        if not p.consent:
            rows.append(ParticipantReport(
                **base, talk_time_s=None, speaking_pct=None, turns=None, backchannels=None,
                longest_monologue_s=None, mean_turn_s=None, overlap_s=None, interruptions_made=None,
                interrupted_by_others=None, speech=[], camera_on_s=None, camera=[], unmuted_s=None, share=[],
                chat_messages=None, chat_times=[], reactions=None, reaction_events=[], hand_raises=None,
                hand_raise_times=[], attention_score=None, attention=None, engagement_score=None,
                engagement=None))
            continue
        t = tm.participants[key]
        unheard = iv.total(iv.intersect(pres, [(a, b) for a, b, _ in state.gaps(duration)]))
        reliability = assess((channels or {}).get(key), present_s[key], unheard)
        cam = [] if "camera" in blind else state.camera_intervals(key, duration)
        cam_s = iv.total(cam)
        seen = _observed(blind, chat=p.chat_messages, reactions=len(p.reactions), hands=p.hand_raises)
        nonverbal = sum(seen.values()) if seen else None
        asked, answered = (roll_call or {}).get(key, (0, 0))
        camera_share = None if "camera" in blind else cam_s / present_s[key] if present_s[key] > 0 else 0.0
        att_score, comps, weights = scores.attention(
            present_s[key] / duration if duration > 0 else 0.0, camera_share,
            answered / asked if asked else None, nonverbal, t.turns > 0)
        att = AttentionComponents(**comps, weights=weights)
        share = t.talk_time_s / total_talk if total_talk > 0 else 0.0
        equal = 1.0 / n_eligible if n_eligible else 1.0
        activity = ([s.start_s for s in segs[key]] + list(p.chat_times) + [x for x, _ in p.reactions]
                    + list(p.hand_raise_times))
        eng = EngagementComponents(
            talk_share=_r(share, 4), equal_share=_r(equal, 4), talk_component=_r(min(1.0, share / equal), 4),
            spread=_r(scores.spread(pres, activity), 4), nonverbal_actions=nonverbal,
            nonverbal_component=None if nonverbal is None else _r(scores.interaction(nonverbal), 4))
        eng_score, eng.weights = scores.weighted(
            {"talk": eng.talk_component, "spread": eng.spread, "nonverbal": eng.nonverbal_component}, ENGAGEMENT_WEIGHTS)
        rows.append(ParticipantReport(
            **base, talk_time_s=_r(t.talk_time_s), speaking_pct=_r(t.speaking_pct, 2), turns=t.turns,
            backchannels=t.backchannels, longest_monologue_s=_r(t.longest_monologue_s),
            mean_turn_s=_r(t.mean_turn_s), overlap_s=_r(t.overlap_s), interruptions_made=t.interruptions_made,
            interrupted_by_others=t.interrupted_by_others, speech=_spans(seg_array(segs[key], window)),
            camera_on_s=None if "camera" in blind else _r(cam_s), camera=_spans(cam),
            unmuted_s=None if "mute" in blind else _r(iv.total(state.unmuted_intervals(key, duration))),
            share=_spans(state.share_intervals(key, duration)), chat_messages=seen.get("chat"),
            chat_times=[_r(x) for x in p.chat_times] if "chat" in seen else [], reactions=seen.get("reactions"),
            reaction_events=[ReactionEvent(t=_r(x), emoji=e) for x, e in p.reactions] if "reactions" in seen else [],
            hand_raises=seen.get("hands"),
            hand_raise_times=[_r(x) for x in p.hand_raise_times] if "hands" in seen else [],
            attention_score=_r(att_score),
            attention=att, engagement_score=_r(eng_score), engagement=eng,
            text=_text_stats(said.get(key, []), t.talk_time_s) if transcribed else None,
            talk_reliability=reliability))

    chat = [ChatEntry(t=_r(m.t), sender=m.sender, to=m.to, text=m.text)
            for m in state.chat if m.sender not in opted_out]
    cons = [p for p in state.participants.values() if p.consent]
    effectiveness = compute_effectiveness(
        {k: [(s.start_s, s.end_s) for s in v] for k, v in segs.items()},
        {k: tm.participants[k].talk_time_s for k in consented if k in tm.participants}, eligible,
        [p.key for p in cons if p.role == "host"], [(e.participant, e.start_s, e.end_s, e.text) for e in tx],
        [x for p in cons for x in (*p.chat_times, *(r for r, _ in p.reactions), *p.hand_raise_times,
                                   *p.presence.starts)], window)
    mm = MeetingMetrics(
        talk_balance=_r(tm.talk_balance, 4), overlap_s=_r(tm.overlap_s), silence_s=_r(tm.silence_s),
        window=Span(start_s=_r(window[0]), end_s=_r(window[1])), speech_s=_r(tm.speech_s),
        total_talk_s=_r(tm.total_talk_s), speaker_switches=tm.speaker_switches,
        speaker_switches_per_min=_r(tm.speaker_switches_per_min, 2), median_switch_gap_s=_r(tm.median_switch_gap_s),
        interruptions_total=len(tm.interruptions),
        interruption_matrix={k: v for k, v in tm.interruption_matrix.items() if v},
        pair_overlap_s={k: {o: _r(x) for o, x in v.items()} for k, v in tm.pair_overlap.items() if v},
        overlap_intervals=_spans(tm.overlap_intervals), participants_total=len(state.participants),
        participants_consented=len(cons), peak_present=iv.peak(list(presence.values())),
        chat_messages=None if "chat" in blind else sum(p.chat_messages for p in cons),
        reactions=None if "reactions" in blind else sum(len(p.reactions) for p in cons),
        hand_raises=None if "hands" in blind else sum(p.hand_raises for p in cons), events_ignored=state.ignored,
        parameters={k: float(v) for k, v in asdict(params).items()}, effectiveness=effectiveness)
    meeting = ReportMeeting(id=info.id, topic=info.topic, started_at=iso_utc(info.start),
                            ended_at=iso_utc(info.start + timedelta(seconds=duration)), duration_s=_r(duration))
    observer = _observer(state, window).model_copy(update={"not_observed": list(info.not_observed)})
    return Report(meeting=meeting, observer=observer, participants=rows, transcript=tx, asr=asr, chat=chat,
                  interruptions=[InterruptionEntry(**{**asdict(x), "t": _r(x.t), "overlap_s": _r(x.overlap_s)})
                                 for x in tm.interruptions], meeting_metrics=mm)
