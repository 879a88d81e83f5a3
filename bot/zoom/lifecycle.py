"""The bot's lifecycle in a meeting as an explicit state machine, and every way out of it with its
process exit code.

The SDK reports progress as ``MeetingStatus`` changes with an ``iResult`` (a ``MeetingFailCode`` when the
status is FAILED, a ``MeetingEndReason`` when it is ENDED) and authentication as an ``AuthResult``; some
failures it never reports at all (a wrong passcode leaves the status at CONNECTING forever), which the
watchdogs turn into outcomes. SDK values are handled by their enum member names.
"""
from __future__ import annotations

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

# The SDK's enum members, by name (the transport reads each callback's enum member's ``.name``; the
# contract tests check that every name here exists in the installed module).
AUTH_SUCCESS = "AUTHRET_SUCCESS"
AUTH_OUTCOMES = {
    "AUTHRET_KEYORSECRETEMPTY": Outcome.BAD_CREDENTIALS, "AUTHRET_KEYORSECRETWRONG": Outcome.BAD_CREDENTIALS,
    "AUTHRET_ACCOUNTNOTSUPPORT": Outcome.BAD_CREDENTIALS, "AUTHRET_ACCOUNTNOTENABLESDK": Outcome.BAD_CREDENTIALS,
    "AUTHRET_JWTTOKENWRONG": Outcome.BAD_CREDENTIALS, "AUTHRET_SERVICE_BUSY": Outcome.CONNECTION_LOST,
    "AUTHRET_UNKNOWN": Outcome.CONNECTION_LOST,  # what the SDK answers, after about 12 s, when offline
    "AUTHRET_OVERTIME": Outcome.CONNECTION_LOST, "AUTHRET_NETWORKISSUE": Outcome.CONNECTION_LOST,
}
FAIL_OUTCOMES = {
    "MEETING_FAIL_CONNECTION_ERR": Outcome.CONNECTION_LOST, "MEETING_FAIL_RECONNECT_ERR": Outcome.CONNECTION_LOST,
    "MEETING_FAIL_PASSWORD_ERR": Outcome.WRONG_PASSCODE, "MEETING_FAIL_MEETING_NOT_START": Outcome.MEETING_NOT_STARTED,
    "CONF_FAIL_REMOVED_BY_HOST": Outcome.REMOVED_BY_HOST,
    "MEETING_FAIL_UNABLE_TO_JOIN_EXTERNAL_MEETING": Outcome.EXTERNAL_MEETING_NOT_ALLOWED,
    "MEETING_FAIL_AUTHORIZED_USER_NOT_INMEETING": Outcome.AUTHORIZED_USER_NOT_IN_MEETING,
    "MEETING_FAIL_APP_CAN_NOT_ANONYMOUS_JOIN_MEETING": Outcome.ANONYMOUS_JOIN_REFUSED,
}
AUTHORIZED_USER_NOT_IN_MEETING = "MEETING_FAIL_AUTHORIZED_USER_NOT_INMEETING"  # retried: the user may come
END_OUTCOMES = {
    "EndMeetingReason_KickByHost": Outcome.REMOVED_BY_HOST, "EndMeetingReason_JBHTimeOut": Outcome.MEETING_NOT_STARTED,
    "EndMeetingReason_DueToAuthorizedUserLeave": Outcome.AUTHORIZED_USER_NOT_IN_MEETING,
}


def auth_outcome(result: str) -> Outcome | None:
    """None on success; otherwise why authentication failed (``result``: an ``AuthResult`` name)."""
    if result == AUTH_SUCCESS:
        return None
    return AUTH_OUTCOMES.get(result, Outcome.BAD_CREDENTIALS)


def fail_outcome(code: str) -> tuple[Outcome, str]:
    """A FAILED status's ``MeetingFailCode`` name: the outcome, and the code for the log line."""
    return FAIL_OUTCOMES.get(code, Outcome.JOIN_REFUSED), code.removeprefix("MEETING_FAIL_").lower()


def end_outcome(reason: str) -> Outcome:
    """An ENDED status's ``MeetingEndReason`` name: kicked, never started, or simply over."""
    return END_OUTCOMES.get(reason, Outcome.MEETING_ENDED)


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

    def summary(self) -> str:
        """One human-readable line: how the run ended."""
        outcome = self.outcome or Outcome.MEETING_ENDED
        return outcome.reason + (f" ({self.detail})" if self.detail else "")
