"""A report from a bot's observation log (the lines of events.jsonl, as a bot streams them): what a
bot that died mid-meeting had seen up to its last flush, in the same shape as the report it did not
get to write. Final turns are in the log as they end; the turns still open are in the latest
``decided`` record (media time decided so far, and each open turn's start and end)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

from analysis.events import MeetingEvent, SpeechSegment
from analysis.meeting_state import MeetingState
from analysis.report import MeetingInfo, Report, TranscriptEntry, build_report

_EVENT_FIELDS = {f.name for f in fields(MeetingEvent)}


def report_from_log(info: MeetingInfo, records: Iterable[Mapping[str, Any]], end_s: float) -> Report:
    """The report of what was logged before ``end_s`` (media seconds); the meeting ends there for it."""
    state = MeetingState()
    segments: list[SpeechSegment] = []
    transcript: list[TranscriptEntry] = []
    transcribed = False
    seen: set[int] = set()
    decided: Mapping[str, Any] | None = None
    for rec in records:
        if "seq" in rec:
            if rec["seq"] in seen:
                continue  # the same line sent twice
            seen.add(rec["seq"])
        kind = rec.get("kind")
        if kind == "decided" and float(rec["t"]) <= end_s:
            decided = rec
        if kind == "event" and float(rec["t"]) <= end_s and rec.get("type") != "end":
            state.apply(MeetingEvent(**{k: v for k, v in rec.items() if k in _EVENT_FIELDS}))
        elif kind == "speech" and float(rec["start_s"]) < end_s:
            segments.append(SpeechSegment(rec["key"], float(rec["start_s"]), min(end_s, float(rec["end_s"]))))
        elif kind == "transcript":
            transcribed = True
            if float(rec["end_s"]) <= end_s:
                transcript.append(TranscriptEntry(participant=rec["participant"], start_s=rec["start_s"],
                                                  end_s=rec["end_s"], text=rec["text"]))
    # turns still open at the last flush count up to where they were decided (they were observed)
    final = {(s.key, round(s.start_s, 3)) for s in segments}
    for key, (start, end) in (decided or {}).get("open", {}).items():
        if (key, round(float(start), 3)) not in final and float(start) < end_s:
            segments.append(SpeechSegment(key, float(start), min(end_s, float(end))))
    info = info.model_copy(update={"duration_s": end_s, "end": None})
    return build_report(info, state, segments, transcript, transcribed=transcribed)
