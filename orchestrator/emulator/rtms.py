"""A Zoom RTMS media server on loopback (development tool, not product code): what the ``rtms`` SDK connects
to after a ``meeting.rtms_started`` webhook, serving a scripted stream.

It speaks the protocol as the real ``rtms`` 1.1.0 SDK was seen to speak it (``tests/test_rtms_emulator.py``
runs it against the SDK) and as Zoom documents it (RTMS data types; ``zoom-rtms.md`` §2): TLS WebSockets on
``localhost``; a signalling handshake signed with hex HMAC-SHA256(secret, "client_id,meeting_uuid,stream_id"),
refused with status 15; a media handshake that must ask for what the script holds (L16 raw mono multi-stream
at its rate), else Zoom's status for the wrong field; participant events only once subscribed; audio as one
20 ms packet per active speaker (at most 3 per 20 ms, none at or under -60 dBFS), JSON in text frames (the
SDK takes text or binary, and sends binary); Zoom's startup backlog (up to
``backlog_s`` of audio since the stream started, at once, on the first connection; a reconnect resumes at
the live position); keep-alive requests; the end of a stream as a TERMINATED stream state with a stop
reason. Faults: dropped sockets, a stream stopped for any reason, a second connection kicking the first.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trustme
from aiohttp import WSMsgType, web

SLOT_MS = 20  # one audio packet per speaker per slot
RATE_ENUM = {8000: 0, 16000: 1, 32000: 2, 48000: 3}  # AUDIO_SAMPLE_RATE
# RTMS_MESSAGE_TYPE
SIGNAL_HANDSHAKE, SIGNAL_HANDSHAKE_RESP, MEDIA_HANDSHAKE, MEDIA_HANDSHAKE_RESP = 1, 2, 3, 4
EVENT_SUBSCRIPTION, EVENT_UPDATE, STREAM_STATE_UPDATE = 5, 6, 8
KEEP_ALIVE_REQ, KEEP_ALIVE_RESP, MEDIA_DATA_AUDIO = 12, 13, 14
# RTMS_STATUS_CODE
STATUS_OK, STATUS_INVALID_MESSAGE_TYPE, STATUS_SESSION_NOT_FOUND = 0, 4, 13
STATUS_INVALID_SIGNATURE, STATUS_INVALID_MEETING_OR_STREAM_ID = 15, 16
STATUS_DUPLICATE_MEDIA_DATA_CONNECTION, STATUS_INVALID_MEDIA_AUDIO_SAMPLE_RATE = 31, 39
AUDIO_PARAMS = (("content_type", 2, 37), ("codec", 1, 43), ("channel", 1, 41), ("data_opt", 2, 45))  # wanted, else
MEDIA_TYPE_NOT_SUPPORTED = {2: 25, 4: 26, 8: 27, 16: 28}  # video, deskshare, transcript, chat; others 29
EVENT_PARTICIPANT_JOIN, EVENT_PARTICIPANT_LEAVE = 3, 4  # RTMS_EVENT_TYPE
STREAM_TERMINATED = 4  # RTMS_STREAM_STATE
STOP_MEETING_ENDED = 6  # RTMS_STOP_REASON
SUBSCRIBE_WAIT_S = 1.0  # a script shorter than the client's subscribing still ends with its roster sent
CLOSE_AFTER_TERMINATED_S = 1.0  # the client leaves on the message, not on the sockets closing
DRAIN_WAIT_S = 5.0  # the longest an end waits for the client to read what the media socket carried


@dataclass(frozen=True, eq=False)
class StreamScript:
    """One RTMS stream: who is in the meeting when, what each says, how Zoom serves it and how it ends."""

    meeting_uuid: str
    stream_id: str
    client_id: str
    client_secret: str
    t0_ms: int  # epoch ms of the stream's start: the timestamp of audio sample 0
    rate: int = 16000  # L16 mono; the client must ask for this rate
    participants: tuple[tuple[int, str, float, float | None], ...] = ()  # user_id, name, join_s, leave_s
    audio: Mapping[int, np.ndarray] = field(default_factory=dict)  # user_id → int16 mono at rate, sample 0 at t0
    speed: float | None = None  # None: as fast as the socket takes it, from 0; 1.0: real time from add_stream
    backlog_s: float = 60.0  # what the first connection gets of the audio already spoken
    end: int | None = STOP_MEETING_ENDED  # stop reason once everything is delivered; None: until stop_stream
    silence_dbfs: float | None = -60.0  # packets at or below are not sent; None sends silence too
    max_speakers: int | None = 3  # per 20 ms, loudest first; None sends every speaker

    def __post_init__(self) -> None:
        if self.rate not in RATE_ENUM:
            raise ValueError(f"rate {self.rate} is not one of Zoom's {sorted(RATE_ENUM)}")
        for uid, samples in self.audio.items():
            if samples.dtype != np.int16 or samples.ndim != 1:
                raise ValueError(f"audio of {uid} must be mono int16, not {samples.dtype} {samples.shape}")

    @property
    def frame(self) -> int:
        """Samples in one 20 ms packet."""
        return self.rate * SLOT_MS // 1000


def signature(client_id: str, client_secret: str, meeting_uuid: str, stream_id: str) -> str:
    """The handshake signature Zoom checks (the same in the signalling and the media handshake)."""
    message = f"{client_id},{meeting_uuid},{stream_id}".encode()
    return hmac.new(client_secret.encode(), message, hashlib.sha256).hexdigest()


def padded(script: StreamScript) -> dict[int, np.ndarray]:
    """Each speaker's audio as whole 20 ms frames (Zoom sends no short packet), as little-endian int16."""
    out = {}
    for uid, samples in script.audio.items():
        frames = math.ceil(len(samples) / script.frame)
        out[uid] = np.zeros(frames * script.frame, "<i2")
        out[uid][: len(samples)] = samples
    return out


