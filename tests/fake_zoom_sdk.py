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
SDKError = Enum("SDKError", {"SDKERR_SUCCESS": 0, "SDKERR_UNAUTHENTICATION": 8, "SDKERR_NO_PERMISSION": 12,
                             "SDKERR_MEETING_DONT_SUPPORT_FEATURE": 20})
SDKUserType = Enum("SDKUserType", {"SDK_UT_NORMALUSER": 100, "SDK_UT_WITHOUT_LOGIN": 101})
AudioRawdataSamplingRate = Enum("AudioRawdataSamplingRate", {"AudioRawdataSamplingRate_32K": 0,
                                                             "AudioRawdataSamplingRate_48K": 1})
LEAVE_MEETING = 0
UserRole = Enum("UserRole", {f"USERROLE_{n}": i for i, n in enumerate(
    ["NONE", "HOST", "COHOST", "PANELIST", "BREAKOUTROOM_MODERATOR", "ATTENDEE"])})
SDKChatMessageType = Enum("SDKChatMessageType", {"To_None": 0, "To_All": 1, "To_Individual_Panelist": 3,
                                                 "To_Individual": 4})
SharingStatus = Enum("SharingStatus", {"Sharing_Self_Send_Begin": 0, "Sharing_Self_Send_End": 1,
                                       "Sharing_Other_Share_Begin": 4, "Sharing_Other_Share_End": 5})
RequestLocalRecordingStatus = Enum("RequestLocalRecordingStatus", {
    "RequestLocalRecording_Granted": 0, "RequestLocalRecording_Denied": 1, "RequestLocalRecording_Timeout": 2})


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


class MeetingParticipantsCtrlEventCallbacks(_Callbacks):
    allowed = frozenset({"onUserJoinCallback", "onUserLeftCallback", "onUserNamesChangedCallback",
                         "onHostChangeNotificationCallback", "onCoHostChangeNotificationCallback",
                         "onLowOrRaiseHandStatusChangedCallback"})


class MeetingAudioCtrlEventCallbacks(_Callbacks):
    allowed = frozenset({"onUserAudioStatusChangeCallback", "onUserActiveAudioChangeCallback"})


class MeetingChatEventCallbacks(_Callbacks):
    allowed = frozenset({"onChatMsgNotificationCallback"})


class MeetingRecordingCtrlEventCallbacks(_Callbacks):
    allowed = frozenset({"onRecordPrivilegeChangedCallback", "onLocalRecordingPrivilegeRequestStatusCallback"})


class MeetingShareCtrlEventCallbacks(_Callbacks):
    allowed = frozenset({"onSharingStatusCallback"})


class MeetingReminderEventCallbacks(_Callbacks):
    allowed = frozenset({"onReminderNotifyCallback"})


class ZoomSDKAudioRawDataDelegateCallbacks(_Callbacks):
    allowed = frozenset({"onOneWayAudioRawDataReceivedCallback", "onMixedAudioRawDataReceivedCallback"})


class FakeUser:
    """An ``IUserInfo``; tests change its fields to change what Zoom reports."""

    def __init__(self, uid: int, pid: str, name: str, *, role: str = "NONE", muted: bool = True,
                 video: bool = False, hand: bool = False, me: bool = False, customer_key: str = "") -> None:
        self.uid, self.pid, self.name, self.role = uid, pid, name, role
        self.muted, self.video, self.hand, self.me, self.customer_key = muted, video, hand, me, customer_key

    def GetUserID(self): return self.uid
    def GetPersistentId(self): return self.pid
    def GetUserName(self): return self.name
    def GetCustomerKey(self): return self.customer_key
    def GetUserRole(self): return UserRole[f"USERROLE_{self.role}"]
    def IsAudioMuted(self): return self.muted
    def IsVideoOn(self): return self.video
    def IsRaiseHand(self): return self.hand
    def IsMySelf(self): return self.me


class FakeAudio:
    def __init__(self, pcm: bytes, rate: int) -> None:
        self.pcm, self.rate = pcm, rate

    def GetBuffer(self): return self.pcm
    def GetSampleRate(self): return self.rate
    def GetTimeStamp(self): return 123456789.0  # the SDK's own clock: not ours


