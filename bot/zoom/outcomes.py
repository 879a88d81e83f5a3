"""What the Zoom Meeting SDK reports, as the bot's outcomes (``bot/lifecycle.py``).

The SDK reports progress as ``MeetingStatus`` changes with an ``iResult`` (a ``MeetingFailCode`` when the
status is FAILED, a ``MeetingEndReason`` when it is ENDED) and authentication as an ``AuthResult``; some
failures it never reports at all (a wrong passcode leaves the status at CONNECTING forever), which the
watchdogs turn into outcomes. SDK values are handled by their enum member names.
"""
from __future__ import annotations

from bot.lifecycle import Outcome

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
