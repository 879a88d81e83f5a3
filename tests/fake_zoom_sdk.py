"""A stand-in for ``zoom_meeting_sdk`` with the names the session uses, whose "Zoom" is scripted: what
authentication answers, which meeting statuses each join attempt goes through, and what people in the
meeting do. Callbacks are delivered one per ``pump()``, as the GLib loop would.

It behaves as the real SDK does where our session depends on it, each behaviour with its source in
``tests/STAND-INS.md``; ``tests/test_zoom_contract.py`` holds every name, enum value, callback keyword
and method here to the installed ``zoom_meeting_sdk``. Among the behaviours: the bot is an ordinary
participant (role ATTENDEE) in an ordinary meeting; an absent on-behalf user gives FAILED then ENDED;
recording requests reach only a host who is present; raw audio flows only after ``JoinVoip``,
``StartRawRecording`` and ``subscribe``, and stops when the privilege is revoked; the chat builder keeps
its fields until ``Clear``; a breakout move or the waiting room hands out new controllers.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum, IntEnum
from types import SimpleNamespace

AuthResult = Enum("AuthResult", {n: i for i, n in enumerate(
    ["AUTHRET_SUCCESS", "AUTHRET_KEYORSECRETEMPTY", "AUTHRET_KEYORSECRETWRONG", "AUTHRET_ACCOUNTNOTSUPPORT",
     "AUTHRET_ACCOUNTNOTENABLESDK", "AUTHRET_UNKNOWN", "AUTHRET_SERVICE_BUSY", "AUTHRET_NONE", "AUTHRET_OVERTIME",
     "AUTHRET_NETWORKISSUE", "AUTHRET_CLIENT_INCOMPATIBLE", "AUTHRET_JWTTOKENWRONG"])})
MeetingStatus = Enum("MeetingStatus", {f"MEETING_STATUS_{n}": i for i, n in enumerate(
    ["IDLE", "CONNECTING", "WAITINGFORHOST", "INMEETING", "DISCONNECTING", "RECONNECTING", "FAILED", "ENDED",
     "UNKNOWN", "LOCKED", "UNLOCKED", "IN_WAITING_ROOM", "WEBINAR_PROMOTE", "WEBINAR_DEPROMOTE",
     "JOIN_BREAKOUT_ROOM", "LEAVE_BREAKOUT_ROOM"])})
MeetingFailCode = IntEnum("MeetingFailCode", {
    "MEETING_FAIL_CONNECTION_ERR": 1, "MEETING_FAIL_PASSWORD_ERR": 4, "MEETING_FAIL_MEETING_NOT_START": 7,
    "MEETING_FAIL_MEETING_USER_FULL": 9, "CONF_FAIL_REMOVED_BY_HOST": 61,
    "MEETING_FAIL_UNABLE_TO_JOIN_EXTERNAL_MEETING": 63, "MEETING_FAIL_AUTHORIZED_USER_NOT_INMEETING": 501,
    "MEETING_FAIL_APP_CAN_NOT_ANONYMOUS_JOIN_MEETING": 504, "MEETING_FAIL_UNKNOWN": 65535})
MeetingEndReason = IntEnum("MeetingEndReason", {f"EndMeetingReason_{n}": i for i, n in enumerate(
    ["None", "KickByHost", "EndByHost", "JBHTimeOut", "NoAttendee", "HostStartAnotherMeeting",
     "FreeMeetingTimeOut", "Undefined", "DueToAuthorizedUserLeave"])})
SDKError = Enum("SDKError", {"SDKERR_SUCCESS": 0, "SDKERR_INVALID_PARAMETER": 3, "SDKERR_UNAUTHENTICATION": 8,
                             "SDKERR_NO_PERMISSION": 12, "SDKERR_TOO_FREQUENT_CALL": 18,
                             "SDKERR_MEETING_DONT_SUPPORT_FEATURE": 20, "SDKERR_NOT_JOIN_AUDIO": 32})
SDKUserType = Enum("SDKUserType", {"SDK_UT_NORMALUSER": 100, "SDK_UT_WITHOUT_LOGIN": 101})
AudioRawdataSamplingRate = Enum("AudioRawdataSamplingRate", {"AudioRawdataSamplingRate_32K": 0,
                                                             "AudioRawdataSamplingRate_48K": 1})
LEAVE_MEETING = 0
UserRole = Enum("UserRole", {f"USERROLE_{n}": i for i, n in enumerate(
    ["NONE", "HOST", "COHOST", "PANELIST", "BREAKOUTROOM_MODERATOR", "ATTENDEE"])})
MeetingType = Enum("MeetingType", {"MEETING_TYPE_NONE": 0, "MEETING_TYPE_NORMAL": 1, "MEETING_TYPE_WEBINAR": 2,
                                   "MEETING_TYPE_BREAKOUTROOM": 3})
BO_STATUS = Enum("BO_STATUS", {"BO_STATUS_INVALID": 0, "BO_STATUS_EDIT": 1, "BO_STATUS_STARTED": 2,
                               "BO_STATUS_STOPPING": 3, "BO_STATUS_ENDED": 4})
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


class MeetingBOEventCallbacks(_Callbacks):
    allowed = frozenset({"onHasAttendeeRightsNotificationCallback", "onLostAttendeeRightsNotificationCallback",
                         "onBOStatusChangedCallback"})


class ZoomSDKAudioRawDataDelegateCallbacks(_Callbacks):
    allowed = frozenset({"onOneWayAudioRawDataReceivedCallback", "onMixedAudioRawDataReceivedCallback"})


class FakeUser:
    """An ``IUserInfo``; tests change its fields to change what Zoom reports. A participant who is not the
    host has the role ATTENDEE in an ordinary meeting, as in a webinar."""

    def __init__(self, uid: int, pid: str, name: str, *, role: str = "ATTENDEE", muted: bool = True,
                 video: bool = False, hand: bool = False, me: bool = False, customer_key: str = "",
                 bot: bool = False) -> None:
        self.uid, self.pid, self.name, self.role = uid, pid, name, role
        self.muted, self.video, self.hand, self.me, self.customer_key = muted, video, hand, me, customer_key
        self.bot = bot

    def GetUserID(self): return self.uid
    def GetPersistentId(self): return self.pid
    def GetUserName(self): return self.name
    def GetCustomerKey(self): return self.customer_key
    def GetUserRole(self): return UserRole[f"USERROLE_{self.role}"]
    def IsHost(self): return self.role == "HOST"
    def IsAudioMuted(self): return self.muted
    def IsVideoOn(self): return self.video
    def IsRaiseHand(self): return self.hand
    def IsMySelf(self): return self.me
    def IsBotUser(self): return self.bot


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
    """The chat controller hands out one builder, which keeps every field set on it until ``Clear``."""

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

    def Clear(self):
        self.msg = {}


class FakeMeetingInfo:
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def GetMeetingType(self): return MeetingType[f"MEETING_TYPE_{self.kind}"]


class FakeBOAttendee:
    """What ``onHasAttendeeRightsNotificationCallback`` hands over: the bot's way into its room."""

    def __init__(self, fake: FakeZoom, room: str) -> None:
        self.fake, self.room = fake, room

    def JoinBo(self):
        self.fake._guard_reentry("JoinBo")
        self.fake.calls.append("JoinBo")
        self.fake._move_bot(self.room)
        return True

    def GetBoName(self): return self.room


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
    (MeetingStatus name without prefix, iResult) it goes through (the last attempt's list repeats).
    ``can_record``: raw recording allowed at once (an app privilege token, or the host allows it);
    otherwise a host who is present answers the request with ``host_answer`` (None: never).
    ``authorized_user_at``: with an on-behalf token, the clock time from which its user is in the meeting;
    before that a join gives FAILED ``obf_code`` (501, or 65535 as the SDK also answers) then ENDED
    (``clock`` is then required)."""

    AuthResult, MeetingStatus, MeetingFailCode, MeetingEndReason = AuthResult, MeetingStatus, MeetingFailCode, MeetingEndReason
    SDKError, SDKUserType, AudioRawdataSamplingRate = SDKError, SDKUserType, AudioRawdataSamplingRate
    InitParam, AuthContext, JoinParam, LEAVE_MEETING = InitParam, AuthContext, JoinParam, LEAVE_MEETING
    AuthServiceEventCallbacks, MeetingServiceEventCallbacks = AuthServiceEventCallbacks, MeetingServiceEventCallbacks
    MeetingParticipantsCtrlEventCallbacks, MeetingAudioCtrlEventCallbacks = (MeetingParticipantsCtrlEventCallbacks,
                                                                            MeetingAudioCtrlEventCallbacks)
    MeetingChatEventCallbacks, MeetingRecordingCtrlEventCallbacks = MeetingChatEventCallbacks, MeetingRecordingCtrlEventCallbacks
    MeetingReminderEventCallbacks, MeetingShareCtrlEventCallbacks = MeetingReminderEventCallbacks, MeetingShareCtrlEventCallbacks
    MeetingBOEventCallbacks, MeetingType, BO_STATUS = MeetingBOEventCallbacks, MeetingType, BO_STATUS
    SDKChatMessageType, SharingStatus = SDKChatMessageType, SharingStatus
    ZoomSDKAudioRawDataDelegateCallbacks = ZoomSDKAudioRawDataDelegateCallbacks
    UserRole, RequestLocalRecordingStatus = UserRole, RequestLocalRecordingStatus

    def __init__(self, auth: str | None = "AUTHRET_SUCCESS",
                 joins: list[list[tuple[str, int]]] | None = None, *, can_record: bool = True,
                 host_answer: str | None = "RequestLocalRecording_Granted", meeting_type: str = "NORMAL",
                 authorized_user_at: float | None = None, obf_code: int = 501,
                 clock: Callable[[], float] | None = None) -> None:
        self.auth = auth
        self.auth_call = "SDKERR_SUCCESS"  # what SDKAuth itself returns
        self.can_record, self.host_answer = can_record, host_answer
        self.can_ask = True  # False: the host cannot be asked to allow recording (e.g. a Zoom Rooms host)
        self.meeting_type = meeting_type
        self.authorized_user_at, self.obf_code, self.clock = authorized_user_at, obf_code, clock
        self.subscribe_result = "SDKERR_SUCCESS"
        self.sent: list[dict] = []  # chat messages the bot sent
        self.requests = 0
        self.users: dict[int, FakeUser] = {1: FakeUser(1, "bot", "Rollcall", me=True)}
        self.sharing: set[int] = set()  # users sharing their screen
        self.cb: dict[str, object] = {}  # controller callbacks by controller name (this generation's)
        self.generation = 0  # a new one after a breakout move or the waiting room: new controllers
        self.audio_cb = None
        self.voip = self.recording = False
        self.voip_works = True  # False: JoinVoip "succeeds" but no audio ever flows (the SDK's error-32 trap)
        self.bo_started, self.bot_room = False, None
        self.joins = joins if joins is not None else [[("CONNECTING", 0), ("INMEETING", 0)]]
        self.pending: deque = deque()
        self.turn = 0  # pumps so far: a loop turn
        self.call_turns: dict[str, list[int]] = {}
        self.statuses: list[tuple[str, int]] = []  # (status delivered, loop turn)
        self.calls: list[str] = []
        self.reentrant: list[str] = []  # SDK calls made from inside a callback (the peer never does)
        self.jwt: str | None = None
        self.join_params: list[dict] = []
        self._auth_cb = self._meeting_cb = None
        self._dispatching = False
        self._builder = FakeChatBuilder()
        self._next_uid = 1000

    # ---- the loop -----------------------------------------------------------------------------
    def pump(self) -> None:
        self.turn += 1
        if self.pending:
            self._dispatching = True
            try:
                self.pending.popleft()()
            finally:
                self._dispatching = False

    def _call(self, name: str) -> None:
        self.calls.append(name)
        self.call_turns.setdefault(name, []).append(self.turn)

    def _guard_reentry(self, name: str) -> None:
        if self._dispatching:
            self.reentrant.append(name)

    def _emit(self, controller: str, method: str, *args) -> None:
        """Deliver on a later pump to this generation's sink, if the bot registered that callback."""
        def deliver():
            fn = getattr(self.cb.get(controller), method, None)
            if fn is not None:
                fn(*args)
        self.pending.append(deliver)

    def _status(self, status: str, result: int = 0) -> None:
        def deliver():
            self.statuses.append((status, self.turn))
            self._meeting_cb.onMeetingStatusChangedCallback(MeetingStatus[f"MEETING_STATUS_{status}"], result)
        self.pending.append(deliver)

    # ---- services -----------------------------------------------------------------------------
    def InitSDK(self, param):
        self._call("InitSDK")
        return SDKError.SDKERR_SUCCESS

    def CleanUPSDK(self):
        self._call("CleanUPSDK")
        return SDKError.SDKERR_SUCCESS

    def CreateAuthService(self):
        fake = self

        class Auth:
            def SetEvent(self, cb):
                fake._auth_cb = cb

            def SDKAuth(self, ctx):
                fake.jwt = ctx.jwt_token
                if fake.auth_call != "SDKERR_SUCCESS":
                    return SDKError[fake.auth_call]
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
                if fake.authorized_user_at is not None and getattr(jp.param, "onBehalfToken", None):
                    if fake.clock() < fake.authorized_user_at:  # the token's user is not in the meeting yet
                        for status, result in (("CONNECTING", 0), ("FAILED", fake.obf_code), ("ENDED", 0)):
                            fake._status(status, result)
                        return SDKError.SDKERR_SUCCESS
                    attempt = [("CONNECTING", 0), ("INMEETING", 0)]
                else:
                    attempt = fake.joins[min(len(fake.join_params), len(fake.joins)) - 1]
                for status, result in attempt:
                    fake._status(status, result)
                return SDKError.SDKERR_SUCCESS

            def Leave(self, cmd):
                fake._call("Leave")
                fake._status("ENDED", 0)  # ENDED follows whether the bot left or was removed
                return SDKError.SDKERR_SUCCESS

            def GetMeetingInfo(self):
                return FakeMeetingInfo(fake.meeting_type)

            def GetMeetingParticipantsController(self):
                return fake._controller("participants", GetMySelfUser=lambda: fake.users[1],
                                        GetParticipantsList=lambda: list(fake.users),
                                        GetUserByUserID=lambda uid: fake.users.get(uid))

            def GetMeetingAudioController(self):
                return fake._controller("audio", JoinVoip=fake._join_voip)

            def GetMeetingChatController(self):
                return fake._controller("chat", GetChatMessageBuilder=lambda: fake._builder,
                                        SendChatMsgTo=fake._send_chat)

            def GetMeetingShareController(self):
                return fake._controller("share", GetViewableSharingUserList=lambda: sorted(fake.sharing))

            def GetMeetingReminderController(self):
                return fake._controller("reminder")

            def GetMeetingBOController(self):
                return fake._controller("breakout", IsBOStarted=lambda: fake.bo_started,
                                        IsInBOMeeting=lambda: fake.bot_room is not None)

            def GetMeetingRecordingController(self):
                return fake._controller(
                    "recording",
                    CanStartRawRecording=lambda: SDKError.SDKERR_SUCCESS if fake.can_record else SDKError.SDKERR_NO_PERMISSION,
                    StartRawRecording=fake._start_raw, StopRawRecording=fake._stop_raw,
                    RequestLocalRecordingPrivilege=fake._request_privilege,
                    IsSupportRequestLocalRecordingPrivilege=lambda: SDKError.SDKERR_SUCCESS if fake.can_ask
                    else SDKError.SDKERR_MEETING_DONT_SUPPORT_FEATURE)

        return Meeting()

    def _controller(self, name: str, **methods):
        fake, generation = self, self.generation

        class Controller:
            def SetEvent(self, cb):
                if generation == fake.generation:  # an old controller's sink hears nothing any more
                    fake.cb[name] = cb
                return SDKError.SDKERR_SUCCESS

        c = Controller()
        for method, fn in methods.items():
            setattr(c, method, fn)
        return c

    def _new_controllers(self) -> None:
        self.generation += 1
        self.cb = {}

    def _join_voip(self):
        self._call("JoinVoip")
        self.voip = self.voip_works
        return SDKError.SDKERR_SUCCESS

    def _send_chat(self, msg):
        self.sent.append(msg)
        return SDKError.SDKERR_SUCCESS

    def _start_raw(self):
        self._guard_reentry("StartRawRecording")
        self._call("StartRawRecording")
        self.recording = self.can_record
        return SDKError.SDKERR_SUCCESS if self.can_record else SDKError.SDKERR_NO_PERMISSION

    def _stop_raw(self):
        self._call("StopRawRecording")
        self.recording = False
        return SDKError.SDKERR_SUCCESS

    def _request_privilege(self):
        self._call("RequestLocalRecordingPrivilege")
        self.requests += 1
        host_here = any(u.role == "HOST" for u in self.users.values() if not u.me)
        if self.host_answer is not None and host_here:  # the request reaches only a host who is present
            answer = RequestLocalRecordingStatus[self.host_answer]
            if answer.name == "RequestLocalRecording_Granted":
                self.grant()
            self._emit("recording", "onLocalRecordingPrivilegeRequestStatusCallback", answer)
        return SDKError.SDKERR_SUCCESS

    def GetAudioRawdataHelper(self):
        fake = self

        class Helper:
            def subscribe(self, cb, mixed):
                fake._call("subscribe")
                if fake.subscribe_result != "SDKERR_SUCCESS":
                    return SDKError[fake.subscribe_result]
                fake.audio_cb = cb
                return SDKError.SDKERR_SUCCESS

            def unSubscribe(self):
                fake._call("unSubscribe")
                fake.audio_cb = None
                return SDKError.SDKERR_SUCCESS

        return Helper()

    def DestroyAuthService(self, service):
        self._call("DestroyAuthService")

    def DestroyMeetingService(self, service):
        self._call("DestroyMeetingService")

    # ---- what people in the meeting do (delivered on pump) -----------------------------------
    def new_uid(self) -> int:
        self._next_uid += 1
        return self._next_uid

    def add_user(self, user: FakeUser) -> None:
        self.users[user.uid] = user
        if "participants" in self.cb:
            self._emit("participants", "onUserJoinCallback", [user.uid], "")

    def remove_user(self, uid: int) -> None:
        self.users.pop(uid)
        self.sharing.discard(uid)
        self._emit("participants", "onUserLeftCallback", [uid], "")

    def audio(self, uid: int, pcm: bytes, rate: int = 32000) -> bool:
        """Delivered at once, as the SDK's audio thread would: only while the bot has joined the audio,
        records and is subscribed, and only from someone in the bot's room. False if nothing was delivered."""
        if self.audio_cb is None or not (self.voip and self.recording) or uid not in self.users:
            return False
        self.audio_cb.onOneWayAudioRawDataReceivedCallback(FakeAudio(pcm, rate), uid)
        return True

    def active_speaker(self, uid: int) -> None:
        self._emit("audio", "onUserActiveAudioChangeCallback", [uid])

    def share(self, uid: int, begin: bool) -> None:
        (self.sharing.add if begin else self.sharing.discard)(uid)
        info = SimpleNamespace(userid=uid, status=SharingStatus["Sharing_Other_Share_Begin" if begin
                                                               else "Sharing_Other_Share_End"])
        self._emit("share", "onSharingStatusCallback", info)

    def chat(self, sender: int, text: str, *, to: int = 0) -> None:
        msg = FakeChat(sender, to, to == 0, text)
        self._emit("chat", "onChatMsgNotificationCallback", msg, None)

    def grant(self) -> None:
        """The host allows the bot to record (from the request's prompt, or from the participants panel)."""
        self.can_record = True
        self._emit("recording", "onRecordPrivilegeChangedCallback", True)

    def revoke(self) -> None:
        """The host takes the permission back: raw recording stops, and audio with it."""
        self.can_record = self.recording = False
        self._emit("recording", "onRecordPrivilegeChangedCallback", False)

    def reconnect(self, *, completes: bool = True) -> None:
        """The connection drops: RECONNECTING, then CONNECTING, then (if ``completes``) back in the meeting."""
        self._status("RECONNECTING")
        self._status("CONNECTING")
        if completes:
            self._status("INMEETING")

    def open_breakouts(self, rooms: dict[str, list[int]], bot_room: str | None = None) -> dict[int, int]:
        """The host opens breakout rooms and everyone assigned moves. Those in the bot's room reappear there
        with new user ids (same persistent id), the others leave the bot's view. Returns old → new id for
        the bot's room. With ``bot_room`` the bot is given attendee rights and must call ``JoinBo``."""
        self.bo_started = True
        moved = [uid for members in rooms.values() for uid in members]
        self._emit("breakout", "onBOStatusChangedCallback", BO_STATUS.BO_STATUS_STARTED)
        self._away = {uid: self.users[uid] for uid in moved}
        for uid in moved:
            self.remove_user(uid)
        self._rooms, renamed = rooms, {}
        if bot_room is not None:
            for uid in rooms[bot_room]:
                renamed[uid] = self.new_uid()
            self._room_ids = renamed
            attendee = FakeBOAttendee(self, bot_room)
            self._emit("breakout", "onHasAttendeeRightsNotificationCallback", attendee)
        return renamed

    def _move_bot(self, room: str) -> None:
        """The bot leaves the main session for ``room``: JOIN_BREAKOUT_ROOM, CONNECTING, INMEETING there."""
        self.bot_room = room
        self._main = {uid: u for uid, u in self.users.items() if not u.me}
        self.users = {1: self.users[1]}
        for old, new in self._room_ids.items():
            u = self._away[old]
            self.users[new] = FakeUser(new, u.pid, u.name, role=u.role, muted=u.muted, video=u.video, bot=u.bot)
        self._status("JOIN_BREAKOUT_ROOM")
        self._status("CONNECTING")
        self.pending.append(self._new_controllers)
        self._status("INMEETING")

    def close_breakouts(self) -> dict[int, int]:
        """Rooms close: everyone (the bot too) returns to the main session, with new user ids. Returns
        old (pre-breakout) → new id."""
        self.bo_started = False
        self._emit("breakout", "onBOStatusChangedCallback", BO_STATUS.BO_STATUS_ENDED)
        back = {uid: self.new_uid() for uid in self._away}
        returning = {back[uid]: FakeUser(back[uid], u.pid, u.name, role=u.role, muted=u.muted, video=u.video,
                                         bot=u.bot) for uid, u in self._away.items()}
        if self.bot_room is not None:
            self.bot_room = None
            self.users = {1: self.users[1], **self._main, **returning}
            self._status("LEAVE_BREAKOUT_ROOM")
            self._status("CONNECTING")
            self.pending.append(self._new_controllers)
            self._status("INMEETING")
        else:
            for user in returning.values():
                self.add_user(user)
        return back

    def to_waiting_room(self) -> None:
        """The host moves the bot to the waiting room."""
        self._status("IN_WAITING_ROOM")

    def admit(self) -> None:
        self.pending.append(self._new_controllers)
        self._status("INMEETING")

    def end(self, reason: str) -> None:
        """The meeting ends (``reason``: a MeetingEndReason name without prefix)."""
        self._status("ENDED", MeetingEndReason[f"EndMeetingReason_{reason}"].value)


def interfaces() -> dict[str, set[str]]:
    """The stand-in's objects under the real SDK's interface names, with the methods each offers (the
    contract tests check that the real interfaces have them all)."""
    fake = FakeZoom()
    meeting = fake.CreateMeetingService()
    objects = {"IAuthService": fake.CreateAuthService(), "IMeetingService": meeting,
               "IMeetingInfo": meeting.GetMeetingInfo(),
               "IMeetingParticipantsController": meeting.GetMeetingParticipantsController(),
               "IMeetingAudioController": meeting.GetMeetingAudioController(),
               "IMeetingChatController": meeting.GetMeetingChatController(),
               "IMeetingReminderController": meeting.GetMeetingReminderController(),
               "IMeetingRecordingController": meeting.GetMeetingRecordingController(),
               "IMeetingShareController": meeting.GetMeetingShareController(),
               "IMeetingBOController": meeting.GetMeetingBOController(),
               "IBOAttendee": FakeBOAttendee(fake, "room"),
               "IChatMsgInfoBuilder": FakeChatBuilder(),
               "IZoomSDKAudioRawDataHelper": fake.GetAudioRawdataHelper(), "IUserInfo": fake.users[1],
               "AudioRawData": FakeAudio(b"", 32000), "IChatMsgInfo": FakeChat(0, 0, True, "")}
    return {name: {m for m in dir(o) if not m.startswith("_") and callable(getattr(o, m))}
            for name, o in objects.items()}