def active_speakers(script: StreamScript) -> list[tuple[int, ...]]:
    """Per 20 ms slot, whose packets Zoom's multi-stream audio sends: joined participants with audio above
    ``silence_dbfs``, loudest first, at most ``max_speakers``; the slots run to the later of the audio's end
    and the last join or leave."""
    audio = padded(script)
    ends = [len(a) // script.frame for a in audio.values()]
    ends += [math.ceil(t * 1000 / SLOT_MS) for _, _, join_s, leave_s in script.participants
             for t in (join_s, leave_s) if t is not None]
    slots = max(ends, default=0)
    level = {}
    for uid, samples in audio.items():
        frames = samples.reshape(-1, script.frame).astype(np.float64)
        with np.errstate(divide="ignore"):
            dbfs = 20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) / 32768)
        level[uid] = np.pad(dbfs, (0, slots - len(dbfs)), constant_values=-np.inf)
    out = []
    for slot in range(slots):
        start_s = slot * SLOT_MS / 1000
        heard = [(level[uid][slot], uid) for uid, _, join_s, leave_s in script.participants
                 if uid in level and join_s <= start_s and (leave_s is None or start_s < leave_s)
                 and (script.silence_dbfs is None or level[uid][slot] > script.silence_dbfs)]
        heard.sort(key=lambda x: -x[0])
        out.append(tuple(uid for _, uid in heard[: script.max_speakers]))
    return out


def roster_events(script: StreamScript) -> list[tuple[int, dict]]:
    """Join and leave events as Zoom's EVENT_UPDATE carries them, with their epoch-ms timestamps, in order."""
    events = []
    for uid, name, join_s, leave_s in script.participants:
        for kind, at_s in ((EVENT_PARTICIPANT_JOIN, join_s), (EVENT_PARTICIPANT_LEAVE, leave_s)):
            if at_s is not None:
                ts = script.t0_ms + round(at_s * 1000)
                events.append((ts, {"event_type": kind, "timestamp": ts,
                                    "participants": [{"user_id": uid, "user_name": name}]}))
    return sorted(events, key=lambda e: e[0])


@dataclass(frozen=True, eq=False)
class _Plan:
    audio: dict[int, np.ndarray]
    speakers: list[tuple[int, ...]]
    events: list[tuple[int, dict]]
    names: dict[int, str]


@dataclass(eq=False)
class _Session:
    """One client connection: its signalling socket and, after the media handshake, its media socket."""

    signal: web.WebSocketResponse
    signal_transport: asyncio.Transport
    media: web.WebSocketResponse | None = None
    media_transport: asyncio.Transport | None = None
    subscribed: set[int] | None = None  # None until the client's first EVENT_SUBSCRIPTION
    outbox: list[dict] = field(default_factory=list)  # events due before the client subscribed
    next_event: int = 0
    events_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # events go out in order
    subscribed_now: asyncio.Event = field(default_factory=asyncio.Event)
    sequence: int = 0  # of this session's keep-alive requests
    media_answered: int = 0  # the highest sequence the client answered on the media socket
    media_answer: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)
    closed: bool = False


