"""One bot's way into a meeting through the SDK: authenticate, join, and follow the meeting status to an
outcome, with the watchdogs for what the SDK never reports (the call sequence is
``../shared/reference/zoom-meeting-sdk.md`` §2–4, checked line by line against a production-proven bot on
the same binding and the binding's own sample).

The session is driven by one thread: SDK callbacks arrive on it while the GLib loop is pumped, and
:meth:`ZoomSession.tick` runs between pumps for the deadlines and for every SDK call a callback asked for
(the SDK is never called back from inside its own callback). ``sdk`` is the ``zoom_meeting_sdk`` module
(or a stand-in with the same names, for tests); every callback handed to it goes through the guard.

What the bot cannot see is marked, never guessed: gaps (``gap_start``/``gap_end`` events, the report's
``observer.gaps``) while it is not allowed to record, reconnecting, in the waiting room, or confined to one
breakout room.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from analysis.events import MeetingEvent
from bot.transport import AudioChunk, MeetingHandler
from bot.zoom.credentials import ZoomCredentials, make_jwt
from bot.zoom.guard import SdkGuard
from bot.lifecycle import NORMAL_ENDINGS, Lifecycle, Outcome, Phase
from bot.zoom.outcomes import AUTHORIZED_USER_NOT_IN_MEETING, auth_outcome, end_outcome, fail_outcome
from bot.zoom.recording import Recording, RecordingConfig
from bot.zoom.roster import Roster, UserState

log = structlog.get_logger("rollcall.zoom")


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
    reconnect_timeout_s: float = 120.0  # mid-meeting: a reconnect or a move between rooms that never completes
    wait_for_host_s: float = 900.0  # meeting not started
    waiting_room_s: float = 900.0  # not admitted
    obf_wait_s: float = 600.0  # the on-behalf token's user is not in the meeting: keep trying this long
    obf_retry_s: float = 3.0  # ... joining again this long after the ENDED that follows each refusal
    video_poll_s: float = 3.0  # cameras are only visible by polling IsVideoOn()
    alone_s: float = 300.0  # leave when no one else (bots aside) has been here this long
    breakout_return_s: float = 90.0  # rooms closed: who is not back in view by then has left (Zoom counts down 60 s)
    max_duration_s: float = 4 * 3600.0
    leave_timeout_s: float = 10.0  # after Leave, how long to wait for the SDK's ENDED before cleaning up
    resync_ms: float = 150.0  # audio arriving further than this from where its stream should be: a gap
    # another notetaker or meeting bot, when the SDK does not say so itself (IsBotUser): whole words in its name
    bot_names: tuple[str, ...] = ("bot", "notetaker", "note taker", "otter.ai", "fireflies", "fathom", "read.ai")
    recording: RecordingConfig = field(default_factory=RecordingConfig)


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
        self._rejoin_after_end = False  # the on-behalf user was absent: the SDK sends ENDED, then we try again
        self._obf_refused_at: float | None = None
        self.joins = 0  # Join calls made
        self._in_session = False  # between the first CONNECTING and ENDED: there is something to leave
        self.roster = Roster()
        self.my_id: int | None = None
        self.t0: float | None = None  # clock at the first INMEETING: media time 0
        self.t0_wall: datetime | None = None  # the same moment in UTC: the report's started_at
        self._controllers: dict[str, Any] = {}
        self._sinks: dict[str, Any] = {}  # callback objects, made once and registered on every controller
        self._next_poll = 0.0
        self._alone_since: float | None = None
        self._others_seen = False  # the alone timer starts only once someone else has been here
        self._gaps: set[str] = set()
        self._moving_rooms = False  # JOIN/LEAVE_BREAKOUT_ROOM seen: the CONNECTING that follows is a move
        self._in_room = False  # the bot is in a breakout room (not the main session)
        self._rooms_open = False
        self._rooms_closed_at: float | None = None
        self._bo_attendee: Any = None  # the bot was given a breakout room: JoinBo on the next tick
        self._bot_name = re.compile(r"\b(" + "|".join(re.escape(n) for n in self.config.bot_names) + r")\b", re.I)
        self._audio = _AudioClock(self.config.resync_ms)
        self.recording = Recording(sdk, self.guard, self._on_audio, self._gap, self.lifecycle.finish,
                                   self.config.recording)

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
        result = self._auth.SDKAuth(context)
        if result.name != "SDKERR_SUCCESS":  # refused before asking Zoom: no callback will come
            outcome = Outcome.BAD_CREDENTIALS if result.name == "SDKERR_INVALID_PARAMETER" else Outcome.SDK_FAILURE
            self.lifecycle.finish(outcome, f"SDKAuth: {result.name.lower()}")
            return
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
        # A webinar token is for joining as a (guest) attendee; with a ZAK the bot joins as that user instead.
        webinar_token = creds.webinar_token if creds.zak is None else None
        for name, secret in (("userZAK", creds.zak), ("onBehalfToken", creds.obf_token),
                             ("app_privilege_token", creds.app_privilege_token), ("webinarToken", webinar_token)):
            if secret is not None:
                setattr(p, name, keep(secret.get_secret_value()))
        p.isVideoOff, p.isAudioOff, p.isAudioRawDataStereo = True, False, False
        p.eAudioRawdataSamplingRate = sdk.AudioRawdataSamplingRate.AudioRawdataSamplingRate_32K
        self.lifecycle.to(Phase.JOINING)
        self.joins += 1
        result = self.meeting.Join(join)
        if result.name != "SDKERR_SUCCESS":
            self.lifecycle.finish(Outcome.JOIN_REFUSED, result.name.lower())
            return
        self._expect(self.config.connecting_timeout_s, Outcome.WRONG_PASSCODE, "still connecting")

    # ---- meeting status ----------------------------------------------------------------------
    def _on_status(self, status: Any, result: int) -> None:
        name = status.name.removeprefix("MEETING_STATUS_")
        log.info("meeting status %s (%d)", name, result)
        if name in ("CONNECTING", "RECONNECTING"):
            self._in_session = True
            if self.t0 is None:
                self.lifecycle.to(Phase.JOINING)
            else:
                self._interrupted("breakout" if self._moving_rooms else "reconnecting")
        elif name in ("JOIN_BREAKOUT_ROOM", "LEAVE_BREAKOUT_ROOM"):
            self._moving_rooms, self._in_room = True, name == "JOIN_BREAKOUT_ROOM"
            self._interrupted("breakout")
        elif name == "WAITINGFORHOST":
            self.lifecycle.to(Phase.WAITING_FOR_HOST)
            self._expect(self.config.wait_for_host_s, Outcome.MEETING_NOT_STARTED, "the host never came")
        elif name == "IN_WAITING_ROOM":
            self.lifecycle.to(Phase.WAITING_ROOM)
            if self.t0 is not None:
                self._gap("waiting_room", True)
            self._expect(self.config.waiting_room_s, Outcome.WAITING_ROOM_TIMEOUT, "never admitted")
        elif name == "INMEETING":
            self.lifecycle.to(Phase.IN_MEETING)
            if self._moving_rooms and not self._rooms_open and self._rooms_closed_at is None:
                self._rooms_closed_at = self.clock()  # back from a room: the others are coming back too
            self._deadline, self._moving_rooms = None, False
            self._in_meeting()
        elif name == "FAILED":
            self._failed(_member(self.sdk.MeetingFailCode, result, "MEETING_FAIL_"))
        elif name == "ENDED":
            self._in_session = False
            if self._rejoin_after_end and self.lifecycle.outcome is None:
                self._rejoin_after_end = False
                self._retry_at = self.clock() + self.config.obf_retry_s
                self._deadline = None
                return
            if self.lifecycle.outcome is None:
                self.lifecycle.finish(end_outcome(_member(self.sdk.MeetingEndReason, result, "EndMeetingReason_")))
            self.lifecycle.ended()

    def _failed(self, code: str) -> None:
        obf_absent = self.credentials.obf_token is not None and code in (
            AUTHORIZED_USER_NOT_IN_MEETING, "MEETING_FAIL_UNKNOWN")  # the SDK also answers 65535 for this
        now = self.clock()
        if obf_absent:
            self._obf_refused_at = self._obf_refused_at if self._obf_refused_at is not None else now
            if now - self._obf_refused_at < self.config.obf_wait_s:
                # the token's user may join in a moment: the SDK follows with ENDED, and we try again after it
                self._rejoin_after_end = True
                self._expect(self.config.connecting_timeout_s, Outcome.AUTHORIZED_USER_NOT_IN_MEETING,
                             "no ENDED after the refusal")
                log.info("the on-behalf token's user is not in the meeting yet (%s); joining again after %.0f s",
                         code.removeprefix("MEETING_FAIL_").lower(), now - self._obf_refused_at)
                return
            code = AUTHORIZED_USER_NOT_IN_MEETING
        outcome, detail = fail_outcome(code)
        if obf_absent:
            detail += f"; waited {self.config.obf_wait_s:.0f} s"
        self.lifecycle.finish(outcome, detail)

    def _interrupted(self, reason: str) -> None:
        """Mid-meeting, the bot is on its way (back) in: nothing is observed until INMEETING, and that must
        come in time."""
        self.lifecycle.to(Phase.JOINING)
        self._gap(reason, True)
        if self._deadline is None:
            what = "moving between breakout rooms" if reason == "breakout" else "reconnecting"
            self._expect(self.config.reconnect_timeout_s, Outcome.CONNECTION_LOST, f"{what} never completed")

    # ---- in the meeting ------------------------------------------------------------------------
    def _in_meeting(self) -> None:
        """In the meeting (again, after a reconnect, the waiting room or a move between rooms): fresh
        controllers from the SDK with our callbacks on them, the roster as it is now, audio, and recording."""
        if self.t0 is None:
            self.t0, self.t0_wall = self.clock(), datetime.now(UTC)
        for reason in ("reconnecting", "waiting_room"):
            self._gap(reason, False)
        c = self._controllers = self._fetch_controllers()
        me = c["participants"].GetMySelfUser()
        self.my_id = me.GetUserID()
        if c["breakout"].IsBOStarted():
            self._set_rooms_open(True)
        self._emit(self.roster.snapshot(self._now(), self._states(c["participants"].GetParticipantsList()),
                                        hold=self._holding))
        c["audio"].JoinVoip()
        info = self.meeting.GetMeetingInfo()
        if (info is not None and info.GetMeetingType().name == "MEETING_TYPE_WEBINAR"
                and me.GetUserRole().name == "USERROLE_ATTENDEE"):  # in a meeting, everyone but hosts is one
            self.lifecycle.finish(Outcome.WEBINAR_NO_RIGHTS, "not promoted to panelist")
            return
        for uid in c["share"].GetViewableSharingUserList():  # a share already running gives no event
            key = self.roster.key_of(uid)
            if key is not None:
                self._emit([MeetingEvent(self._now(), "share_start", key, uid)])
        self.recording.attach(c["recording"], c["audio"], self.clock(), self._host_here())

    def _fetch_controllers(self) -> dict[str, Any]:
        """The SDK may hand out new controllers after the waiting room or a breakout move: fetched and
        registered every time, never cached across."""
        ms, sinks = self.meeting, self._sinks or self._make_sinks()
        controllers = {"participants": ms.GetMeetingParticipantsController(), "audio": ms.GetMeetingAudioController(),
                       "chat": ms.GetMeetingChatController(), "recording": ms.GetMeetingRecordingController(),
                       "reminder": ms.GetMeetingReminderController(), "share": ms.GetMeetingShareController(),
                       "breakout": ms.GetMeetingBOController()}
        for name, controller in controllers.items():
            controller.SetEvent(sinks[name])
        return controllers

    def _make_sinks(self) -> dict[str, Any]:
        sdk, keep, cb = self.sdk, self.guard.keep, self.guard.callback
        self._sinks = {
            "participants": keep(sdk.MeetingParticipantsCtrlEventCallbacks(
                onUserJoinCallback=cb("user_join", lambda ids, _s: self._observe(ids)),
                onUserLeftCallback=cb("user_left", lambda ids, _s: self._left(ids)),
                onUserNamesChangedCallback=cb("user_names", self._observe),
                onHostChangeNotificationCallback=cb("host", lambda uid: self._observe([uid])),
                onCoHostChangeNotificationCallback=cb("cohost", lambda uid, _on: self._observe([uid])),
                onLowOrRaiseHandStatusChangedCallback=cb("hand", lambda _low, uid: self._observe([uid])))),
            "audio": keep(sdk.MeetingAudioCtrlEventCallbacks(
                onUserAudioStatusChangeCallback=cb(
                    "audio_status", lambda statuses, _s: self._observe([st.GetUserId() for st in statuses])),
                onUserActiveAudioChangeCallback=cb("active_speaker", self._on_active_speaker))),
            "chat": keep(sdk.MeetingChatEventCallbacks(onChatMsgNotificationCallback=cb("chat", self._on_chat))),
            "recording": keep(sdk.MeetingRecordingCtrlEventCallbacks(
                onRecordPrivilegeChangedCallback=cb("record_privilege", self.recording.on_privilege),
                onLocalRecordingPrivilegeRequestStatusCallback=cb("record_request", self.recording.on_request_status))),
            "reminder": keep(sdk.MeetingReminderEventCallbacks(
                onReminderNotifyCallback=cb("reminder", lambda _content, handler: handler.Accept()))),
            "share": keep(sdk.MeetingShareCtrlEventCallbacks(onSharingStatusCallback=cb("sharing", self._on_sharing))),
            "breakout": keep(sdk.MeetingBOEventCallbacks(
                onHasAttendeeRightsNotificationCallback=cb("breakout_rights", self._on_breakout_rights),
                onBOStatusChangedCallback=cb("breakout_status", self._on_breakout_status))),
        }
        return self._sinks

    def _on_audio(self, data: Any, node_id: int) -> None:
        """On the SDK's thread for every chunk: skip our own, stamp it on the media clock, hand it on."""
        if node_id == self.my_id or self.handler is None or self.t0 is None:
            return
        self.recording.on_chunk()
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
        """Zoom's dominant speaker (the first id) changed: logged beside our own talk detection, and the
        evidence that audio should be arriving."""
        key = self.roster.key_of(ids[0]) if ids else None
        if key is not None:
            self.recording.on_speaker(self.clock())
            self._emit([MeetingEvent(self._now(), "active_speaker", key, ids[0])])

    def _on_sharing(self, info: Any) -> None:
        kind = _SHARE_EVENTS.get(info.status.name)
        key = self.roster.key_of(info.userid)
        if kind is not None and key is not None:
            self._emit([MeetingEvent(self._now(), kind, key, info.userid)])

    def _on_breakout_rights(self, attendee: Any) -> None:
        """The bot was assigned a room: it follows there (on the next tick, not inside this callback)."""
        self._bo_attendee = self.guard.keep(attendee)

    def _on_breakout_status(self, status: Any) -> None:
        name = status.name.removeprefix("BO_STATUS_")
        if name == "STARTED":
            self._set_rooms_open(True)
        elif name == "ENDED":
            self._set_rooms_open(False)

    def _set_rooms_open(self, is_open: bool) -> None:
        """Breakout rooms opened (only the bot's own room is observed) or closed (who is not back in view
        within ``breakout_return_s`` has left)."""
        if is_open and not self._rooms_open:
            self._rooms_open, self._rooms_closed_at = True, None
            self._gap("breakout", True)
        elif not is_open and self._rooms_open:
            self._rooms_open, self._rooms_closed_at = False, self.clock()

    @property
    def _holding(self) -> bool:
        """Breakout rooms are open, the bot is in one, or people are still coming back: out of view is not
        gone."""
        return self._rooms_open or self._in_room or self._rooms_closed_at is not None

    def send_chat(self, text: str, to: str | None = None) -> bool:
        """Post to everyone, or privately to the participant with key ``to`` (on the loop's thread). False
        if it could not be sent (not in the meeting, the participant is gone, or Zoom refused). The SDK
        hands out one builder that keeps its fields: it is cleared before and after each message."""
        chat = self._controllers.get("chat")
        if chat is None:
            return False
        if to is None:
            uid, kind = 0, self.sdk.SDKChatMessageType.To_All
        else:
            uid = next((u for u, st in self.roster.users.items() if self.roster.key(st) == to), None)
            if uid is None:
                return False
            kind = self.sdk.SDKChatMessageType.To_Individual
        builder = chat.GetChatMessageBuilder()
        builder.Clear()
        builder.SetContent(self.guard.keep(text))
        builder.SetReceiver(uid)
        builder.SetMessageType(kind)
        message = self.guard.keep(builder.Build())
        builder.Clear()
        return chat.SendChatMsgTo(message).name == "SDKERR_SUCCESS"

    def _observe(self, ids: Any) -> None:
        events = [e for state in self._states(ids) for e in self.roster.observe(self._now(), state)]
        self._emit(events)
        if any(e.type in ("join", "host_change") and e.role == "host" for e in events):
            self.recording.ask("a host arrived")

    def _left(self, ids: Any) -> None:
        self._emit([e for uid in ids for e in self.roster.left(self._now(), uid, hold=self._holding)])

    def _states(self, ids: Any) -> list[UserState]:
        pc, out = self._controllers["participants"], []
        for uid in ids or []:
            info = pc.GetUserByUserID(uid)
            if info is not None:
                out.append(self._user_state(info))
        return out

    def _user_state(self, info: Any) -> UserState:
        """An ``IUserInfo`` as the roster sees it (no e-mail: the SDK has none)."""
        name = info.GetUserName() or ""
        return UserState(user_id=info.GetUserID(), persistent_id=info.GetPersistentId() or "", name=name,
                         customer_key=info.GetCustomerKey() or "",
                         role=_ROLES.get(info.GetUserRole().name, "attendee"), muted=bool(info.IsAudioMuted()),
                         video=bool(info.IsVideoOn()), hand=bool(info.IsRaiseHand()), is_me=bool(info.IsMySelf()),
                         is_bot=bool(info.IsBotUser()) or bool(self._bot_name.search(name)))

    def _host_here(self) -> bool:
        return any(st.role == "host" for st in self.roster.users.values())

    def _emit(self, events: list[MeetingEvent]) -> None:
        if self.handler is not None:
            for e in events:
                self.handler.on_meeting_event(e)

    def _gap(self, reason: str, is_open: bool) -> None:
        """Open or close a stretch the bot cannot see (at most one of each reason at a time)."""
        if is_open == (reason in self._gaps) or self.t0 is None:
            return
        (self._gaps.add if is_open else self._gaps.discard)(reason)
        log.info("observation gap %s: %s", "opens" if is_open else "closes", reason)
        self._emit([MeetingEvent(self._now(), "gap_start" if is_open else "gap_end", reason=reason)])

    def _now(self) -> float:
        return 0.0 if self.t0 is None else self.clock() - self.t0

    # ---- time ---------------------------------------------------------------------------------
    def _expect(self, within_s: float, outcome: Outcome, detail: str) -> None:
        self._deadline = (self.clock() + within_s, outcome, detail)

    def tick(self) -> None:
        """Between loop iterations: deadlines, retries, and the SDK calls callbacks asked for."""
        now = self.clock()
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self._join()
        if self._deadline is not None and now >= self._deadline[0] and self.lifecycle.outcome is None:
            _, outcome, detail = self._deadline
            self._deadline = None
            self.lifecycle.finish(outcome, detail)
        if self.t0 is None or self.lifecycle.outcome is not None:
            return
        if now - self.t0 >= self.config.max_duration_s:
            self.lifecycle.finish(Outcome.LEFT_MAX_DURATION, f"{self.config.max_duration_s / 60:.0f} min")
        elif self.lifecycle.phase in (Phase.IN_MEETING, Phase.RECORDING):
            self._tick_in_meeting(now)
        if self.handler is not None:
            self.handler.on_media_time(now - self.t0)

    def _tick_in_meeting(self, now: float) -> None:
        if self._bo_attendee is not None:
            attendee, self._bo_attendee = self._bo_attendee, None
            log.info("breakout: assigned a room; joining it")
            if not attendee.JoinBo():
                log.warning("breakout: JoinBo refused; staying in the main session")
        self.recording.tick(now)
        self.lifecycle.to(Phase.RECORDING if self.recording.recording else Phase.IN_MEETING)
        if now >= self._next_poll:  # cameras (and anything an event missed)
            self._next_poll = now + self.config.video_poll_s
            self._set_rooms_open(bool(self._controllers["breakout"].IsBOStarted()))
            self._observe(self._controllers["participants"].GetParticipantsList())
        if self._rooms_closed_at is not None and not self._in_room and (
                not self.roster.held or now - self._rooms_closed_at >= self.config.breakout_return_s):
            self._rooms_closed_at = None
            self._emit(self.roster.release(self._now()))
            self._gap("breakout", False)
        if self.roster.company() or self._holding:
            self._others_seen, self._alone_since = True, None
        elif not self._others_seen:
            pass  # early for the meeting: waiting is not being alone
        elif self._alone_since is None:
            self._alone_since = now
        elif now - self._alone_since >= self.config.alone_s:
            self.lifecycle.finish(Outcome.LEFT_ALONE, f"alone for {self.config.alone_s:.0f} s")

    @property
    def done(self) -> bool:
        return self.lifecycle.outcome is not None

    # ---- leaving ------------------------------------------------------------------------------
    def leave(self) -> None:
        """What the bot observed ends here; stop the audio and ask to leave. The SDK confirms with ENDED:
        the caller pumps the loop until :attr:`left` (or a timeout) before :meth:`cleanup`."""
        if self.t0 is not None:
            if self.lifecycle.outcome in NORMAL_ENDINGS and self.recording.audio_never_arrived():
                self.lifecycle.replace(Outcome.NO_AUDIO, "Zoom reported people talking, and no audio ever arrived")
            if self.handler is not None:
                self.handler.on_media_time(self._now())
            self._emit([MeetingEvent(self._now(), "end")])
        self.recording.stop()
        if self.meeting is not None and self.lifecycle.phase is not Phase.ENDED:
            self.meeting.Leave(self.sdk.LEAVE_MEETING)

    @property
    def left(self) -> bool:
        return not self._in_session or self.lifecycle.phase is Phase.ENDED

    def cleanup(self) -> None:
        """Release the services and CleanUPSDK. The caller then ends the process with ``os._exit`` (a normal
        interpreter exit with the SDK loaded can crash), with a guard in case this hangs."""
        sdk = self.sdk
        if self.meeting is not None:
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
