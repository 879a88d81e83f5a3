"""Live compliance with a training policy: each attendee is ``on_track``, ``at_risk`` (a rule is in danger
now: absent, camera off, a roll call missed) or ``failed`` (a rule can no longer be met), and at the end
``passed`` or ``failed``, always with the findings that say why and by how much.

Pure and on media time: the caller gives the facts up to ``t`` (presence, camera, talk, roll-call
answers); ``update`` returns the status changes since the last call. The rules (docs/metrics.md):

- presence: present at least ``min_presence_share`` of the scheduled duration; absences no longer than
  ``grace.drop_s`` count as presence. At risk while absent beyond the grace; failed once even staying
  to the end cannot reach the share.
- late join: joined within ``max_late_join_s``; at risk while not yet here (beyond the grace), failed
  when that time has passed (or they joined after it).
- early leave: the last leave no earlier than ``max_early_leave_s`` before the end (judged at the end).
- camera: on for ``min_camera_share`` of their own presence; at risk once below it after
  ``camera_warmup_s`` of presence, failed when the camera on from now on could no longer make it.
- speaking: at least one turn (``must_speak``) or ``min_talk_s``; at risk from half-time, failed at
  the end.
- roll call: each prompt answered within its window (to everyone or to the bot; the answer's words
  matched case- and punctuation-insensitively); a missed prompt is a risk, more than ``max_missed``
  a failure.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from analysis import presence as iv
from analysis.policy import TrainingPolicy
from analysis.report import Compliance, ComplianceCheck

Status = Literal["on_track", "at_risk", "failed", "passed"]
RULES = ("presence", "late_join", "early_leave", "camera", "speaking", "roll_call")
_RANK = {"on_track": 0, "passed": 0, "at_risk": 1, "failed": 2}


@dataclass(frozen=True)
class Finding:
    rule: str  # presence | late_join | early_leave | camera | speaking | roll_call
    status: Literal["at_risk", "failed"]
    detail: str
    by: float | None = None  # how far from the rule (seconds, or a share), for the exceptions file
    unit: str = ""  # "s" | "share" | "prompts"


@dataclass(frozen=True)
class Verdict:
    status: Status
    findings: tuple[Finding, ...] = ()

    @property
    def reasons(self) -> list[str]:
        return [f.detail for f in self.findings]


@dataclass(frozen=True)
class Transition:
    t: float
    key: str
    name: str
    before: Status
    after: Status
    reasons: tuple[str, ...]


@dataclass
class Facts:
    """What is known of one participant up to the evaluation time (media seconds)."""

    key: str
    name: str
    role: str
    presence: Sequence[Sequence[float]] | np.ndarray  # [start, end) intervals
    camera: Sequence[Sequence[float]] | np.ndarray
    talk_s: float
    turns: int


def _clock(t: float) -> str:
    m, s = divmod(int(round(t)), 60)
    return f"{m}:{s:02d}"


def _words(text: str) -> set[str]:
    return set(re.sub(r"[^\w]+", " ", text.casefold()).split())


@dataclass
class ComplianceTracker:
    policy: TrainingPolicy
    duration_s: float  # scheduled
    meeting_id: str = ""
    prompts: list[float] = field(init=False)
    answered: dict[str, set[int]] = field(init=False, default_factory=dict)
    statuses: dict[str, Status] = field(init=False, default_factory=dict)
    posted: set[int] = field(init=False, default_factory=set)  # prompts posted in the chat (indices)

    def __post_init__(self) -> None:
        rc = self.policy.roll_call
        self.prompts = rc.prompt_times(self.duration_s, self.meeting_id) if rc else []

    # ---- roll call ---------------------------------------------------------------------------------
    def prompts_due(self, t: float) -> list[tuple[int, float]]:
        """Prompts whose time has come and that were not handed out yet (each once)."""
        due = [(i, p) for i, p in enumerate(self.prompts) if i not in self.posted and p <= t]
        self.posted.update(i for i, _ in due)
        return due

    def record_chat(self, key: str, t: float, text: str | None, to: str | None) -> int | None:
        """A chat message; if it answers an open prompt, returns that prompt's index."""
        rc = self.policy.roll_call
        if rc is None or text is None or (to not in (None, "everyone", "bot")):
            return None
        if rc.accept and not (_words(text) & {w.casefold() for w in rc.accept}):
            return None
        for i in range(len(self.prompts) - 1, -1, -1):
            p = self.prompts[i]
            if p <= t <= p + rc.response_window_s and i in self.posted:
                self.answered.setdefault(key, set()).add(i)
                return i
        return None

    # ---- evaluation --------------------------------------------------------------------------------
    def applies(self, f: Facts) -> bool:
        return f.role in self.policy.roles

    def _effective(self, presence: np.ndarray, t: float) -> np.ndarray:
        """Presence with the grace: gaps up to drop_s filled, and a leave within drop_s of t ongoing."""
        u = iv.clip(presence, 0.0, t)
        if len(u) == 0:
            return u
        keep = np.r_[True, (u[1:, 0] - u[:-1, 1]) > self.policy.grace.drop_s]  # a run starts after a real absence
        merged = np.column_stack([u[keep, 0], _block_ends(u, keep)])
        if t - merged[-1, 1] <= self.policy.grace.drop_s:
            merged[-1, 1] = t
        return merged

    def evaluate(self, t: float, f: Facts, *, final: bool = False) -> Verdict:
        p, D, g = self.policy, self.duration_s, self.policy.grace.drop_s
        t = min(t, D) if final else t
        pres = self._effective(iv.as_array(f.presence), t)
        present_s = iv.total(pres)
        here = len(pres) > 0 and pres[-1, 1] >= t - 1e-9
        joined = len(pres) > 0
        out: list[Finding] = []
        remaining = max(0.0, D - t)

        required = p.min_presence_share * D
        if present_s + remaining < required - 1e-6:
            out.append(Finding("presence", "failed",
                               f"present {present_s / D:.0%} of the session at most {min(1.0, (present_s + remaining) / D):.0%}"
                               f" (needs {p.min_presence_share:.0%})" if not final else
                               f"present {present_s / D:.0%} of the session (needs {p.min_presence_share:.0%})",
                               by=round(required - present_s - remaining, 1), unit="s"))
        elif not here and not final and t > g:
            since = pres[-1, 1] if joined else 0.0
            out.append(Finding("presence", "at_risk",
                               f"absent since {_clock(since)}" if joined else "not here yet"))

        if p.max_late_join_s is not None:
            first = float(pres[0, 0]) if joined else None
            if first is not None and first > p.max_late_join_s:
                out.append(Finding("late_join", "failed", f"joined at {_clock(first)}, "
                                   f"{first - p.max_late_join_s:.0f} s after the {_clock(p.max_late_join_s)} limit",
                                   by=round(first - p.max_late_join_s, 1), unit="s"))
            elif first is None and t > p.max_late_join_s:
                out.append(Finding("late_join", "failed", f"not joined by {_clock(p.max_late_join_s)}",
                                   by=round(t - p.max_late_join_s, 1), unit="s"))

        if final and p.max_early_leave_s is not None and joined:
            last = float(pres[-1, 1])
            limit = D - p.max_early_leave_s
            if last < limit - 1e-6:
                out.append(Finding("early_leave", "failed", f"left at {_clock(last)}, "
                                   f"{limit - last:.0f} s before the {_clock(limit)} limit", by=round(limit - last, 1),
                                   unit="s"))

        if p.min_camera_share is not None and joined:
            cam = iv.total(iv.intersect(iv.as_array(f.camera), pres))
            share = cam / present_s if present_s > 0 else 0.0
            best = (cam + remaining) / (present_s + remaining) if present_s + remaining > 0 else 0.0
            if best < p.min_camera_share - 1e-9:
                out.append(Finding("camera", "failed", f"camera on {share:.0%} of their time (needs "
                                   f"{p.min_camera_share:.0%})", by=round(p.min_camera_share - share, 3), unit="share"))
            elif not final and present_s >= p.camera_warmup_s and share < p.min_camera_share:
                out.append(Finding("camera", "at_risk", f"camera on {share:.0%} of their time so far (needs "
                                   f"{p.min_camera_share:.0%})"))

        need_talk = p.min_talk_s if p.min_talk_s is not None else (1e-9 if p.must_speak else None)
        if need_talk is not None and f.talk_s < need_talk:
            what = "has not spoken" if f.talk_s <= 0 else f"spoke {f.talk_s:.0f} s (needs {p.min_talk_s:.0f} s)"
            if final:
                out.append(Finding("speaking", "failed", what, by=round(need_talk - f.talk_s, 1), unit="s"))
            elif t >= D / 2:
                out.append(Finding("speaking", "at_risk", what))

        rc = p.roll_call
        if rc is not None:
            closed = [i for i, q in enumerate(self.prompts) if q + rc.response_window_s <= t and i in self.posted]
            missed = [i for i in closed if i not in self.answered.get(f.key, set())]
            if missed:
                when = ", ".join(_clock(self.prompts[i]) for i in missed)
                detail = f"no answer to {len(missed)} of {len(closed)} roll calls ({when})"
                status = "failed" if len(missed) > rc.max_missed else "at_risk"
                if status == "failed" or not final:
                    out.append(Finding("roll_call", status, detail, by=float(len(missed)), unit="prompts"))

        failed = [x for x in out if x.status == "failed"]
        if final:
            return Verdict("failed" if failed else "passed", tuple(failed))
        if failed:
            return Verdict("failed", tuple(out))
        return Verdict("at_risk" if out else "on_track", tuple(out))

    def update(self, t: float, facts: Iterable[Facts]) -> tuple[dict[str, Verdict], list[Transition]]:
        """Every participant's verdict at ``t``, and the status changes since the last update."""
        verdicts, changes = {}, []
        for f in facts:
            if not self.applies(f):
                continue
            v = self.evaluate(t, f)
            before = self.statuses.get(f.key, "on_track")
            if v.status != before:
                changes.append(Transition(t, f.key, f.name, before, v.status, tuple(v.reasons)))
            self.statuses[f.key] = v.status
            verdicts[f.key] = v
        return verdicts, changes

    def final(self, facts: Iterable[Facts]) -> dict[str, Verdict]:
        return {f.key: self.evaluate(self.duration_s, f, final=True) for f in facts if self.applies(f)}


