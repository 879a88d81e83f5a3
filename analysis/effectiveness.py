"""How well a meeting worked, for its host: talk balance as a Gini, the host's share of the talk, long
monologues, who never spoke, questions and how quickly someone answered them, and stretches where
nothing happened. Pure; media time; definitions in docs/metrics.md."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel

from analysis import presence as iv
from analysis.talk_metrics import gini

MONOLOGUE_S = 60.0  # a turn at least this long is a monologue
ANSWER_WITHIN_S = 30.0  # a question is answered when someone else starts talking within this
QUIET_S = 60.0  # a stretch this long with no speech, chat, reaction or hand is an activity drop


class Span(BaseModel):
    start_s: float
    end_s: float


class Monologue(BaseModel):
    participant: str
    start_s: float
    end_s: float


class Question(BaseModel):
    participant: str
    t: float  # when the question ended
    text: str
    answered_by: str | None  # who started talking next, within ANSWER_WITHIN_S
    answer_after_s: float | None


class Effectiveness(BaseModel):
    talk_gini: float | None  # 0 everyone talked alike … 1 one person talked (over eligible participants)
    host_talk_share: float | None  # the host's share of all talk
    monologues: list[Monologue]
    never_spoke: list[str]  # present and consented, not one turn
    questions: list[Question]  # from the transcript (empty without one)
    median_answer_s: float | None
    quiet_stretches: list[Span]
    parameters: dict[str, float]


def compute_effectiveness(segments: Mapping[str, Sequence[tuple[float, float]]], talk_s: Mapping[str, float],
                          eligible: Sequence[str], hosts: Sequence[str], transcript: Sequence[tuple[str, float, float, str]],
                          activity: Sequence[float], window: tuple[float, float]) -> Effectiveness:
    """``segments``: final turns per participant; ``talk_s``: talk time per participant; ``transcript``:
    (participant, start, end, text) lines; ``activity``: times of chat, reactions, hands, joins."""
    talk = [talk_s.get(k, 0.0) for k in eligible]
    total = sum(talk_s.values())
    monologues = sorted((Monologue(participant=k, start_s=round(a, 3), end_s=round(b, 3))
                         for k, segs in segments.items() for a, b in segs if b - a >= MONOLOGUE_S),
                        key=lambda m: m.start_s)
    turns = sorted((a, k) for k, segs in segments.items() for a, _ in segs)
    questions = []
    for who, _start, end, text in transcript:
        if "?" not in text:
            continue
        nxt = next(((a, k) for a, k in turns if a >= end - 0.5 and k != who), None)
        answered = nxt is not None and nxt[0] - end <= ANSWER_WITHIN_S
        questions.append(Question(participant=who, t=round(end, 3), text=text, answered_by=nxt[1] if answered else None,
                                  answer_after_s=round(max(0.0, nxt[0] - end), 3) if answered else None))
    waits = [q.answer_after_s for q in questions if q.answer_after_s is not None]
    busy = iv.union([(a, b) for segs in segments.values() for a, b in segs] + [(t, t + 1.0) for t in activity])
    quiet = [Span(start_s=round(a, 3), end_s=round(b, 3)) for a, b in iv.subtract([window], busy) if b - a >= QUIET_S]
    return Effectiveness(
        talk_gini=round(min(1.0, gini(talk) * len(talk) / (len(talk) - 1)), 4) if len(talk) >= 2 and sum(talk) > 0 else None,
        host_talk_share=round(sum(talk_s.get(h, 0.0) for h in hosts) / total, 4) if total > 0 and hosts else None,
        monologues=monologues,
        never_spoke=[k for k in eligible if not segments.get(k)],
        questions=questions, median_answer_s=round(float(np.median(waits)), 3) if waits else None,
        quiet_stretches=quiet,
        parameters={"monologue_s": MONOLOGUE_S, "answer_within_s": ANSWER_WITHIN_S, "quiet_s": QUIET_S})
