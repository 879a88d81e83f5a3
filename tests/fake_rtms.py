"""A stand-in for the ``rtms`` 1.1.0 module with a scripted Zoom behind it, held to the real module by
``tests/test_rtms_contract.py`` (every name the stand-in offers exists in ``rtms``, with the same
values and signatures).

It keeps the real module's shape (a ``Client`` with ``on_*`` setters, ``join`` keywords, an ``EventLoop``
whose thread delivers every callback, camelCase ``Metadata``/``Participant``) and reproduces its traps
(``../shared/reference/zoom-rtms.md`` §7, and what our loopback probe saw):

- a call into a client from inside a callback is recorded in ``FakeRtms.reentrant`` (the real one freezes);
  so are the calls that can deadlock against a callback in flight (``subscribe_event`` once the stream
  runs, ``leave`` while the event loop still polls: ``FakeRtms.hazards``);
- event subscriptions made before ``join()`` are lost; registering ``on_user_update`` makes the join
  subscribe to events 2, 3, 4; ``on_user_update`` reports joins, never leaves;
- audio parameters that do not fit (``frame_size`` against rate and duration) make the join fail with no
  callback at all; a rate the stream does not have is refused by the server (``on_join_confirm(39)``), a
  bad signature too (``on_join_confirm(15)``): the handshake's status is the join's result;
- a dropped connection ends with ``on_leave(960)`` and the client goes on being polled until ``leave()``;
- a callback that raises is reported and the loop goes on.

What the emulator of Zoom's servers (``orchestrator/emulator/rtms.py``) found with the real module is
where these come from (``tests/STAND-INS.md``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

BAD_SIGNATURE = 15  # the handshake's status for a signature it refuses (on_join_confirm's reason)
BAD_SAMPLE_RATE = 39


class AudioContentType(IntEnum):
    UNDEFINED = 0
    RTP = 1
    RAW_AUDIO = 2
    FILE_STREAM = 4
    TEXT = 5


class AudioCodec(IntEnum):
    UNDEFINED = 0
    L16 = 1
    G711 = 2
    G722 = 3
    OPUS = 4


class AudioSampleRate(IntEnum):
    SR_8K = 0
    SR_16K = 1
    SR_32K = 2
    SR_48K = 3


class AudioChannel(IntEnum):
    MONO = 1
    STEREO = 2


class DataOption(IntEnum):
    UNDEFINED = 0
    AUDIO_MIXED_STREAM = 1
    AUDIO_MULTI_STREAMS = 2


class EventType(IntEnum):
    UNDEFINED = 0
    FIRST_PACKET_TIMESTAMP = 1
    ACTIVE_SPEAKER_CHANGE = 2
    PARTICIPANT_JOIN = 3
    PARTICIPANT_LEAVE = 4


class StopReason(IntEnum):
    UNDEFINED = 0
    HOST_TRIGGERED = 1
    MEETING_ENDED = 6
    STREAM_REVOKED = 8
    CONNECTION_TIMEOUT = 11
    AUTHENTICATION_FAILURE = 18
    STREAMING_NOT_SUPPORTED = 26


RATE_HZ = {AudioSampleRate.SR_8K: 8000, AudioSampleRate.SR_16K: 16000, AudioSampleRate.SR_32K: 32000,
           AudioSampleRate.SR_48K: 48000}


class AudioParams:
    def __init__(self) -> None:  # the real defaults: Opus 48 kHz stereo, 20 ms
        self.content_type, self.codec, self.sample_rate, self.channel = 2, 4, 3, 2
        self.data_opt, self.duration, self.frame_size = 2, 20, 960


class Metadata:
    def __init__(self, userId: int, userName: str) -> None:  # noqa: N803 - the real names
        self.userId, self.userName, self.startTs, self.endTs = userId, userName, 0, 0  # noqa: N815


class Participant:
    def __init__(self, id: int, name: str) -> None:  # noqa: A002 - the real names
        self.id, self.name = id, name


@dataclass
class Person:
    user_id: int
    name: str
    join_s: float = 0.0
    leave_s: float | None = None
    in_roster: bool = True  # False: audio only, no roster event (as when an event subscription is lost)


@dataclass
class StreamScript:
    """What Zoom sends on one stream. Audio: int16 mono per user id at ``rate``, sample 0 at ``t0_ms``."""

    meeting_uuid: str
    stream_id: str
    t0_ms: int
    rate: int
    people: list[Person]
    audio: dict[int, np.ndarray]
    client_id: str = "rtms-client"
    client_secret: str = "rtms-secret"
    end_reason: int | None = 6  # on_leave once everything is sent (None: stays open)
    drop_at_s: float | None = None  # the connection drops here: on_leave(960)
    cap: int | None = None  # at most this many speakers per 20 ms, loudest first (Zoom sends 3)
    speed: float | None = None  # None: as fast as the client takes it


@dataclass
class _Calls:
    reentrant: list[str] = field(default_factory=list)
    hazards: list[str] = field(default_factory=list)
    callback_errors: list[str] = field(default_factory=list)
    subscriptions: list[list[int]] = field(default_factory=list)
    joins: list[dict] = field(default_factory=list)
    left: int = 0


_in_callback = threading.local()


class _Client:
    _server: FakeRtms

    def __init__(self, executor=None) -> None:
        self._cbs: dict[str, object] = {}
        self._params = AudioParams()
        self._join: dict | None = None
        self._running = True
        self._confirmed = False
        self._subscribed: set[int] = set()

    def _guard(self, name: str) -> None:
        if getattr(_in_callback, "active", False):
            self._server.calls.reentrant.append(name)

    def _call(self, name: str, *args) -> None:
        cb = self._cbs.get(name)
        if cb is None:
            return
        _in_callback.active = True
        try:
            cb(*args)
        except Exception as exc:  # noqa: BLE001 - as the real loop: printed, and it goes on
            self._server.calls.callback_errors.append(f"{name}: {type(exc).__name__}")
        finally:
            _in_callback.active = False

    def _setter(name: str):  # noqa: N805 - builds the on_* methods
        def set_callback(self, callback):
            self._guard(name)
            self._cbs[name] = callback
            return True
        set_callback.__name__ = name
        return set_callback

    on_join_confirm = _setter("on_join_confirm")
    on_leave = _setter("on_leave")
    on_user_update = _setter("on_user_update")
    on_event_ex = _setter("on_event_ex")
    on_audio_data = _setter("on_audio_data")

    def set_audio_params(self, params) -> None:
        self._guard("set_audio_params")
        self._params = params

    def join(self, meeting_uuid=None, webinar_uuid=None, session_id=None, engagement_id=None, rtms_stream_id=None,
             server_urls=None, signature=None, timeout=-1, ca=None, client=None, secret=None, poll_interval=10,
             **kwargs) -> bool:
        self._guard("join")
        self._join = dict(meeting_uuid=meeting_uuid, rtms_stream_id=rtms_stream_id, server_urls=server_urls,
                          signature=signature, timeout=timeout)
        self._server.calls.joins.append(self._join)
        if "on_user_update" in self._cbs:  # the one subscription the real SDK sends with the join
            self._subscribed |= {2, 3, 4}
        return True  # always, as the real one: what happens is told by callbacks (or not at all)

    def subscribe_event(self, events) -> None:
        self._guard("subscribe_event")
        self._server.calls.subscriptions.append(list(events))
        if self._confirmed:  # before the join confirmation it is buffered and never sent
            self._server.calls.hazards.append("subscribe_event while the stream runs")
            self._subscribed |= set(events)

    def leave(self) -> bool:
        self._guard("leave")
        if self._loop_running():
            self._server.calls.hazards.append("leave while the event loop polls")
        self._running = False
        self._server.calls.left += 1
        return True

    # ----------------------------------------------------------- the scripted stream
    _thread: threading.Thread | None = None

    _loop: _EventLoop | None = None

    def _loop_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _polled(self) -> bool:
        """Callbacks come only while the client runs and its loop polls."""
        return self._running and not (self._loop is not None and self._loop._stopped)

    def _params_ok(self) -> bool:
        p = self._params
        rate = RATE_HZ.get(p.sample_rate)
        return (p.codec == AudioCodec.L16 and p.content_type == AudioContentType.RAW_AUDIO and p.channel == 1
                and rate is not None and p.frame_size == rate * p.duration // 1000)

    def _stream(self) -> None:
        """Run on the loop thread: what Zoom would send, as callbacks."""
        join = self._join or {}
        script = self._server.streams.get(join.get("rtms_stream_id") or "")
        if script is None or not self._params_ok():
            return  # the real SDK: logged, no callback
        message = f"{script.client_id},{script.meeting_uuid},{script.stream_id}".encode()
        if join.get("signature") != hmac.new(script.client_secret.encode(), message, hashlib.sha256).hexdigest():
            self._call("on_join_confirm", BAD_SIGNATURE)
            return
        if RATE_HZ.get(self._params.sample_rate) != script.rate:
            self._call("on_join_confirm", BAD_SAMPLE_RATE)
            return
        self._confirmed = True
        self._call("on_join_confirm", 0)
        step = script.rate // 50  # 20 ms
        slots = max(len(a) for a in script.audio.values()) // step + 1 if script.audio else 0
        announced: set[int] = set()
        wall0 = time.monotonic()
        for k in range(slots):
            if not self._polled():
                return
            t = k * 0.02
            if script.drop_at_s is not None and t >= script.drop_at_s:
                self._call("on_leave", 960)
                return
            for p in script.people:
                if p.join_s <= t and p.user_id not in announced and (p.leave_s is None or t < p.leave_s):
                    announced.add(p.user_id)
                    if p.in_roster:
                        self._roster(script, 3, p, p.join_s)
                if p.leave_s is not None and p.leave_s <= t and p.user_id in announced:
                    announced.discard(p.user_id)
                    if p.in_roster:
                        self._roster(script, 4, p, p.leave_s)
            packets = []
            for p in script.people:
                pcm = script.audio.get(p.user_id)
                if p.user_id in announced and pcm is not None and k * step < len(pcm):
                    packets.append((p, pcm[k * step:(k + 1) * step]))
            if script.cap is not None:
                packets = sorted(packets, key=lambda x: -float(np.mean(x[1].astype(np.float64) ** 2)))[:script.cap]
            for p, pcm in packets:
                self._call("on_audio_data", pcm.tobytes(), pcm.nbytes, script.t0_ms + k * 20, Metadata(p.user_id, ""))
            if script.speed is not None:
                time.sleep(max(0.0, wall0 + (t + 0.02) / script.speed - time.monotonic()))
            elif k % 50 == 0:
                time.sleep(0)  # let the main thread in
        if script.end_reason is not None and self._polled():
            self._call("on_leave", script.end_reason)

    def _roster(self, script: StreamScript, kind: int, p: Person, at_s: float) -> None:
        if "on_user_update" in self._cbs and kind == 3:  # the real one reports no leave
            self._call("on_user_update", 0, Participant(p.user_id, p.name))
        if kind in self._subscribed:
            self._call("on_event_ex", json.dumps({"event_type": kind, "timestamp": script.t0_ms + round(at_s * 1000),
                                                  "participants": [{"user_id": p.user_id, "user_name": p.name}]}))


class _EventLoop:
    def __init__(self, poll_interval: float = 0.01, name: str | None = None) -> None:
        self._clients: list[_Client] = []
        self._thread: threading.Thread | None = None
        self._name = name or "rtms-eventloop"

    def add(self, client: _Client) -> None:
        self._clients.append(client)

    def start(self) -> None:
        def run() -> None:
            for c in self._clients:
                c._stream()
            while any(c._running for c in self._clients) and not self._stopped:  # polled until leave()
                time.sleep(0.005)
        self._stopped = False
        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        for c in self._clients:
            c._thread, c._loop = self._thread, self
        self._thread.start()

    def stop(self) -> None:
        self._stopped = True

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


class FakeRtms:
    """The module: pass it where the transport takes ``rtms``. ``calls`` records what the client did."""

    AudioContentType, AudioCodec, AudioSampleRate = AudioContentType, AudioCodec, AudioSampleRate
    AudioChannel, DataOption, EventType, StopReason = AudioChannel, DataOption, EventType, StopReason
    AudioParams, Metadata, Participant = AudioParams, Metadata, Participant
    EventLoop = _EventLoop

    def __init__(self, *streams: StreamScript) -> None:
        self.streams = {s.stream_id: s for s in streams}
        self.calls = _Calls()
        self.Client = type("Client", (_Client,), {"_server": self})

    @property
    def reentrant(self) -> list[str]:
        return self.calls.reentrant

    @property
    def hazards(self) -> list[str]:
        return self.calls.hazards