class FakeChat:
    def __init__(self, sender: int, receiver: int, to_all: bool, text: str) -> None:
        self.sender, self.receiver, self.to_all, self.text = sender, receiver, to_all, text

    def GetSenderUserId(self): return self.sender
    def GetReceiverUserId(self): return self.receiver
    def IsChatToAll(self): return self.to_all
    def GetContent(self): return self.text


class FakeChatBuilder:
    def __init__(self) -> None:
        self.msg: dict = {}

    def SetContent(self, text):
        self.msg["text"] = text
        return self

    def SetReceiver(self, uid):
        self.msg["to"] = uid
        return self

    def SetMessageType(self, kind):
        self.msg["type"] = kind.name
        return self

    def Build(self):
        return dict(self.msg)


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
    MeetingParticipantsCtrlEventCallbacks, MeetingAudioCtrlEventCallbacks = (MeetingParticipantsCtrlEventCallbacks,
                                                                            MeetingAudioCtrlEventCallbacks)
    MeetingChatEventCallbacks, MeetingRecordingCtrlEventCallbacks = MeetingChatEventCallbacks, MeetingRecordingCtrlEventCallbacks
    MeetingReminderEventCallbacks, MeetingShareCtrlEventCallbacks = MeetingReminderEventCallbacks, MeetingShareCtrlEventCallbacks
    SDKChatMessageType, SharingStatus = SDKChatMessageType, SharingStatus
    ZoomSDKAudioRawDataDelegateCallbacks = ZoomSDKAudioRawDataDelegateCallbacks
    UserRole, RequestLocalRecordingStatus = UserRole, RequestLocalRecordingStatus

    def __init__(self, auth: str | None = "AUTHRET_SUCCESS",
                 joins: list[list[tuple[str, int]]] | None = None, *, can_record: bool = True,
                 host_answer: str | None = "RequestLocalRecording_Granted") -> None:
        """``can_record``: raw recording allowed at once (an app privilege token, or the host allows it);
        otherwise the host answers the request with ``host_answer`` (None: never)."""
        self.auth = auth
        self.can_record, self.host_answer = can_record, host_answer
        self.can_ask = True  # False: the host cannot be asked to allow recording
        self.sent: list[dict] = []  # chat messages the bot sent
        self.requests = 0
        self.users: dict[int, FakeUser] = {1: FakeUser(1, "bot", "Rollcall", me=True)}
        self.cb: dict[str, object] = {}  # controller callbacks by controller name
        self.audio_cb = None
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

            def GetMeetingParticipantsController(self):
                return fake._controller("participants", GetMySelfUser=lambda: fake.users[1],
                                        GetParticipantsList=lambda: list(fake.users),
                                        GetUserByUserID=lambda uid: fake.users.get(uid))

            def GetMeetingAudioController(self):
                return fake._controller("audio", JoinVoip=lambda: fake.calls.append("JoinVoip") or SDKError.SDKERR_SUCCESS)

            def GetMeetingChatController(self):
                return fake._controller("chat", GetChatMessageBuilder=lambda: FakeChatBuilder(),
                                        SendChatMsgTo=fake._send_chat)

            def GetMeetingShareController(self):
                return fake._controller("share")

            def GetMeetingReminderController(self):
                return fake._controller("reminder")

            def GetMeetingRecordingController(self):
                return fake._controller(
                    "recording",
                    CanStartRawRecording=lambda: SDKError.SDKERR_SUCCESS if fake.can_record else SDKError.SDKERR_NO_PERMISSION,
                    StartRawRecording=fake._start_raw, RequestLocalRecordingPrivilege=fake._request_privilege,
                    IsSupportRequestLocalRecordingPrivilege=lambda: SDKError.SDKERR_SUCCESS if fake.can_ask
                    else SDKError.SDKERR_MEETING_DONT_SUPPORT_FEATURE)

        return Meeting()

    def _controller(self, name: str, **methods):
        fake = self

        class Controller:
            def SetEvent(self, cb):
                fake.cb[name] = cb
                return SDKError.SDKERR_SUCCESS

        c = Controller()
        for method, fn in methods.items():
            setattr(c, method, fn)
        return c

    def _send_chat(self, msg):
        self.sent.append(msg)
        return SDKError.SDKERR_SUCCESS

    def _start_raw(self):
        self.calls.append("StartRawRecording")
        return SDKError.SDKERR_SUCCESS if self.can_record else SDKError.SDKERR_NO_PERMISSION

    def _request_privilege(self):
        self.calls.append("RequestLocalRecordingPrivilege")
        self.requests += 1
        if self.host_answer is not None:
            answer = RequestLocalRecordingStatus[self.host_answer]
            if answer.name == "RequestLocalRecording_Granted":
                self.can_record = True
                self.pending.append(lambda: self.cb["recording"].onRecordPrivilegeChangedCallback(True))
            self.pending.append(lambda: self.cb["recording"].onLocalRecordingPrivilegeRequestStatusCallback(answer))
        return SDKError.SDKERR_SUCCESS

    def GetAudioRawdataHelper(self):
        fake = self

        class Helper:
            def subscribe(self, cb, mixed):
                fake.audio_cb = cb
                return SDKError.SDKERR_SUCCESS

            def unSubscribe(self):
                fake.audio_cb = None

        return Helper()

    # ---- what people in the meeting do (delivered on pump) -----------------------------------
    def add_user(self, user: FakeUser) -> None:
        self.users[user.uid] = user
        if "participants" in self.cb:
            self.pending.append(lambda: self.cb["participants"].onUserJoinCallback([user.uid], ""))

    def remove_user(self, uid: int) -> None:
        self.users.pop(uid)
        self.pending.append(lambda: self.cb["participants"].onUserLeftCallback([uid], ""))

    def audio(self, uid: int, pcm: bytes, rate: int = 32000) -> None:
        """Delivered at once, as the SDK's audio thread would."""
        if self.audio_cb is not None:
            self.audio_cb.onOneWayAudioRawDataReceivedCallback(FakeAudio(pcm, rate), uid)

    def active_speaker(self, uid: int) -> None:
        self.pending.append(lambda: self.cb["audio"].onUserActiveAudioChangeCallback([uid]))

    def share(self, uid: int, begin: bool) -> None:
        info = SimpleNamespace(userid=uid, status=SharingStatus["Sharing_Other_Share_Begin" if begin
                                                               else "Sharing_Other_Share_End"])
        self.pending.append(lambda: self.cb["share"].onSharingStatusCallback(info))

    def chat(self, sender: int, text: str, *, to: int = 0) -> None:
        msg = FakeChat(sender, to, to == 0, text)
        self.pending.append(lambda: self.cb["chat"].onChatMsgNotificationCallback(msg, None))

    def DestroyAuthService(self, service):
        self.calls.append("DestroyAuthService")

    def DestroyMeetingService(self, service):
        self.calls.append("DestroyMeetingService")

    def end(self, reason: str) -> None:
        """The meeting ends (``reason``: a MeetingEndReason name without prefix)."""
        self.pending.append(lambda: self._meeting_cb.onMeetingStatusChangedCallback(
            MeetingStatus.MEETING_STATUS_ENDED, MeetingEndReason[f"EndMeetingReason_{reason}"].value))


def interfaces() -> dict[str, set[str]]:
    """The stand-in's objects under the real SDK's interface names, with the methods each offers (the
    contract tests check that the real interfaces have them all)."""
    fake = FakeZoom()
    meeting = fake.CreateMeetingService()
    objects = {"IAuthService": fake.CreateAuthService(), "IMeetingService": meeting,
               "IMeetingParticipantsController": meeting.GetMeetingParticipantsController(),
               "IMeetingAudioController": meeting.GetMeetingAudioController(),
               "IMeetingChatController": meeting.GetMeetingChatController(),
               "IMeetingReminderController": meeting.GetMeetingReminderController(),
               "IMeetingRecordingController": meeting.GetMeetingRecordingController(),
               "IMeetingShareController": meeting.GetMeetingShareController(),
               "IChatMsgInfoBuilder": FakeChatBuilder(),
               "IZoomSDKAudioRawDataHelper": fake.GetAudioRawdataHelper(), "IUserInfo": fake.users[1],
               "AudioRawData": FakeAudio(b"", 32000), "IChatMsgInfo": FakeChat(0, 0, True, "")}
    return {name: {m for m in dir(o) if not m.startswith("_") and callable(getattr(o, m))}
            for name, o in objects.items()}
