"""One RTMS stream as the transport interface's calls: roster events, per-participant audio on the media
clock, media time, and how the stream ended.

The SDK's thread only fills the :class:`~bot.rtms.traps.Inbox`; :meth:`RtmsSession.tick`, on the main
thread, turns what arrived into the handler's calls, in arrival order. Media time 0 is the stream's start
(``rtms_started``'s ``event_ts``, else the first timestamp seen): every packet and event carries a time on
Zoom's clock, so a replacement worker's media time continues the first one's, and Zoom's startup backlog
(up to 60 s delivered in a burst) lands where it was spoken.

What RTMS does not report is never made up: no mute state, hands, reactions, chat or roles (everyone is
an attendee). A participant is keyed by name (a rejoin gets a new user id, as in the Meeting SDK, and RTMS
has no persistent id), or by user id while no name is known.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from analysis.events import MeetingEvent
from bot.rtms.stream import StreamSpec, signature
from bot.rtms.traps import Delivery, Inbox, audio_params
from bot.transport import AudioChunk, MeetingHandler
from bot.lifecycle import Lifecycle, Outcome, Phase

log = structlog.get_logger("rollcall.rtms")

JOINED = 0  # on_join_confirm's reason when the stream is open
EVENT_PARTICIPANT_JOIN, EVENT_PARTICIPANT_LEAVE = 3, 4  # EventType members (on_user_update subscribes 2, 3, 4)
NAME_MAX = 256  # characters of a display name kept
LOOP_THREAD = "rtms-loop"
# on_join_confirm's other reasons: the handshake's status codes (Zoom's data types) or the SDK's own
BAD_SIGNATURE = 15
AUDIO_REFUSED = (37, 39, 41, 43, 45)  # content type, sample rate, channel, codec, data option

_STOP_OUTCOMES = {
    6: Outcome.MEETING_ENDED,
    18: Outcome.RTMS_AUTH_FAILED,
    26: Outcome.RTMS_NOT_SUPPORTED,
    **dict.fromkeys((1, 2, 3, 4, 5, 7, 8, 9, 20, 21, 22, 23, 25), Outcome.STREAM_STOPPED),
}


def leave_outcome(reason: int) -> Outcome:
    """``on_leave``'s reason (a ``StopReason``, or 960 for a dropped socket): stopped on purpose, or
    interrupted (10-17, 19, 24, 960 and anything unknown: Zoom's rule is to reconnect)."""
    return _STOP_OUTCOMES.get(reason, Outcome.STREAM_INTERRUPTED)


@dataclass(frozen=True)
class RtmsConfig:
    rate_hz: int = 16000  # L16 mono, one stream per speaker
    join_timeout_s: float = 30.0  # no join confirmation by then: the join failed (bad parameters say nothing)
    quiet_s: float = 2.0  # no packet for this long (everyone silent): media time follows the wall clock
    wall_margin_s: float = 0.5  # ... this far behind it, for packets still in flight
    media_step_s: float = 0.5  # within a burst of packets, media time is handed on at least this often
    # what Zoom sends of the time before the connection: up to 60 s on a stream's first connection; nothing
    # is assumed for a replacement's reconnection (0): before it, the stream was not observed (a gap)
    backlog_s: float = 60.0
    # Zoom's timestamps are its servers' clock, ours is NTP's: a packet or event stamped before the stream's
    # start, or later than now, by more than this is not believed (one bad stamp would move the media clock)
    max_clock_skew_s: float = 5.0


class RtmsSession:
    def __init__(self, rtms: Any, spec: StreamSpec, credentials: tuple[str, str], handler: MeetingHandler,
                 config: RtmsConfig | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.rtms, self.spec, self.handler = rtms, spec, handler
        self.config = config or RtmsConfig()
        self._credentials = credentials
        self._clock, self._wall = clock, wall
        self.inbox = Inbox()
        self.lifecycle = Lifecycle()
        self.client: Any = None
        self._loop: Any = None
        self._join_by = 0.0
        self.t0_ms: int | None = spec.started_ms  # media time 0 on Zoom's clock
        self._now_s = 0.0  # media time delivered so far
        self._lag_s: float | None = None  # smallest (arrival - media time) of a packet: Zoom's clock vs ours
        self._last_packet = 0.0
        self._names: dict[int, str] = {}  # user id -> name, from the roster
        self._present: dict[int, str] = {}  # user id -> key, for users in the meeting now
        self._key_of_name: dict[str, str] = {}  # name -> the key a person of that name was given (rejoins)
        self.dropped: Counter[str] = Counter()  # deliveries not believed or not understood, by why
        self.opened = False  # the stream was confirmed: from here on, what is measured is reported
        self.left = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Parameters, callbacks (each only fills the inbox), then the join, on a loop thread of its own."""
        params = audio_params(self.rtms, self.config.rate_hz)  # refused here, not silently by the SDK
        c = self.client = self.rtms.Client()
        c.set_audio_params(params)
        cb = self.inbox.callback
        c.on_join_confirm(cb("join_confirm"))
        c.on_leave(cb("leave"))
        # registering on_user_update is what makes the SDK subscribe to the roster events with the join
        c.on_user_update(cb("user_update", lambda op, p: (int(op), int(p.id), str(p.name or ""))))
        c.on_event_ex(cb("event"))
        c.on_audio_data(cb("audio", lambda data, size, ts, md: (bytes(data), int(ts), int(md.userId),
                                                                str(md.userName or ""))))
        client_id, secret = self._credentials
        self._loop = self.rtms.EventLoop(name=LOOP_THREAD)
        self._loop.add(c)
        self.lifecycle.to(Phase.AUTHENTICATING)  # the handshake's signature is the authentication
        self.lifecycle.to(Phase.JOINING)
        c.join(meeting_uuid=self.spec.meeting_uuid, rtms_stream_id=self.spec.rtms_stream_id,
               server_urls=self.spec.server_urls, signature=signature(client_id, secret, self.spec),
               timeout=int(self.config.join_timeout_s * 1000))
        self._join_by = self._clock() + self.config.join_timeout_s
        self._loop.start()

    @property
    def done(self) -> bool:
        return self.lifecycle.outcome is not None

    def leave(self) -> None:
        """Stop the loop, then close the stream, from the main thread only (from a callback it would freeze
        the process), whatever the handler does; then what was observed ends. Never ``uninitialize`` (it
        hangs)."""
        if self.left:
            return
        self.left = True
        try:
            self._close_sdk()
        finally:
            if self.opened and self.t0_ms is not None:
                self.handler.on_media_time(self._now_s)
                self.handler.on_meeting_event(MeetingEvent(t=self._now_s, type="end"))
            if self.dropped or self.inbox.errors:  # what was not believed, and callbacks that could not be copied
                errors = {f"callback {k}": n for k, n in self.inbox.errors.items()}
                log.warning("rtms deliveries dropped", **self.dropped, **errors)

    def _close_sdk(self) -> None:
        if self._loop is not None:  # no poll (and so no callback) may be running when leave() takes its lock
            self._loop.stop()
            self._loop.join(2.0)
            if any(t.name == LOOP_THREAD and t.is_alive() for t in threading.enumerate()):
                log.error("the rtms loop did not stop: the client is left to the process's end")
                return
        if self.client is not None:
            self.client.leave()

    # ------------------------------------------------------------------ main loop
    def tick(self) -> None:
        """Hand everything that arrived to the handler, then advance media time."""
        got_packet = False
        told = self._now_s
        for d in self.inbox.drain():
            try:
                got_packet |= self._deliver(d)
            except Exception as exc:  # noqa: BLE001 - what Zoom sends must not end the measurement
                self._drop(f"{d.kind}: {type(exc).__name__}")
            if self._now_s - told >= self.config.media_step_s:  # a backlog burst: decide as it goes, so the
                told = self._now_s  # ingest's bounded buffers never overflow
                self.handler.on_media_time(told)
        now = self._clock()
        if got_packet:
            self._last_packet = now
        if self.lifecycle.phase is Phase.JOINING and not self.done and now >= self._join_by:
            self.lifecycle.finish(Outcome.CONNECTION_LOST, "no join confirmation (check the audio parameters)")
        if self.opened and self.t0_ms is not None and now - self._last_packet >= self.config.quiet_s:
            # nobody talks (Zoom sends nothing for silence): media time follows the clock, a little behind it
            live = now - self._lag_s if self._lag_s is not None else self._wall() - self.t0_ms / 1000.0
            self._now_s = max(self._now_s, live - self.config.wall_margin_s)
        if self.opened and self.t0_ms is not None:
            self.handler.on_media_time(self._now_s)

    def _drop(self, why: str) -> None:
        self.dropped[why] += 1
        if self.dropped[why] == 1:
            log.warning("rtms delivery dropped", why=why)

    def _believed(self, ts_ms: object) -> bool:
        """A timestamp on Zoom's clock between the stream's start and now, give or take the clocks' skew."""
        if type(ts_ms) is not int:
            return False
        skew = self.config.max_clock_skew_s * 1000.0
        start = self.t0_ms if self.t0_ms is not None else ts_ms
        return start - skew <= ts_ms <= self._wall() * 1000.0 + skew

    def _deliver(self, d: Delivery) -> bool:
        if d.kind == "audio":
            data, ts, user_id, name = d.args
            if user_id <= 0 or not self._believed(ts):  # -1: a mixed stream's "nobody" (rtms issues 75, 88)
                self._drop("audio: user id or timestamp")
                return False
            t = self._media_s(ts)
            self._lag_s = d.at - t if self._lag_s is None else min(self._lag_s, d.at - t)
            if user_id not in self._present:  # audio before its join: the join it implies comes first
                self._named(user_id, name)
                self._join(t, user_id)
            self.handler.on_one_way_audio(AudioChunk(data, self.config.rate_hz, t * 1000.0), user_id)
            self._now_s = max(self._now_s, t + len(data) / 2 / self.config.rate_hz)
            return True
        if d.kind == "join_confirm":
            self._joined(int(d.args[0]))
        elif d.kind == "leave":
            self._stream_ended(int(d.args[0]))
        elif d.kind == "user_update":  # names only: the same change comes as a timestamped event, and
            _, user_id, name = d.args  # during a backlog burst the time of arrival is not the time it happened
            self._named(user_id, name)
        elif d.kind == "event":
            self._event(d.args[0])
        return False

    def _joined(self, reason: int) -> None:
        if reason != JOINED:
            outcome = (Outcome.RTMS_AUTH_FAILED if reason == BAD_SIGNATURE else Outcome.RTMS_AUDIO_REFUSED
                       if reason in AUDIO_REFUSED else Outcome.CONNECTION_LOST)
            self.lifecycle.finish(outcome, f"join refused ({reason})")
            return
        self.lifecycle.to(Phase.IN_MEETING)
        self.opened = True
        self._last_packet = self._clock()  # quiet is counted from here: Zoom's backlog may be on its way
        log.info("rtms stream open", stream=self.spec.rtms_stream_id)
        if self.t0_ms is not None:  # the stream ran before this connection: what Zoom does not resend is a gap
            unseen = (self._wall() * 1000.0 - self.t0_ms) / 1000.0 - self.config.backlog_s
            if unseen > self.config.max_clock_skew_s:  # within the clocks' skew, not a gap
                self.handler.on_meeting_event(MeetingEvent(t=0.0, type="gap_start", reason="reconnecting"))
                self.handler.on_meeting_event(MeetingEvent(t=round(unseen, 3), type="gap_end",
                                                           reason="reconnecting"))

    def _stream_ended(self, reason: int) -> None:
        self.lifecycle.finish(leave_outcome(reason), f"stop reason {reason}")

    def _event(self, raw: str) -> None:
        """A roster event as JSON (``on_event_ex``): joins and leaves with their time on Zoom's clock. Anything
        else, or anything malformed, is dropped and counted."""
        ev = json.loads(raw)
        kind, ts, people = (ev.get("event_type"), ev.get("timestamp"), ev.get("participants")) \
            if isinstance(ev, dict) else (None, None, None)
        if kind not in (EVENT_PARTICIPANT_JOIN, EVENT_PARTICIPANT_LEAVE) or not isinstance(people, list):
            self._drop("event: not a roster change")
            return
        t = self._media_s(ts) if self._believed(ts) else self._now_s
        for p in people:
            user_id = p.get("user_id") if isinstance(p, dict) else None
            if type(user_id) is not int or user_id <= 0:
                self._drop("event: participant")
                continue
            name = p.get("user_name")
            self._named(user_id, name)
            if kind == EVENT_PARTICIPANT_JOIN:
                self._join(t, user_id)
            else:
                self._leave(t, user_id)

    # ------------------------------------------------------------------ roster
    def _media_s(self, ts_ms: int) -> float:
        if self.t0_ms is None:
            self.t0_ms = ts_ms
        return max(0.0, (ts_ms - self.t0_ms) / 1000.0)

    def _named(self, user_id: int, name: object) -> None:
        """A user id's display name, from the roster. Someone whose audio came first (and so was keyed by user
        id) is renamed, and keeps that key when they rejoin under the name."""
        if not isinstance(name, str) or not name.strip() or type(user_id) is not int:
            return
        name = name.strip()[:NAME_MAX]
        if self._names.get(user_id) == name:
            return
        self._names[user_id] = name
        key = self._present.get(user_id)
        if key is not None and key == f"rtms-user-{user_id}":
            self._key_of_name.setdefault(name, key)
            self.handler.on_meeting_event(MeetingEvent(t=self._now_s, type="rename", key=key, user_id=user_id,
                                                       name=name))

    def _key(self, user_id: int, name: str) -> str:
        """A person is keyed by name (a rejoin gets a new user id), unless someone of that name is here now."""
        if not name:
            return f"rtms-user-{user_id}"
        key = self._key_of_name.setdefault(name, f"rtms:{name}")
        return key if key not in self._present.values() else f"rtms:{name}#{user_id}"

    def _join(self, t: float, user_id: int) -> None:
        """A user joins under the name the roster (or their audio's metadata) gave, else their user id."""
        if user_id in self._present:
            return
        name = self._names.get(user_id, "")
        key = self._key(user_id, name)
        self._present[user_id] = key
        self.handler.on_meeting_event(MeetingEvent(t=t, type="join", key=key, user_id=user_id,
                                                   name=name or f"user {user_id}", role="attendee"))

    def _leave(self, t: float, user_id: int) -> None:
        key = self._present.pop(user_id, None)
        if key is not None:
            self.handler.on_meeting_event(MeetingEvent(t=t, type="leave", key=key, user_id=user_id))
