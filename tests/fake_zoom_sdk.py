"""A stand-in for ``zoom_meeting_sdk`` with the names the session uses, whose "Zoom" is scripted: what
authentication answers, and which meeting statuses each join attempt goes through. Callbacks are
delivered one per ``pump()``, as the GLib loop would."""
from __future__ import annotations

from collections import deque
from enum import Enum, IntEnum
from types import SimpleNamespace

AuthResult = Enum("AuthResult", {n: i for i, n in enumerate(
    ["AUTHRET_SUCCESS", "AUTHRET_KEYORSECRETEMPTY", "AUTHRET_KEYORSECRETWRONG", "AUTHRET_ACCOUNTNOTSUPPORT",
     "AUTHRET_ACCOUNTNOTENABLESDK", "AUTHRET_UNKNOWN", "AUTHRET_SERVICE_BUSY", "AUTHRET_NONE", "AUTHRET_OVERTIME",
     "AUTHRET_NETWORKISSUE", "AUTHRET_CLIENT_INCOMPATIBLE", "AUTHRET_JWTTOKENWRONG"])})
MeetingStatus = Enum("MeetingStatus", {f"MEETING_STATUS_{n}": i for i, n in enumerate(
    ["IDLE", "CONNECTING", "WAITINGFORHOST", "INMEETING", "DISCONNECTING", "RECONNECTING", "FAILED", "ENDED",
     "UNKNOWN", "LOCKED", "UNLOCKED", "IN_WAITING_ROOM"])})
MeetingFailCode = IntEnum("MeetingFailCode", {
    "MEETING_FAIL_CONNECTION_ERR": 1, "MEETING_FAIL_PASSWORD_ERR": 4, "MEETING_FAIL_MEETING_NOT_START": 7,
    "MEETING_FAIL_MEETING_USER_FULL": 9, "CONF_FAIL_REMOVED_BY_HOST": 61,
    "MEETING_FAIL_UNABLE_TO_JOIN_EXTERNAL_MEETING": 63, "MEETING_FAIL_AUTHORIZED_USER_NOT_INMEETING": 501,
    "MEETING_FAIL_APP_CAN_NOT_ANONYMOUS_JOIN_MEETING": 504})
MeetingEndReason = IntEnum("MeetingEndReason", {f"EndMeetingReason_{n}": i for i, n in enumerate(
    ["None", "KickByHost", "EndByHost", "JBHTimeOut", "NoAttendee", "HostStartAnotherMeeting",
     "FreeMeetingTimeOut", "Undefined", "DueToAuthorizedUserLeave"])})
SDKError = Enum("SDKError", {"SDKERR_SUCCESS": 0, "SDKERR_UNAUTHENTICATION": 8})
SDKUserType = Enum("SDKUserType", {"SDK_UT_NORMALUSER": 100, "SDK_UT_WITHOUT_LOGIN": 101})
AudioRawdataSamplingRate = Enum("AudioRawdataSamplingRate", {"AudioRawdataSamplingRate_32K": 0,
                                                             "AudioRawdataSamplingRate_48K": 1})
LEAVE_MEETING = 0


class _Callbacks(SimpleNamespace):
    allowed: frozenset[str] = frozenset()

    def __init__(self, **kwargs):
        unknown = set(kwargs) - self.allowed
        if unknown:
            raise TypeError(f"unexpected keyword arguments {sorted(unknown)}")
        super().__init__(**kwargs)


class AuthServiceEventCallbacks(_Callbacks):
    allowed = frozenset({"onAuthenticationReturnCallback"})


class MeetingServiceEventCallbacks(_Callbacks):
    allowed = frozenset({"onMeetingStatusChangedCallback"})


class InitParam(SimpleNamespace):
    pass


class AuthContext(SimpleNamespace):
    jwt_token = ""


class JoinParam:
    def __init__(self) -> None:
        self.userType = None
        self.param = SimpleNamespace()


class FakeZoom:
    """``auth``: the AuthResult name to answer (None: never answers); ``joins``: per join attempt, the
    (MeetingStatus name without prefix, iResult) it goes through (the last attempt's list repeats)."""

    AuthResult, MeetingStatus, MeetingFailCode, MeetingEndReason = AuthResult, MeetingStatus, MeetingFailCode, MeetingEndReason
    SDKError, SDKUserType, AudioRawdataSamplingRate = SDKError, SDKUserType, AudioRawdataSamplingRate
    InitParam, AuthContext, JoinParam, LEAVE_MEETING = InitParam, AuthContext, JoinParam, LEAVE_MEETING
    AuthServiceEventCallbacks, MeetingServiceEventCallbacks = AuthServiceEventCallbacks, MeetingServiceEventCallbacks

    def __init__(self, auth: str | None = "AUTHRET_SUCCESS",
                 joins: list[list[tuple[str, int]]] | None = None) -> None:
        self.auth = auth
        self.joins = joins if joins is not None else [[("CONNECTING", 0), ("INMEETING", 0)]]
        self.pending: deque = deque()
        self.calls: list[str] = []
        self.jwt: str | None = None
        self.join_params: list[dict] = []
        self._auth_cb = self._meeting_cb = None

    def pump(self) -> None:
        if self.pending:
            self.pending.popleft()()

    def InitSDK(self, param):
        self.calls.append("InitSDK")
        return SDKError.SDKERR_SUCCESS

    def CleanUPSDK(self):
        self.calls.append("CleanUPSDK")
        return SDKError.SDKERR_SUCCESS

    def CreateAuthService(self):
        fake = self

        class Auth:
            def SetEvent(self, cb):
                fake._auth_cb = cb

            def SDKAuth(self, ctx):
                fake.jwt = ctx.jwt_token
                if fake.auth is not None:
                    fake.pending.append(lambda: fake._auth_cb.onAuthenticationReturnCallback(AuthResult[fake.auth]))
                return SDKError.SDKERR_SUCCESS

        return Auth()

    def CreateMeetingService(self):
        fake = self

        class Meeting:
            def SetEvent(self, cb):
                fake._meeting_cb = cb

            def Join(self, jp):
                fake.join_params.append({"userType": jp.userType, **vars(jp.param)})
                attempt = fake.joins[min(len(fake.join_params), len(fake.joins)) - 1]
                for status, result in attempt:
                    fake.pending.append(lambda s=status, r=result: fake._meeting_cb.onMeetingStatusChangedCallback(
                        MeetingStatus[f"MEETING_STATUS_{s}"], r))
                return SDKError.SDKERR_SUCCESS

            def Leave(self, cmd):
                fake.calls.append("Leave")

        return Meeting()

    def DestroyAuthService(self, service):
        self.calls.append("DestroyAuthService")

    def DestroyMeetingService(self, service):
        self.calls.append("DestroyMeetingService")

    def end(self, reason: str) -> None:
        """The meeting ends (``reason``: a MeetingEndReason name without prefix)."""
        self.pending.append(lambda: self._meeting_cb.onMeetingStatusChangedCallback(
            MeetingStatus.MEETING_STATUS_ENDED, MeetingEndReason[f"EndMeetingReason_{reason}"].value))
