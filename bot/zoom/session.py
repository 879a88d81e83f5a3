"""One bot's way into a meeting through the SDK: authenticate, join, and follow the meeting status to an
outcome, with the watchdogs for what the SDK never reports (the call sequence is
``../shared/reference/zoom-meeting-sdk.md`` §2–4).

The session is driven by one thread: SDK callbacks arrive on it while the GLib loop is pumped, and
:meth:`ZoomSession.tick` runs between pumps for the deadlines. ``sdk`` is the ``zoom_meeting_sdk`` module
(or a stand-in with the same names, for tests); every callback handed to it goes through the guard.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.zoom.credentials import ZoomCredentials, make_jwt
from bot.zoom.guard import SdkGuard
from bot.zoom.lifecycle import (AUTHORIZED_USER_NOT_IN_MEETING, Lifecycle, Outcome, Phase, auth_outcome,
                                end_outcome, fail_outcome)

log = logging.getLogger("rollcall.zoom")


@dataclass(frozen=True)
class JoinSpec:
    meeting_number: int
    passcode: str | None
    display_name: str
    customer_key: str


@dataclass(frozen=True)
class ZoomConfig:
    auth_timeout_s: float = 30.0  # no answer to SDKAuth (offline, blocked) → connection failure
    connecting_timeout_s: float = 60.0  # stuck CONNECTING: the SDK's answer to a wrong passcode
    wait_for_host_s: float = 900.0  # meeting not started
    waiting_room_s: float = 900.0  # not admitted
    obf_retries: int = 5  # "authorized user not in meeting" (501): the user may still arrive
    obf_retry_s: float = 15.0


class ZoomSession:
    def __init__(self, sdk: Any, credentials: ZoomCredentials, join: JoinSpec, *, config: ZoomConfig | None = None,
                 guard: SdkGuard | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.sdk, self.credentials, self.spec = sdk, credentials, join
        self.config = config or ZoomConfig()
        self.guard = guard or SdkGuard()
        self.clock = clock
        self.lifecycle = Lifecycle()
        self.meeting: Any = None
        self._auth: Any = None
        self._deadline: tuple[float, Outcome, str] | None = None  # (when, outcome, detail)
        self._retry_at: float | None = None
        self.obf_attempts = 0

    # ---- start -------------------------------------------------------------------------------
    def start(self) -> None:
        """InitSDK and ask for authentication; the answer arrives as a callback."""
        sdk, keep = self.sdk, self.guard.keep
        param = keep(sdk.InitParam())
        param.strWebDomain = keep("https://zoom.us")
        param.enableLogByDefault = True
        result = sdk.InitSDK(param)
        if result.name != "SDKERR_SUCCESS":
            self.lifecycle.finish(Outcome.SDK_FAILURE, result.name.lower())
            return
        self.lifecycle.to(Phase.AUTHENTICATING)
        self._auth = sdk.CreateAuthService()
        self._auth.SetEvent(keep(sdk.AuthServiceEventCallbacks(
            onAuthenticationReturnCallback=self.guard.callback("auth", self._on_auth))))
        context = keep(sdk.AuthContext())
        context.jwt_token = keep(make_jwt(self.credentials.client_id,
                                          self.credentials.client_secret.get_secret_value()))
        self._auth.SDKAuth(context)
        self._expect(self.config.auth_timeout_s, Outcome.CONNECTION_LOST, "no answer to authentication")

    def _on_auth(self, result: Any) -> None:
        outcome = auth_outcome(result.name)
        if outcome is not None:
            self.lifecycle.finish(outcome, result.name.lower())
            return
        self._join()

    def _join(self) -> None:
        sdk, keep, spec, creds = self.sdk, self.guard.keep, self.spec, self.credentials
        if self.meeting is None:
            self.meeting = sdk.CreateMeetingService()
            self.meeting.SetEvent(keep(sdk.MeetingServiceEventCallbacks(
                onMeetingStatusChangedCallback=self.guard.callback("status", self._on_status))))
        join = keep(sdk.JoinParam())
        join.userType = sdk.SDKUserType.SDK_UT_WITHOUT_LOGIN
        p = join.param  # by reference: the strings set on it must outlive the join
        p.meetingNumber = spec.meeting_number
        p.userName = keep(spec.display_name)
        p.psw = keep(spec.passcode or "")
        p.customer_key = keep(spec.customer_key)
        for field, secret in (("userZAK", creds.zak), ("onBehalfToken", creds.obf_token),
                              ("app_privilege_token", creds.app_privilege_token), ("webinarToken", creds.webinar_token)):
            if secret is not None:
                setattr(p, field, keep(secret.get_secret_value()))
        p.isVideoOff, p.isAudioOff, p.isAudioRawDataStereo = True, False, False
        p.eAudioRawdataSamplingRate = sdk.AudioRawdataSamplingRate.AudioRawdataSamplingRate_32K
        self.lifecycle.to(Phase.JOINING)
        result = self.meeting.Join(join)
        if result.name != "SDKERR_SUCCESS":
            self.lifecycle.finish(Outcome.JOIN_REFUSED, result.name.lower())
            return
        self._expect(self.config.connecting_timeout_s, Outcome.WRONG_PASSCODE, "still connecting")

    # ---- meeting status ----------------------------------------------------------------------
    def _on_status(self, status: Any, result: int) -> None:
        name = status.name.removeprefix("MEETING_STATUS_")
        if name == "CONNECTING":
            self.lifecycle.to(Phase.JOINING)
        elif name == "WAITINGFORHOST":
            self.lifecycle.to(Phase.WAITING_FOR_HOST)
            self._expect(self.config.wait_for_host_s, Outcome.MEETING_NOT_STARTED, "the host never came")
        elif name == "IN_WAITING_ROOM":
            self.lifecycle.to(Phase.WAITING_ROOM)
            self._expect(self.config.waiting_room_s, Outcome.WAITING_ROOM_TIMEOUT, "never admitted")
        elif name == "INMEETING":
            self.lifecycle.to(Phase.IN_MEETING)
            self._deadline = None
        elif name == "FAILED":
            self._failed(_member(self.sdk.MeetingFailCode, result, "MEETING_FAIL_"))
        elif name == "ENDED":
            if self.lifecycle.outcome is None:
                self.lifecycle.finish(end_outcome(_member(self.sdk.MeetingEndReason, result, "EndMeetingReason_")))
            self.lifecycle.ended()

    def _failed(self, code: str) -> None:
        if code == AUTHORIZED_USER_NOT_IN_MEETING and self.obf_attempts < self.config.obf_retries:
            self.obf_attempts += 1  # the token's user may join in a moment: try again
            self._retry_at = self.clock() + self.config.obf_retry_s
            self._deadline = None
            log.info("authorized user not in the meeting yet; retry %d of %d", self.obf_attempts,
                     self.config.obf_retries)
            return
        outcome, detail = fail_outcome(code)
        self.lifecycle.finish(outcome, detail)

    # ---- time ---------------------------------------------------------------------------------
    def _expect(self, within_s: float, outcome: Outcome, detail: str) -> None:
        self._deadline = (self.clock() + within_s, outcome, detail)

    def tick(self) -> None:
        """Between loop iterations: deadlines and retries."""
        now = self.clock()
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self._join()
        if self._deadline is not None and now >= self._deadline[0] and self.lifecycle.outcome is None:
            _, outcome, detail = self._deadline
            self._deadline = None
            self.lifecycle.finish(outcome, detail)

    @property
    def done(self) -> bool:
        return self.lifecycle.outcome is not None

    def close(self) -> None:
        """Leave if in a meeting, release the services, CleanUPSDK. The caller then ends the process with
        ``os._exit`` (a normal interpreter exit with the SDK loaded can crash)."""
        sdk = self.sdk
        if self.meeting is not None:
            self.meeting.Leave(sdk.LEAVE_MEETING)
            sdk.DestroyMeetingService(self.meeting)
        if self._auth is not None:
            sdk.DestroyAuthService(self._auth)
        sdk.CleanUPSDK()


def _member(enum: Any, value: int, prefix: str) -> str:
    """The enum member's name for an ``iResult``; a value this SDK build does not name keeps its number."""
    try:
        return enum(value).name
    except ValueError:
        return f"{prefix}{value}"