@dataclass(eq=False)
class _Stream:
    script: StreamScript
    plan: _Plan
    added_at: float  # monotonic: the wall clock of a paced stream starts here
    connections: int = 0  # signalling handshakes accepted
    refusals: list[int] = field(default_factory=list)  # status codes of refused handshakes
    subscribed: list[int] = field(default_factory=list)
    delivered_until_s: float = 0.0
    keepalive_answers: int = 0
    started: bool = False  # the first delivery (the one with the backlog) began
    ended: bool = False
    session: _Session | None = None


def _message(msg: object) -> dict | None:
    """A text or binary WebSocket frame as JSON (the SDK sends binary frames); None for anything else."""
    if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
        return None
    try:
        found = json.loads(msg.data)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _spawn(session: _Session, coro) -> None:
    """A task of the session, ended with it; a socket closing under it is no error to log."""
    task = asyncio.create_task(coro)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    session.tasks.append(task)


def _check_stream(stream: _Stream | None, hello: dict) -> int:
    """Zoom's status for a handshake's stream, meeting and signature."""
    if stream is None or stream.ended or hello.get("meeting_uuid") != stream.script.meeting_uuid:
        return STATUS_INVALID_MEETING_OR_STREAM_ID
    s = stream.script
    expected = signature(s.client_id, s.client_secret, s.meeting_uuid, s.stream_id)
    if not hmac.compare_digest(str(hello.get("signature", "")), expected):
        return STATUS_INVALID_SIGNATURE
    return STATUS_OK


