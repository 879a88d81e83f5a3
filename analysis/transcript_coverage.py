"""What the transcript covers: every second of talk ends as text, as an explicit "nothing intelligible", or
as a recorded drop with its reason; a compliance record with a silent hole is worse than one that says
"not transcribed". Pure: intervals on media time in, the report's ``asr`` section out."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel

from . import presence as iv


class DropReason(str, Enum):
    """Why speech that reached the recogniser has no text."""

    BACKLOG = "backlog"
    """The recogniser fell behind by more than its backlog bound (``AsrConfig.max_backlog_s``): the oldest
    queued speech was given up so the rest stays current."""
    SHUTDOWN = "shutdown"
    """The meeting ended and the queue did not run dry within ``asr_finish_timeout_s``."""
    FAILED = "failed"
    """The recogniser raised on this audio."""


REASON_TEXT = {DropReason.BACKLOG: "CPU backlog", DropReason.SHUTDOWN: "meeting ended before it was decoded",
               DropReason.FAILED: "recogniser failed"}


class AsrDrop(BaseModel):
    participant: str
    start_s: float
    end_s: float
    reason: DropReason


class AsrSummary(BaseModel):
    """The report's ``asr`` section (definitions in docs/metrics.md)."""

    model: str
    settings: dict[str, float | int | str]
    talk_s: float  # talk time of the participants in the report
    transcribed_s: float  # of it, covered by an utterance that came back (text, or nothing intelligible)
    empty_s: float  # of that, where the recogniser heard nothing intelligible
    dropped_s: dict[str, float]  # of the talk, covered by a recorded drop, per reason
    uncovered_s: float  # talk with neither a result nor a recorded drop: 0 unless something is wrong
    drops: list[AsrDrop]
    lines: int  # utterances answered with text (live and settled)
    lines_settled: int  # stretches whose settled text replaced their live lines
    lines_redecoded: int  # packed utterances decoded again alone (Whisper stopped early in a shared window)
    live_latency_p50_s: float | None  # audio's arrival at the bot → final live text, over the final lines
    live_latency_p95_s: float | None


class Outcome(NamedTuple):
    """What came of one final utterance."""

    participant: str
    start_s: float
    end_s: float
    text: str | None  # "": nothing intelligible; None: dropped
    dropped: DropReason | None = None


def summarise(model: str, settings: Mapping[str, float | int | str], talk: Mapping[str, Sequence[Sequence[float]]],
              outcomes: Sequence[Outcome], latencies_s: Sequence[float], redecoded: int,
              settled: int = 0) -> AsrSummary:
    """``talk``: each reported participant's talk turns; ``outcomes``: every final utterance."""
    talk_s = transcribed_s = empty_s = uncovered_s = 0.0
    dropped: dict[str, float] = {}
    for key, turns in talk.items():
        spoken = iv.union(turns)
        mine = [o for o in outcomes if o.participant == key]
        done = iv.union([(o.start_s, o.end_s) for o in mine if o.text is not None])
        said = iv.union([(o.start_s, o.end_s) for o in mine if o.text])
        empty = iv.subtract(iv.union([(o.start_s, o.end_s) for o in mine if o.text == ""]), said)
        talk_s += iv.total(spoken)
        covered = iv.intersect(spoken, done)
        transcribed_s += iv.total(covered)
        empty_s += iv.total(iv.intersect(covered, empty))
        rest = iv.subtract(spoken, done)
        for reason in DropReason:
            lost = iv.intersect(rest, iv.union([(o.start_s, o.end_s) for o in mine if o.dropped is reason]))
            if len(lost):
                dropped[reason.value] = dropped.get(reason.value, 0.0) + iv.total(lost)
                rest = iv.subtract(rest, lost)
        uncovered_s += iv.total(rest)
    drops = [AsrDrop(participant=o.participant, start_s=round(o.start_s, 3), end_s=round(o.end_s, 3), reason=o.dropped)
             for o in outcomes if o.text is None and o.dropped is not None and o.participant in talk]  # not who opted out
    lat = np.asarray(latencies_s, dtype=float)
    return AsrSummary(
        model=model, settings=dict(settings), talk_s=round(talk_s, 3), transcribed_s=round(transcribed_s, 3),
        empty_s=round(empty_s, 3), dropped_s={k: round(v, 3) for k, v in dropped.items()},
        uncovered_s=round(uncovered_s, 3), drops=sorted(drops, key=lambda d: (d.start_s, d.participant)),
        lines=sum(1 for o in outcomes if o.text), lines_settled=settled, lines_redecoded=redecoded,
        live_latency_p50_s=round(float(np.percentile(lat, 50)), 3) if len(lat) else None,
        live_latency_p95_s=round(float(np.percentile(lat, 95)), 3) if len(lat) else None)