def _block_ends(u: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """For runs of intervals merged across short gaps (a run starts where ``keep``), each run's end."""
    starts = np.flatnonzero(keep)
    last = np.r_[starts[1:] - 1, len(u) - 1]
    return u[last, 1]


def exceptions(verdicts: Mapping[str, Verdict], names: Mapping[str, str]) -> list[dict]:
    """One row per failed rule per person: who, which rule, by how much."""
    return [{"key": key, "name": names.get(key, key), "rule": f.rule, "detail": f.detail, "by": f.by, "unit": f.unit}
            for key, v in verdicts.items() for f in v.findings if f.status == "failed"]


def active_rules(p: TrainingPolicy) -> list[str]:
    """The rules the policy has, in report order."""
    on = {"presence": True, "late_join": p.max_late_join_s is not None, "early_leave": p.max_early_leave_s is not None,
          "camera": p.min_camera_share is not None, "speaking": p.must_speak or p.min_talk_s is not None,
          "roll_call": p.roll_call is not None}
    return [r for r in RULES if on[r]]


def report_compliance(policy: TrainingPolicy, final: Mapping[str, Verdict]) -> dict[str, Compliance]:
    """The report's compliance per attendee: every rule the policy has, passed or failed."""
    rules = active_rules(policy)
    out = {}
    for key, v in final.items():
        failed = {f.rule: f for f in v.findings}
        checks = [ComplianceCheck(name=rule, status="fail" if rule in failed else "pass",
                                  detail=failed[rule].detail if rule in failed else None) for rule in rules]
        out[key] = Compliance(status=v.status, checks=checks)
    return out