class RtmsEmulator:
    """Zoom's RTMS servers on a loopback TLS port, in a background thread with its own asyncio loop. The
    client process needs ``ZM_RTMS_CA=<ca_pem_path>`` (the SDK verifies the certificate, issued for
    ``localhost``)."""

    def __init__(self, cert_dir: Path, *, keepalive_s: float = 10.0) -> None:
        ca = trustme.CA()
        self.ca_pem_path = Path(cert_dir) / "rtms-emulator-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_pem_path))
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost").configure_cert(self._ssl)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.keepalive_s = keepalive_s
        self._streams: dict[str, _Stream] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rtms-emulator", daemon=True)
        self._runner: web.AppRunner | None = None

    # ---- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> RtmsEmulator:
        self._thread.start()
        self._call(self._serve())
        return self

    def stop(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> RtmsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro, timeout: float = 10.0):
        """Run a coroutine on the server's loop from another thread."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/signal/{stream_id}", self._signal)
        app.router.add_get("/media/{stream_id}", self._media)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock, ssl_context=self._ssl).start()

    async def _shutdown(self) -> None:
        for stream in self._streams.values():
            if stream.session is not None:
                await self._end_session(stream, stream.session)
        await self._runner.cleanup()

    # ---- streams and faults -------------------------------------------------------------------------
    def url(self, stream_id: str) -> str:
        """The signalling URL: what ``server_urls`` carries in ``meeting.rtms_started``."""
        return f"wss://localhost:{self.port}/signal/{stream_id}"

    def add_stream(self, script: StreamScript) -> str:
        """Serve ``script`` from now on (a paced stream's clock starts now); returns its ``server_urls``."""
        plan = _Plan(padded(script), active_speakers(script), roster_events(script),
                     {uid: name for uid, name, _, _ in script.participants})
        self._streams[script.stream_id] = _Stream(script, plan, time.monotonic())
        return self.url(script.stream_id)

    def drop(self, stream_id: str, *, abrupt: bool = False) -> None:
        """Zoom closes the stream's sockets (the SDK ends the session: ``on_leave(960)``), or with ``abrupt``
        the network resets them (the SDK reconnects by itself about a second later, without its event
        subscription). The stream goes on either way."""
        self._call(self._drop(self._streams[stream_id], abrupt))

    def stop_stream(self, stream_id: str, reason: int = STOP_MEETING_ENDED) -> None:
        """Zoom ends the stream: a TERMINATED stream state with ``reason``; later handshakes are refused."""
        self._call(self._stop(self._streams[stream_id], reason))

    # ---- introspection ------------------------------------------------------------------------------
    def connections(self, stream_id: str) -> int:
        """Signalling handshakes accepted on the stream."""
        return self._streams[stream_id].connections

    def refusals(self, stream_id: str) -> list[int]:
        """Status codes of the handshakes refused on the stream, in order."""
        return list(self._streams[stream_id].refusals)

    def subscribed(self, stream_id: str) -> list[int]:
        """The event types the stream's latest connection subscribed to."""
        return list(self._streams[stream_id].subscribed)

    def delivered_until_s(self, stream_id: str) -> float:
        """Stream time up to which audio has gone out (the end of the last slot sent)."""
        return self._streams[stream_id].delivered_until_s

    def keepalive_answers(self, stream_id: str) -> int:
        """KEEP_ALIVE_RESP messages received on the stream's sockets."""
        return self._streams[stream_id].keepalive_answers

    async def _handshake(self, request: web.Request, check, answer: int):
        """A socket's first message, checked: the socket, its stream, the message, the status and the reply."""
        ws = web.WebSocketResponse(protocols=("websocket",))
        await ws.prepare(request)
        stream = self._streams.get(request.match_info["stream_id"])
        hello = _message(await ws.receive())
        status = check(stream, hello)
        reply = {"msg_type": answer, "protocol_version": 1, "status_code": status,
                 "sequence": (hello or {}).get("sequence", 0)}
        return ws, stream, hello, status, reply

    # ---- the signalling socket ----------------------------------------------------------------------
    async def _signal(self, request: web.Request) -> web.WebSocketResponse:
        ws, stream, hello, status, reply = await self._handshake(request, self._check_signal, SIGNAL_HANDSHAKE_RESP)
        if status != STATUS_OK:
            await self._refuse(stream, ws, reply)
            return ws
        if stream.session is not None:  # one connection per stream: the new one kicks the old
            await self._end_session(stream, stream.session)
        session = stream.session = _Session(ws, request.transport)
        stream.connections += 1
        stream.subscribed = []
        media_url = f"wss://localhost:{self.port}/media/{stream.script.stream_id}"
        reply["media_server"] = {"server_urls": dict.fromkeys(("audio", "video", "transcript", "all"), media_url)}
        await ws.send_str(json.dumps(reply))
        _spawn(session, self._keepalive(session))
        async for msg in ws:
            found = _message(msg) or {}
            if found.get("msg_type") == EVENT_SUBSCRIPTION:
                await self._subscribe(stream, session, found.get("events") or [])
            elif found.get("msg_type") == KEEP_ALIVE_RESP:
                stream.keepalive_answers += 1
        await self._end_session(stream, session)
        return ws

    @staticmethod
    def _check_signal(stream: _Stream | None, hello: dict | None) -> int:
        if hello is None or hello.get("msg_type") != SIGNAL_HANDSHAKE:
            return STATUS_INVALID_MESSAGE_TYPE
        return _check_stream(stream, hello)

    @staticmethod
    async def _refuse(stream: _Stream | None, ws: web.WebSocketResponse, reply: dict) -> None:
        if stream is not None:
            stream.refusals.append(reply["status_code"])
        await ws.send_str(json.dumps(reply))
        await ws.close()

    async def _subscribe(self, stream: _Stream, session: _Session, events: list) -> None:
        """EVENT_SUBSCRIPTION: what was due before the first one goes out now, in order."""
        wanted = {e.get("event_type") for e in events if isinstance(e, dict) and e.get("subscribe")}
        dropped = {e.get("event_type") for e in events if isinstance(e, dict) and not e.get("subscribe")}
        async with session.events_lock:
            session.subscribed = ((session.subscribed or set()) | wanted) - dropped
            stream.subscribed = sorted(session.subscribed)
            due, session.outbox = session.outbox, []
            for event in due:
                await self._send_event(session, event)
        session.subscribed_now.set()

    @staticmethod
    async def _send_event(session: _Session, event: dict) -> None:
        if event["event_type"] in session.subscribed:
            await session.signal.send_str(json.dumps({"msg_type": EVENT_UPDATE, "event": event}))

    async def _keepalive(self, session: _Session) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            for ws in (session.signal, session.media):
                if ws is not None and not ws.closed:
                    await self._ping(session, ws)

    @staticmethod
    async def _ping(session: _Session, ws: web.WebSocketResponse) -> int:
        """A KEEP_ALIVE_REQ; returns its sequence (the SDK echoes it with the timestamp)."""
        session.sequence += 1
        await ws.send_str(json.dumps({"msg_type": KEEP_ALIVE_REQ, "sequence": session.sequence,
                                      "timestamp": int(time.time() * 1000)}))
        return session.sequence

    async def _drained(self, session: _Session) -> None:
        """Wait until the client has read the media socket up to now: a keep-alive request and its answer.
        The SDK reads its sockets independently and drops what comes after a TERMINATED, so without this
        the end of a burst would be lost to a race (up to 11 packets per speaker seen)."""
        sequence = await self._ping(session, session.media)
        deadline = time.monotonic() + DRAIN_WAIT_S
        while session.media_answered < sequence and time.monotonic() < deadline:
            session.media_answer.clear()
            try:
                await asyncio.wait_for(session.media_answer.wait(), deadline - time.monotonic())
            except TimeoutError:
                return

    # ---- the media socket ---------------------------------------------------------------------------
    async def _media(self, request: web.Request) -> web.WebSocketResponse:
        ws, stream, hello, status, reply = await self._handshake(request, self._check_media, MEDIA_HANDSHAKE_RESP)
        reply |= {"payload_encrypted": False, "media_params": (hello or {}).get("media_params")}
        if status != STATUS_OK:
            await self._refuse(stream, ws, reply)
            return ws
        session = stream.session
        session.media, session.media_transport = ws, request.transport
        await ws.send_str(json.dumps(reply))
        _spawn(session, self._deliver(stream, session))
        async for msg in ws:
            found = _message(msg) or {}
            if found.get("msg_type") == KEEP_ALIVE_RESP:
                stream.keepalive_answers += 1
                session.media_answered = max(session.media_answered, int(found.get("sequence") or 0))
                session.media_answer.set()
        await self._end_session(stream, session)
        return ws

    @staticmethod
    def _check_media(stream: _Stream | None, hello: dict | None) -> int:
        """Zoom's status for the media handshake: the stream and signature as for signalling, one media
        connection per session, and audio parameters that match the script."""
        if hello is None or hello.get("msg_type") != MEDIA_HANDSHAKE:
            return STATUS_INVALID_MESSAGE_TYPE
        status = _check_stream(stream, hello)
        if status != STATUS_OK:
            return status
        if stream.session is None:
            return STATUS_SESSION_NOT_FOUND
        if stream.session.media is not None:
            return STATUS_DUPLICATE_MEDIA_DATA_CONNECTION
        if hello.get("media_type") != 1:
            return MEDIA_TYPE_NOT_SUPPORTED.get(hello.get("media_type"), 29)
        audio = (hello.get("media_params") or {}).get("audio") or {}
        for name, wanted, refusal in AUDIO_PARAMS:
            if audio.get(name) != wanted:
                return refusal
        if audio.get("sample_rate") != RATE_ENUM[stream.script.rate]:
            return STATUS_INVALID_MEDIA_AUDIO_SAMPLE_RATE
        return STATUS_OK

    def _start_slot(self, stream: _Stream) -> int:
        """Where a connection's audio starts: 0 unpaced; paced, the live position less the backlog on the
        stream's first connection and the live position on a reconnect."""
        script = stream.script
        position_s = 0.0
        if script.speed is not None:
            position_s = (time.monotonic() - stream.added_at) * script.speed
            if not stream.started:
                position_s = max(0.0, position_s - script.backlog_s)
        stream.started = True
        return int(position_s * 1000 // SLOT_MS)

    async def _deliver(self, stream: _Stream, session: _Session) -> None:
        """Audio and events on the stream's clock, then the end (when the script has one)."""
        script, plan = stream.script, stream.plan
        for slot in range(self._start_slot(stream), len(plan.speakers)):
            if script.speed is not None:
                due = stream.added_at + (slot + 1) * SLOT_MS / 1000 / script.speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            ts = script.t0_ms + slot * SLOT_MS
            await self._release(stream, session, ts)
            for uid in plan.speakers[slot]:
                pcm = plan.audio[uid][slot * script.frame:(slot + 1) * script.frame]
                await session.media.send_str(json.dumps({"msg_type": MEDIA_DATA_AUDIO, "content": {
                    "user_id": uid, "user_name": plan.names[uid], "data": base64.b64encode(pcm.tobytes()).decode(),
                    "timestamp": ts}}))
            stream.delivered_until_s = (slot + 1) * SLOT_MS / 1000
            await asyncio.sleep(0)
        await self._release(stream, session, math.inf)
        if script.end is not None:
            await self._drained(session)
            if session.outbox:
                try:
                    await asyncio.wait_for(session.subscribed_now.wait(), SUBSCRIBE_WAIT_S)
                except TimeoutError:
                    pass
            await self._terminate(stream, session, script.end)

    async def _release(self, stream: _Stream, session: _Session, until_ms: float) -> None:
        """The events due by ``until_ms``: sent if subscribed, else kept for the subscription."""
        events = stream.plan.events
        async with session.events_lock:
            while session.next_event < len(events) and events[session.next_event][0] <= until_ms:
                event = events[session.next_event][1]
                session.next_event += 1
                if session.subscribed is None:
                    session.outbox.append(event)
                else:
                    await self._send_event(session, event)

    # ---- ends ---------------------------------------------------------------------------------------
    async def _terminate(self, stream: _Stream, session: _Session, reason: int) -> None:
        """STREAM_STATE_UPDATE TERMINATED with the stop reason (the SDK calls on_leave(reason)), and the
        sockets closed a little later."""
        stream.ended = True
        await session.signal.send_str(json.dumps({
            "msg_type": STREAM_STATE_UPDATE, "rtms_stream_id": stream.script.stream_id, "state": STREAM_TERMINATED,
            "reason": reason, "timestamp": int(time.time() * 1000)}))
        self._loop.call_later(CLOSE_AFTER_TERMINATED_S,
                              lambda: asyncio.ensure_future(self._end_session(stream, session)))

    async def _stop(self, stream: _Stream, reason: int) -> None:
        stream.ended = True
        session = stream.session
        if session is not None:
            for task in session.tasks:
                task.cancel()
            await self._terminate(stream, session, reason)

    async def _drop(self, stream: _Stream, abrupt: bool) -> None:
        session = stream.session
        if session is not None:
            for transport in (session.signal_transport, session.media_transport) if abrupt else ():
                if transport is not None:
                    transport.abort()
            await self._end_session(stream, session)

    async def _end_session(self, stream: _Stream, session: _Session) -> None:
        if session.closed:
            return
        session.closed = True
        if stream.session is session:
            stream.session = None
        for task in session.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for ws in (session.signal, session.media):
            if ws is not None:
                await ws.close()


# ---- webhooks (deliver them with ``ZoomEmulator.deliver_webhook``) -------------------------------------
def rtms_started(meeting_uuid: str, stream_id: str, server_urls: str, *, meeting_id: int | None = None,
                 account_id: str | None = "emu-account", operator_id: str = "emu-operator",
                 event_ts: int | None = None, nested: bool = False) -> dict:
    """The ``meeting.rtms_started`` envelope: the fields directly under ``payload`` as Zoom sends them, or
    under ``payload.object`` as some of Zoom's samples show them (``nested``). ``account_id``, ``meeting_id``
    and ``is_original_host`` came in 2026-05: None leaves them out as older payloads do. ``event_ts`` is
    when Zoom started buffering: the stream's ``t0_ms``."""
    payload: dict = {"meeting_uuid": meeting_uuid, "operator_id": operator_id, "rtms_stream_id": stream_id,
                     "server_urls": server_urls}
    if account_id is not None:
        payload["account_id"] = account_id
    if meeting_id is not None:
        payload |= {"meeting_id": meeting_id, "is_original_host": True}
    return {"event": "meeting.rtms_started", "event_ts": _now_ms() if event_ts is None else event_ts,
            "payload": {"object": payload} if nested else payload}


def rtms_stopped(meeting_uuid: str, stream_id: str, stop_reason: int, event_ts: int | None = None) -> dict:
    """The ``meeting.rtms_stopped`` envelope (flat ``payload``); ``stop_reason`` is Zoom's RTMS_STOP_REASON."""
    return {"event": "meeting.rtms_stopped", "event_ts": _now_ms() if event_ts is None else event_ts,
            "payload": {"meeting_uuid": meeting_uuid, "rtms_stream_id": stream_id, "stop_reason": stop_reason}}


def _now_ms() -> int:
    return int(time.time() * 1000)
