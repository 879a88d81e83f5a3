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
from datetime import UTC, datetime
from typing import Any

from analysis.events import MeetingEvent
from bot.transport import AudioChunk, MeetingHandler
from bot.zoom.credentials import ZoomCredentials, make_jwt
from bot.zoom.guard import SdkGuard
from bot.zoom.lifecycle import (AUTHORIZED_USER_NOT_IN_MEETING, Lifecycle, Outcome, Phase, auth_outcome,
                                end_outcome, fail_outcome)
from bot.zoom.roster import Roster, UserState

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
    recording_permission_s: float = 120.0  # the host's answer to our request to record
    video_poll_s: float = 3.0  # cameras are only visible by polling IsVideoOn()
    alone_s: float = 300.0  # leave when no one else has been here this long
    max_duration_s: float = 4 * 3600.0
    resync_ms: float = 150.0  # audio arriving further than this from where its stream should be: a gap


class ZoomSession:
    def __init__(self, sdk: Any, credentials: ZoomCredentials, join: JoinSpec, handler: MeetingHandler | None = None,
                 *, config: ZoomConfig | None = None, guard: SdkGuard | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sdk, self.credentials, self.spec, self.handler = sdk, credentials, join, handler
        self.config = config or ZoomConfig()
        self.guard = guard or SdkGuard()
        self.clock = clock
        self.lifecycle = Lifecycle()
        self.meeting: Any = None
        self._auth: Any = None
        self._deadline: tuple[float, Outcome, str] | None = None  # (when, outcome, detail)
        self._retry_at: float | None = None
        self.obf_attempts = 0
        self.roster = Roster()
        self.my_id: int | None = None
        self.t0: float | None = None  # clock at the first INMEETING: media time 0
        self.t0_wall: datetime | None = None  # the same moment in UTC: the report's started_at
        self._controllers: dict[str, Any] = {}
        self._raw: Any = None
        self._next_poll = 0.0
        self._alone_since: float | None = None
        self._others_seen = False  # the alone timer starts only once someone else has been here
        self._asked_to_record = False
        self._audio = _AudioClock(self.config.resync_ms)

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
            self._in_meeting()
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

    # ---- in the meeting ------------------------------------------------------------------------
    def _in_meeting(self) -> None:
        """Controllers, the roster as it is, audio, and recording. Runs again after a waiting room or a
        breakout room returns us here; what is already set up stays."""
        sdk, keep, cb, ms = self.sdk, self.guard.keep, self.guard.callback, self.meeting
        if self.t0 is None:
            self.t0, self.t0_wall = self.clock(), datetime.now(UTC)
        if not self._controllers:
            pc = ms.GetMeetingParticipantsController()
            pc.SetEvent(keep(sdk.MeetingParticipantsCtrlEventCallbacks(
                onUserJoinCallback=cb("user_join", lambda ids, _s: self._observe(ids)),
                onUserLeftCallback=cb("user_left", lambda ids, _s: self._left(ids)),
                onUserNamesChangedCallback=cb("user_names", self._observe),
                onHostChangeNotificationCallback=cb("host", lambda uid: self._observe([uid])),
                onCoHostChangeNotificationCallback=cb("cohost", lambda uid, _on: self._observe([uid])),
                onLowOrRaiseHandStatusChangedCallback=cb("hand", lambda _low, uid: self._observe([uid])))))
            audio = ms.GetMeetingAudioController()
            audio.SetEvent(keep(sdk.MeetingAudioCtrlEventCallbacks(
                onUserAudioStatusChangeCallback=cb(
                    "audio_status", lambda statuses, _s: self._observe([st.GetUserId() for st in statuses])),
                onUserActiveAudioChangeCallback=cb("active_speaker", self._on_active_speaker))))
            chat = ms.GetMeetingChatController()
            chat.SetEvent(keep(sdk.MeetingChatEventCallbacks(onChatMsgNotificationCallback=cb("chat", self._on_chat))))
            rec = ms.GetMeetingRecordingController()
            rec.SetEvent(keep(sdk.MeetingRecordingCtrlEventCallbacks(
                onRecordPrivilegeChangedCallback=cb("record_privilege", self._on_record_privilege),
                onLocalRecordingPrivilegeRequestStatusCallback=cb("record_request", self._on_record_request))))
            ms.GetMeetingReminderController().SetEvent(keep(sdk.MeetingReminderEventCallbacks(
                onReminderNotifyCallback=cb("reminder", lambda _content, handler: handler.Accept()))))
            ms.GetMeetingShareController().SetEvent(keep(sdk.MeetingShareCtrlEventCallbacks(
                onSharingStatusCallback=cb("sharing", self._on_sharing))))
            self._controllers = {"participants": pc, "audio": audio, "chat": chat, "recording": rec}
        pc = self._controllers["participants"]
        me = pc.GetMySelfUser()
        self.my_id = me.GetUserID()
        self._emit(self.roster.snapshot(self._now(), self._states(pc.GetParticipantsList())))
        self._controllers["audio"].JoinVoip()
        if me.GetUserRole().name == "USERROLE_ATTENDEE":  # a webinar attendee: no audio of others to record
            self.lifecycle.finish(Outcome.WEBINAR_NO_RIGHTS, "not promoted to panelist")
        elif self._raw is None:
            self._start_recording()

    def _start_recording(self) -> None:
        rec = self._controllers["recording"]
        if rec.CanStartRawRecording().name == "SDKERR_SUCCESS":
            self._record()
        elif rec.IsSupportRequestLocalRecordingPrivilege().name != "SDKERR_SUCCESS":
            self.lifecycle.finish(Outcome.RECORDING_DENIED, "the host cannot be asked (e.g. a Zoom Rooms host)")
        else:
            self._ask_to_record()
            self._expect(self.config.recording_permission_s, Outcome.RECORDING_DENIED, "no answer from the host")

    def _ask_to_record(self) -> None:
        """The request reaches only a host who is present: asked again whenever a host arrives."""
        self._asked_to_record = True
        self._controllers["recording"].RequestLocalRecordingPrivilege()

    def _on_record_privilege(self, granted: bool) -> None:
        if granted and self._raw is None and self.lifecycle.outcome is None:
            self._deadline = None
            self._record()

    def _on_record_request(self, status: Any) -> None:
        if status.name != "RequestLocalRecording_Granted":
            self.lifecycle.finish(Outcome.RECORDING_DENIED, status.name.removeprefix("RequestLocalRecording_").lower())

    def _record(self) -> None:
        sdk, keep = self.sdk, self.guard.keep
        result = self._controllers["recording"].StartRawRecording()
        if result.name != "SDKERR_SUCCESS":
            self.lifecycle.finish(Outcome.RECORDING_DENIED, result.name.lower())
            return
        self._raw = sdk.GetAudioRawdataHelper()
        self._raw.subscribe(keep(sdk.ZoomSDKAudioRawDataDelegateCallbacks(
            onOneWayAudioRawDataReceivedCallback=self.guard.callback("audio", self._on_audio))), False)
        self.lifecycle.to(Phase.RECORDING)

    def _on_audio(self, data: Any, node_id: int) -> None:
        """On the SDK's thread for every chunk: skip our own, stamp it on the media clock, hand it on."""
        if node_id == self.my_id or self.handler is None or self.t0 is None:
            return
        buffer, rate = data.GetBuffer(), data.GetSampleRate()
        ts = self._audio.stamp(node_id, (self.clock() - self.t0) * 1000.0, len(buffer) / 2 / rate * 1000.0)
        self.handler.on_one_way_audio(AudioChunk(buffer, rate, ts), node_id)

    def _on_chat(self, info: Any, _content: Any) -> None:
        sender = info.GetSenderUserId()
        if info.IsChatToAll():
            to = "everyone"
        elif info.GetReceiverUserId() == self.my_id:
            to = "bot"
        else:
            to = self.roster.key_of(info.GetReceiverUserId()) or "someone"
        self._emit([MeetingEvent(self._now(), "chat", self.roster.key_of(sender), sender, text=info.GetContent(),
                                 to=to)])

    def _on_active_speaker(self, ids: Any) -> None:
        """Zoom's dominant speaker (the first id) changed: logged beside our own talk detection."""
        key = self.roster.key_of(ids[0]) if ids else None
        if key is not None:
            self._emit([MeetingEvent(self._now(), "active_speaker", key, ids[0])])

    def _on_sharing(self, info: Any) -> None:
        kind = _SHARE_EVENTS.get(info.status.name)
        key = self.roster.key_of(info.userid)
        if kind is not None and key is not None:
            self._emit([MeetingEvent(self._now(), kind, key, info.userid)])

    def send_chat(self, text: str, to: str | None = None) -> bool:
        """Post to everyone, or privately to the participant with key ``to`` (on the loop's thread). False
        if it could not be sent (not in the meeting, the participant is gone, or Zoom refused)."""
        chat = self._controllers.get("chat")
        if chat is None:
            return False
        builder = chat.GetChatMessageBuilder()
        builder.SetContent(self.guard.keep(text))
        if to is None:
            builder.SetMessageType(self.sdk.SDKChatMessageType.To_All)
        else:
            uid = next((u for u, st in self.roster.users.items() if self.roster.key(st) == to), None)
            if uid is None:
                return False
            builder.SetReceiver(uid)
            builder.SetMessageType(self.sdk.SDKChatMessageType.To_Individual)
        return chat.SendChatMsgTo(self.guard.keep(builder.Build())).name == "SDKERR_SUCCESS"

    def _observe(self, ids: Any) -> None:
        events = [e for state in self._states(ids) for e in self.roster.observe(self._now(), state)]
        self._emit(events)
        if self._asked_to_record and self._raw is None and any(
                (e.type == "join" and e.role == "host") or (e.type == "host_change" and e.role == "host")
                for e in events):
            self._ask_to_record()

    def _left(self, ids: Any) -> None:
        self._emit([e for uid in ids for e in self.roster.left(self._now(), uid)])

    def _states(self, ids: Any) -> list[UserState]:
        pc, out = self._controllers["participants"], []
        for uid in ids or []:
            info = pc.GetUserByUserID(uid)
            if info is not None:
                out.append(_user_state(info))
        return out

    def _emit(self, events: list[MeetingEvent]) -> None:
        if self.handler is not None:
            for e in events:
                self.handler.on_meeting_event(e)

    def _now(self) -> float:
        return 0.0 if self.t0 is None else self.clock() - self.t0

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
        if self.t0 is None or self.lifecycle.outcome is not None or self.lifecycle.phase not in (
                Phase.IN_MEETING, Phase.RECORDING):
            return
        if now >= self._next_poll:  # cameras (and anything an event missed)
            self._next_poll = now + self.config.video_poll_s
            self._observe(self._controllers["participants"].GetParticipantsList())
        if self.roster.users:
            self._others_seen, self._alone_since = True, None
        elif not self._others_seen:
            pass  # early for the meeting: waiting is not being alone
        elif self._alone_since is None:
            self._alone_since = now
        elif now - self._alone_since >= self.config.alone_s:
            self.lifecycle.finish(Outcome.LEFT_ALONE, f"alone for {self.config.alone_s:.0f} s")
        if now - self.t0 >= self.config.max_duration_s:
            self.lifecycle.finish(Outcome.LEFT_MAX_DURATION, f"{self.config.max_duration_s / 60:.0f} min")
        if self.handler is not None:
            self.handler.on_media_time(now - self.t0)

    @property
    def done(self) -> bool:
        return self.lifecycle.outcome is not None

    def close(self) -> None:
        """Leave if in a meeting, release the services, CleanUPSDK. The caller then ends the process with
        ``os._exit`` (a normal interpreter exit with the SDK loaded can crash)."""
        sdk = self.sdk
        if self.t0 is not None:  # what the bot observed ends here, whether the meeting ended or it left
            if self.handler is not None:
                self.handler.on_media_time(self._now())
            self._emit([MeetingEvent(self._now(), "end")])
        if self._raw is not None:
            self._raw.unSubscribe()
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


_ROLES = {"USERROLE_HOST": "host", "USERROLE_COHOST": "cohost"}
_SHARE_EVENTS = {"Sharing_Other_Share_Begin": "share_start", "Sharing_Other_Share_End": "share_end"}


def _user_state(info: Any) -> UserState:
    """An ``IUserInfo`` as the roster sees it (no e-mail: the SDK has none)."""
    return UserState(user_id=info.GetUserID(), persistent_id=info.GetPersistentId() or "",
                     name=info.GetUserName() or "", customer_key=info.GetCustomerKey() or "",
                     role=_ROLES.get(info.GetUserRole().name, "attendee"), muted=bool(info.IsAudioMuted()),
                     video=bool(info.IsVideoOn()), hand=bool(info.IsRaiseHand()), is_me=bool(info.IsMySelf()))


class _AudioClock:
    """Media time of each stream's chunks. Chunks arrive with jitter, so each continues where the stream's
    previous one ended; only when arrival is more than ``resync_ms`` away from that (audio stopped, or
    drifted) does a chunk take its arrival time, and the ingest sees a gap."""

    def __init__(self, resync_ms: float) -> None:
        self.resync_ms = resync_ms
        self._next: dict[int, float] = {}

    def stamp(self, stream: int, arrival_ms: float, duration_ms: float) -> float:
        expected = self._next.get(stream)
        ts = expected if expected is not None and abs(arrival_ms - duration_ms - expected) <= self.resync_ms \
            else arrival_ms - duration_ms
        self._next[stream] = ts + duration_ms
        return ts
