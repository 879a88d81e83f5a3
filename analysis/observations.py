"""The observation log: every record a bot writes as it observes a meeting (events.jsonl on disk, the
bot's observation stream in Redis), and what is rebuilt from it.

One typed record per ``kind``; a line is the record's JSON. The log is self-describing: a training's
policy is in it, so whoever reads it (the orchestrator, for a bot that died) can judge the session
without the bot's configuration.

- :func:`report_from_log`: what a bot that died mid-meeting had seen up to its last flush, in the shape of
  the report it did not get to write. Final turns are in the log as they end; the turns still open are in
  the latest :class:`Decided` record.
- :func:`session_compliance`: a training's compliance over every bot that attended one meeting (a bot
  and the replacements that followed it), on the meeting's clock.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, fields
from typing import Annotated, Any, Literal, NamedTuple, get_type_hints

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from analysis import presence as iv
from analysis.compliance import ComplianceTracker, Facts, exceptions, report_compliance
from analysis.events import MeetingEvent, SpeechSegment
from analysis.live import ComplianceAlert
from analysis.meeting_state import MeetingState
from analysis.policy import TrainingPolicy
from analysis.report import Compliance, MeetingInfo, Report, TranscriptEntry, build_report


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the Redis link adds a sequence number ("seq")


class Decided(_Record):
    """Media time up to which every frame is decided, and each open turn (start, end) so far."""

    kind: Literal["decided"] = "decided"
    t: float
    open: dict[str, tuple[float, float]] = {}


class Speech(_Record):
    """A final talk turn."""

    kind: Literal["speech"] = "speech"
    key: str
    start_s: float
    end_s: float


class Transcript(TranscriptEntry):
    """A transcript line (live, or a settled stretch that replaces the live lines within it)."""

    model_config = ConfigDict(extra="ignore")
    kind: Literal["transcript"] = "transcript"


class _EventFields(_Record):
    def event(self) -> MeetingEvent:
        return MeetingEvent(**{f.name: getattr(self, f.name) for f in fields(MeetingEvent)})


_EVENT_HINTS = get_type_hints(MeetingEvent)
Event = create_model(  # a meeting event as the transport reported it: MeetingEvent's fields, flat
    "Event", __base__=_EventFields, kind=(Literal["event"], "event"),
    **{f.name: (_EVENT_HINTS[f.name], f.default if f.default is not MISSING else ...) for f in fields(MeetingEvent)})


class BotChat(_Record):
    """What the bot said in the chat (``to``: "everyone" or a participant's key)."""

    kind: Literal["bot_chat"] = "bot_chat"
    t: float
    to: str
    text: str


class ComplianceChange(ComplianceAlert):
    """An attendee's compliance status changed."""

    model_config = ConfigDict(extra="ignore")
    kind: Literal["compliance"] = "compliance"


class PolicyApplied(_Record):
    """A training policy applies to the meeting: written first, by every bot of a training."""

    kind: Literal["policy"] = "policy"
    policy: TrainingPolicy
    meeting_id: str
    duration_s: float  # the session's scheduled length
    expected: dict[str, tuple[str, str]] = {}  # the roster the training expects: key → (name, role)


class RollCallPosted(_Record):
    """The bot posted roll-call prompt ``index`` of the policy's plan."""

    kind: Literal["roll_call"] = "roll_call"
    index: int
    t: float


Observation = Annotated[Decided | Speech | Transcript | Event | BotChat | ComplianceChange | PolicyApplied
                        | RollCallPosted, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[Observation] = TypeAdapter(Observation)


def encode(record: _Record) -> dict[str, Any]:
    """The record as one line of the log (JSON-ready; fields without a value left out)."""
    return record.model_dump(mode="json", exclude_none=True)


def parse(line: Mapping[str, Any]) -> Observation | None:
    """A log line as its record; None for a kind this version does not know, or a damaged line."""
    try:
        return _ADAPTER.validate_python(line)
    except ValidationError:
        return None


def _records(lines: Iterable[Mapping[str, Any]]) -> list[Observation]:
    """The lines' records in order, each line once (the Redis link may send a line twice)."""
    seen: set[int] = set()
    out = []
    for line in lines:
        seq = line.get("seq")
        if isinstance(seq, int):
            if seq in seen:
                continue
            seen.add(seq)
        rec = parse(line)
        if rec is not None:
            out.append(rec)
    return out


def _observed(records: Sequence[Observation], end_s: float) -> tuple[MeetingState, list[SpeechSegment]]:
    """The meeting state and talk turns of one bot's records up to ``end_s`` (its media time); turns
    still open at the last :class:`Decided` count up to where they were decided (they were observed)."""
    state = MeetingState()
    segments: list[SpeechSegment] = []
    decided: Decided | None = None
    for rec in records:
        if isinstance(rec, Decided) and rec.t <= end_s:
            decided = rec
        elif isinstance(rec, Event) and rec.t <= end_s and rec.type != "end":
            state.apply(rec.event())
        elif isinstance(rec, Speech) and rec.start_s < end_s:
            segments.append(SpeechSegment(rec.key, rec.start_s, min(end_s, rec.end_s)))
    final = {(s.key, round(s.start_s, 3)) for s in segments}
    for key, (start, end) in (decided.open if decided else {}).items():
        if (key, round(start, 3)) not in final and start < end_s:
            segments.append(SpeechSegment(key, start, min(end_s, end)))
    return state, segments


def report_from_log(info: MeetingInfo, lines: Iterable[Mapping[str, Any]], end_s: float) -> Report:
    """The report of what was logged before ``end_s`` (media seconds); the meeting ends there for it."""
    records = _records(lines)
    state, segments = _observed(records, end_s)
    transcript = [TranscriptEntry(**r.model_dump(exclude={"kind"})) for r in records
                  if isinstance(r, Transcript) and r.end_s <= end_s]
    transcribed = any(isinstance(r, Transcript) for r in records)
    info = info.model_copy(update={"duration_s": end_s, "end": None})
    return build_report(info, state, segments, transcript, transcribed=transcribed)


class BotLog(NamedTuple):
    """One bot's observation log: its lines, the media time up to which they are complete, and the
    meeting's clock at its media time 0 (its join; 0 for a bot there from the start)."""

    lines: Sequence[Mapping[str, Any]]
    end_s: float
    offset_s: float = 0.0


class SessionCompliance(NamedTuple):
    compliance: dict[str, Compliance]  # per attendee the policy applies to
    exceptions: list[dict]  # one row per failed rule


def session_compliance(logs: Sequence[BotLog]) -> SessionCompliance | None:
    """A training's compliance over every bot that attended one meeting, in the order they attended;
    None when no log names a policy (not a training).

    Each bot's observations go on the meeting's clock (its ``offset_s``). Between
    one bot's last record and the next one's join nobody was observed: someone present on both sides was
    there throughout (the observer's failure is not theirs), and a roll call due in between was never
    posted, so it counts for nobody."""
    runs = [(recs, log.end_s, log.offset_s) for log in logs if (recs := _records(log.lines))]
    first = next((r for recs, _, _ in runs for r in recs if isinstance(r, PolicyApplied)), None)
    if first is None:
        return None
    tracker = ComplianceTracker(first.policy, first.duration_s, first.meeting_id)
    names: dict[str, str] = {k: name for k, (name, _) in first.expected.items()}
    roles: dict[str, str] = {k: role for k, (_, role) in first.expected.items()}
    presence: dict[str, list[np.ndarray]] = {}
    camera: dict[str, list[np.ndarray]] = {}
    talk: dict[str, list[float]] = {}
    ends: list[tuple[float, float, MeetingState]] = []  # per bot: its offset, how far it saw, what it saw
    for recs, flushed_s, offset in runs:
        # a bot that saw the meeting end logged it: it saw everything up to there
        end_s = next((r.t for r in recs if isinstance(r, Event) and r.type == "end"), flushed_s)
        state, segments = _observed(recs, end_s)
        tracker.posted.update(r.index for r in recs if isinstance(r, RollCallPosted))
        for rec in recs:  # answers once the prompts are known: a prompt counts only once posted
            if isinstance(rec, Event) and rec.type == "chat" and rec.key is not None and rec.t <= end_s:
                tracker.record_chat(rec.key, offset + rec.t, rec.text, rec.to)
        for key, p in state.participants.items():
            names[key], roles[key] = p.name, p.role
            presence.setdefault(key, []).append(state.presence_intervals(key, end_s) + offset)
            camera.setdefault(key, []).append(state.camera_intervals(key, end_s) + offset)
        for s in segments:
            talk.setdefault(s.key, []).append(s.duration_s)
        ends.append((offset, end_s, state))
    for (o1, end1, before), (o2, _, after) in zip(ends, ends[1:]):
        gap = np.array([[o1 + end1, o2]])
        for key in set(before.participants) & set(after.participants):
            if before.present(key, end1) and after.present(key, 0.0):  # there when one left and the next came
                presence[key].append(gap)
                if before.camera_on(key, end1) and after.camera_on(key, 0.0):
                    camera[key].append(gap)
    facts = [Facts(key=k, name=names[k], role=roles[k],
                   presence=iv.union(np.concatenate(presence[k])) if k in presence else np.zeros((0, 2)),
                   camera=iv.union(np.concatenate(camera[k])) if k in camera else np.zeros((0, 2)),
                   talk_s=float(sum(talk.get(k, []))), turns=len(talk.get(k, [])))
             for k in names]
    final = tracker.final(facts)
    return SessionCompliance(report_compliance(first.policy, final), exceptions(final, names))
