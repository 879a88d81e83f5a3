"""A training policy at work inside the bot: roll calls posted in the chat, answers read from it, every
attendee's compliance evaluated with each live snapshot, the host told privately when someone becomes
at risk or fails, and at the end the report's compliance section and the exceptions.

The rules are ``analysis/compliance.py``; this module does what needs the meeting: the chat-out (the
transport's ``send_chat(text, to_key)``) and the pacing of messages to the host (at most one per
``notify.min_interval_s``; what comes in between is sent together).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from analysis.compliance import ComplianceTracker, Facts, Transition, Verdict, exceptions, report_compliance
from analysis.events import MeetingEvent
from analysis.live import ComplianceAlert
from analysis.meeting_state import MeetingState
from analysis.observations import PolicyApplied
from analysis.policy import TrainingPolicy
from analysis.report import Compliance

SendChat = Callable[[str, str | None], None]


class ComplianceMonitor:
    def __init__(self, policy: TrainingPolicy, duration_s: float, meeting_id: str,
                 send_chat: SendChat | None = None, expected: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.policy = policy
        # the roster the training expects (key → name, role): someone not here yet is at risk too
        self.expected = dict(expected or {})
        self.tracker = ComplianceTracker(policy, duration_s, meeting_id)
        self.send_chat = send_chat or (lambda text, to: None)
        self._queued: list[str] = []
        self._last_sent = float("-inf")
        self._next_summary = policy.notify.summary_every_s
        self.sent: list[tuple[float, str | None, str]] = []  # everything the bot said: (t, to key, text)
        self.prompts_posted: list[tuple[int, float]] = []  # roll-call prompts posted: (index, t)
        self.transitions: list[Transition] = []

    def _say(self, t: float, text: str, to: str | None) -> None:
        self.sent.append((t, to, text))
        self.send_chat(text, to)

    def on_event(self, ev: MeetingEvent) -> None:
        if ev.type == "chat" and ev.key is not None:
            self.tracker.record_chat(ev.key, ev.t, ev.text, ev.to)

    def on_time(self, t: float, state: MeetingState,
                talk: Mapping[str, tuple[float, int]]) -> tuple[dict[str, Verdict], list[ComplianceAlert]]:
        """Post the roll calls now due, evaluate everyone, tell the host; returns the verdicts and the
        status changes for the live snapshot."""
        rc = self.policy.roll_call
        for index, _ in self.tracker.prompts_due(t):
            assert rc is not None
            self._say(t, rc.text, None)
            self.prompts_posted.append((index, t))
        verdicts, changes = self.tracker.update(t, self._facts(state, t, talk))
        self.transitions += changes
        host = next((k for k, p in state.participants.items() if p.role == "host" and state.present(k, t)), None)
        worse = [c for c in changes if c.after in ("at_risk", "failed")]
        if self.policy.notify.host_on_at_risk:
            self._queued += [f"{c.name}: {'at risk' if c.after == 'at_risk' else 'failed'}"
                             f" ({'; '.join(c.reasons)})" for c in worse]
            if self._queued and host is not None and t - self._last_sent >= self.policy.notify.min_interval_s:
                self._say(t, "Rollcall · " + " | ".join(self._queued), host)
                self._queued, self._last_sent = [], t
        if self._next_summary is not None and t >= self._next_summary and host is not None:
            self._say(t, self._summary(t, state, verdicts, talk), host)
            self._next_summary = t + (self.policy.notify.summary_every_s or 0.0)
        alerts = [ComplianceAlert(t=c.t, key=c.key, name=c.name, before=c.before, after=c.after,
                                  reasons=list(c.reasons)) for c in changes]
        return verdicts, alerts

    @staticmethod
    def _summary(t: float, state: MeetingState, verdicts: Mapping[str, Verdict],
                 talk: Mapping[str, tuple[float, int]]) -> str:
        """The host's periodic top line: who is here, who is at risk or failed, who has not spoken."""
        here = sum(1 for k in state.participants if state.present(k, t))
        counts = {s: sum(1 for v in verdicts.values() if v.status == s) for s in ("on_track", "at_risk", "failed")}
        silent = sum(1 for k, v in verdicts.items() if talk.get(k, (0.0, 0))[1] == 0)
        m, s = divmod(int(t), 60)
        return (f"Rollcall · {m}:{s:02d} · {here} here · {counts['on_track']} on track, {counts['at_risk']} at risk, "
                f"{counts['failed']} failed · {silent} not yet spoken")

    def _facts(self, state: MeetingState, t: float, talk: Mapping[str, tuple[float, int]]) -> list[Facts]:
        here = [Facts(key=k, name=p.name, role=p.role, presence=state.presence_intervals(k, t),
                      camera=state.camera_intervals(k, t), talk_s=talk.get(k, (0.0, 0))[0], turns=talk.get(k, (0.0, 0))[1])
                for k, p in state.participants.items()]
        missing = [Facts(key=k, name=name, role=role, presence=[], camera=[], talk_s=0.0, turns=0)
                   for k, (name, role) in self.expected.items() if k not in state.participants]
        return here + missing

    def finish(self, state: MeetingState, talk: Mapping[str, tuple[float, int]]) -> tuple[dict[str, Compliance], list[dict]]:
        """The report's compliance per attendee (every rule the policy has, passed or failed) and the
        exceptions (one row per failed rule)."""
        final = self.tracker.final(self._facts(state, self.tracker.duration_s, talk))
        names = {**{k: name for k, (name, _) in self.expected.items()}, **{k: p.name for k, p in state.participants.items()}}
        return report_compliance(self.policy, final), exceptions(final, names)

    def roll_call_counts(self, state: MeetingState) -> dict[str, tuple[int, int]]:
        """Per person: roll calls asked while they were present, and how many of those they answered."""
        out = {}
        for key in state.participants:
            asked = [i for i in sorted(self.tracker.posted) if state.present(key, self.tracker.prompts[i])]
            answered = self.tracker.answered.get(key, set())
            out[key] = (len(asked), len([i for i in asked if i in answered]))
        return out

    def applied(self) -> PolicyApplied:
        """The log's record that this policy applies (first in the log: the session is judged from it)."""
        return PolicyApplied(policy=self.policy, meeting_id=self.tracker.meeting_id,
                             duration_s=self.tracker.duration_s, expected=self.expected)
