"""A bot's lifecycle in a meeting as an explicit state machine, and every way out of it with its process
exit code: the same for every transport (the Zoom SDK bot, the RTMS worker), so the orchestrator reads one
table (docs/architecture.md). Each transport turns what its SDK reports into these outcomes in its own
package (``bot/zoom/outcomes.py``, ``bot/rtms/session.py``).
"""
from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum


class Phase(Enum):
    IDLE = "idle"
    AUTHENTICATING = "authenticating"
    JOINING = "joining"
    WAITING_FOR_HOST = "waiting-for-host"
    WAITING_ROOM = "waiting-room"
    IN_MEETING = "in-meeting"
    RECORDING = "recording"
    LEAVING = "leaving"
    ENDED = "ended"


_NEXT: dict[Phase, set[Phase]] = {
    Phase.IDLE: {Phase.AUTHENTICATING},
    Phase.AUTHENTICATING: {Phase.JOINING},
    Phase.JOINING: {Phase.WAITING_FOR_HOST, Phase.WAITING_ROOM, Phase.IN_MEETING},
    Phase.WAITING_FOR_HOST: {Phase.JOINING, Phase.WAITING_ROOM, Phase.IN_MEETING},
    Phase.WAITING_ROOM: {Phase.JOINING, Phase.IN_MEETING},
    Phase.IN_MEETING: {Phase.RECORDING, Phase.WAITING_ROOM, Phase.JOINING},  # moved back, or a breakout room
    Phase.RECORDING: {Phase.IN_MEETING, Phase.WAITING_ROOM, Phase.JOINING},  # recording stopped, moved back
    Phase.LEAVING: set(),
    Phase.ENDED: set(),
}


class Outcome(Enum):
    """Every way a bot's run ends: (process exit code, one-line reason)."""

    MEETING_ENDED = (0, "the meeting ended")
    LEFT_ALONE = (3, "left: no one else was in the meeting")
    LEFT_MAX_DURATION = (4, "left: the maximum duration was reached")
    LEFT_ON_SIGNAL = (5, "left: asked to stop (SIGTERM/SIGINT)")
    BAD_CREDENTIALS = (10, "authentication failed: check ZOOM_SDK_CLIENT_ID / ZOOM_SDK_CLIENT_SECRET and that "
                           "the app has the Meeting SDK enabled")
    CONNECTION_LOST = (11, "could not reach Zoom, or the connection was lost")
    WRONG_PASSCODE = (12, "the passcode was refused (or joining never completed)")
    MEETING_NOT_STARTED = (13, "the meeting did not start in time")
    WAITING_ROOM_TIMEOUT = (14, "not admitted from the waiting room in time")
    EXTERNAL_MEETING_NOT_ALLOWED = (15, "this app may not join meetings outside its account (Zoom code 63): "
                                        "it needs Zoom's approval and a ZAK or on-behalf token")
    ANONYMOUS_JOIN_REFUSED = (16, "the meeting refuses anonymous SDK joins (Zoom code 504): pass ZOOM_ZAK or "
                                  "ZOOM_OBF_TOKEN")
    AUTHORIZED_USER_NOT_IN_MEETING = (17, "the on-behalf token's user is not in the meeting (Zoom code 501)")
    REMOVED_BY_HOST = (18, "removed from the meeting by the host")
    WEBINAR_NO_RIGHTS = (20, "joined a webinar as an attendee without the rights to record")
    JOIN_REFUSED = (21, "Zoom refused the join")
    SDK_FAILURE = (22, "the Zoom SDK could not be started")
    NO_AUDIO = (23, "recording was allowed but Zoom delivered no audio while people talked")
    # an RTMS worker (bot/rtms): Zoom starts and stops the stream, the worker only receives
    STREAM_STOPPED = (6, "left: the RTMS stream was stopped (by the host, a participant or Zoom)")
    STREAM_INTERRUPTED = (30, "the RTMS stream was interrupted (a connection dropped): a new worker reconnects")
    RTMS_AUTH_FAILED = (31, "RTMS refused the handshake: check ZOOM_RTMS_CLIENT_ID / ZOOM_RTMS_CLIENT_SECRET")
    RTMS_NOT_SUPPORTED = (32, "this meeting cannot stream to RTMS (Zoom's stop reason 26)")
    RTMS_AUDIO_REFUSED = (33, "RTMS refused the audio parameters asked for (check --audio-rate)")

    @property
    def exit_code(self) -> int:
        return self.value[0]

    @property
    def reason(self) -> str:
        return self.value[1]


# how a bot is meant to end: the orchestrator sends no replacement after these
NORMAL_ENDINGS = (Outcome.MEETING_ENDED, Outcome.LEFT_ALONE, Outcome.LEFT_MAX_DURATION, Outcome.LEFT_ON_SIGNAL,
                  Outcome.STREAM_STOPPED)


@dataclass
class Lifecycle:
    """Where the bot is, and how it ended. ``to`` refuses transitions the SDK should never cause, so a
    surprise shows up as an error in the log instead of a silent wrong state."""

    phase: Phase = Phase.IDLE
    outcome: Outcome | None = None
    detail: str = ""

    def to(self, phase: Phase) -> bool:
        """Move on; False (and no change) if the move is not allowed from here."""
        if phase == self.phase:
            return True
        if phase not in _NEXT[self.phase]:
            return False
        self.phase = phase
        return True

    def finish(self, outcome: Outcome, detail: str = "") -> None:
        """The run is over (the first outcome sticks: a later ENDED does not hide why we left)."""
        if self.outcome is None:
            self.outcome, self.detail = outcome, detail
        if self.phase not in (Phase.LEAVING, Phase.ENDED):
            self.phase = Phase.LEAVING

    def replace(self, outcome: Outcome, detail: str) -> None:
        """Correct how the run ended once it is over: a meeting that "ended normally" with no audio at all
        ended in an error, and must not look like an empty success."""
        self.outcome, self.detail = outcome, detail

    def ended(self) -> None:
        self.phase = Phase.ENDED
        if self.outcome is None:
            self.outcome = Outcome.MEETING_ENDED

    @property
    def exit_code(self) -> int:
        return (self.outcome or Outcome.MEETING_ENDED).exit_code

    @property
    def normal(self) -> bool:
        """It ended as a bot is meant to end (no replacement is worth sending)."""
        return self.outcome in NORMAL_ENDINGS

    def summary(self) -> str:
        """One human-readable line: how the run ended."""
        outcome = self.outcome or Outcome.MEETING_ENDED
        return outcome.reason + (f" ({self.detail})" if self.detail else "")


@contextmanager
def leave_signals() -> Iterator[list[int]]:
    """SIGTERM and SIGINT ask the run to leave (the list collects them) instead of killing it, while the
    block runs; the previous handlers come back after it."""
    asked: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _frame: asked.append(signum))
                for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield asked
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
