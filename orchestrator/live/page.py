"""The host's live page (`GET /live/{meeting_id}?token=…`) and its server-sent events, fed by the
meeting's Redis live stream: the latest snapshot at once, then each new one as the bot publishes it, until
the one that says the meeting ended; then the stream closes.

One static page (``static/live.html``: no build step, no CDN), which reads the events with an
EventSource. Access as ``orchestrator/live/access.py`` decides; a manager's events carry only their
people's rows and no transcript.

A stream waits for snapshots in asyncio (its own ``redis.asyncio`` connection, blocked in XREAD), never on
a worker thread: the threads serve the webhooks and the admin API, and a few dozen open pages once took
them all. Open streams are capped per signed link and in all (``Settings.live_streams``); past a cap the
answer is a 429, and a stream gives its place back however it ends (the meeting ended, the browser left, the
server stops: then its streams end within a second, and the browsers reconnect with their last event).
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import redis
import redis.asyncio as aioredis
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send
import structlog

from analysis.contract import LiveEntry
from orchestrator import keys
from orchestrator.live.access import Access, Denied, check
from orchestrator.settings import StreamLimits  # the `live_streams` section of Settings

log = structlog.get_logger(__name__)
router = APIRouter()
PAGE = (Path(__file__).parent / "static" / "live.html").read_text(encoding="utf-8")
KEEPALIVE_S = 15.0
WAIT_MS = 1000  # one XREAD's wait: how soon a stream sees the server stopping
_EVENT_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")  # a Redis stream id: what the events carry as their id


class StreamSlots:
    """The open streams of one app, counted per link and in all, and whether the server is stopping (they
    end then). A lock, not the event loop, guards the counts: a test client runs each request on an event
    loop of its own."""

    def __init__(self, limits: StreamLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._per_link: Counter[str] = Counter()
        self.open = 0
        self.stopping = False

    def take(self, link: str | None) -> Callable[[], None]:
        """A place for one more stream of ``link`` (None: the admin's), or a 429; call what it returns once,
        when the stream ends."""
        with self._lock:
            if self.open >= self.limits.total:
                raise HTTPException(429, f"the server has {self.limits.total} live streams open, its limit; "
                                         "try again later", headers={"Retry-After": "30"})
            if link is not None and self._per_link[link] >= self.limits.per_link:
                raise HTTPException(429, f"this link has {self.limits.per_link} live streams open, its limit; "
                                         "close a page that shows it", headers={"Retry-After": "30"})
            self.open += 1
            if link is not None:
                self._per_link[link] += 1

        def release() -> None:
            with self._lock:
                self.open -= 1
                if link is not None:
                    self._per_link[link] -= 1
                    if not self._per_link[link]:
                        del self._per_link[link]

        return release


def _access(request: Request, meeting_id: str) -> Access:
    s = request.app.state.settings
    try:
        return check(request.query_params.get("token"), meeting_id,
                     secret=s.live_secret.get_secret_value() if s.live_secret else None,
                     admin_token=s.admin_token.get_secret_value() if s.admin_token else None,
                     now=request.app.state.clock())
    except Denied as exc:
        raise HTTPException(exc.status, exc.reason) from None


def visible(snapshot: dict, access: Access) -> dict:
    """What ``access`` may see of a snapshot: a manager gets their people's rows, their alerts, no text."""
    if access.role != "manager":
        return snapshot
    rows = [p for p in snapshot["participants"] if p["key"] in access.people]
    return {"t": snapshot["t"], "ended": snapshot.get("ended", False), "participants": rows, "totals": None,
            "alerts": [a for a in snapshot.get("alerts", []) if a["key"] in access.people],
            "transcript": [], "interim": []}


@router.get("/live/{meeting_id}", response_class=HTMLResponse, include_in_schema=False)
async def live_page(meeting_id: str, request: Request) -> HTMLResponse:
    _access(request, meeting_id)
    return HTMLResponse(PAGE, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                       "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
                                                                  "script-src 'unsafe-inline'"})


def _resume_from(request: Request) -> str | None:
    """``Last-Event-ID`` (a reconnecting browser's last event), which must be a stream id Redis takes."""
    value = request.headers.get("last-event-id")
    if value is None:
        return None
    m = _EVENT_ID.fullmatch(value)
    if m is None or max(int(m[1]), int(m[2])) >= 2**64:
        raise HTTPException(400, "Last-Event-ID is not an event id of this stream")
    return value


def _async_redis(r: redis.Redis) -> aioredis.Redis:
    """An asyncio client for ``r``'s server (TCP or Unix socket), with one connection: a blocking XREAD
    holds its connection anyway."""
    kw = r.connection_pool.connection_kwargs
    where = {"unix_socket_path": kw["path"]} if "path" in kw else {"host": kw["host"], "port": kw["port"]}
    return aioredis.Redis(**where, db=kw.get("db", 0), username=kw.get("username"), password=kw.get("password"),
                          decode_responses=True, single_connection_client=True)


class _EventStream(StreamingResponse):
    """Server-sent events that close their Redis connection and give back their place when they end,
    however they end: the meeting ended, the client left, the server stopped."""

    def __init__(self, events: AsyncIterator[str], on_close: Callable[[], Awaitable[None]]) -> None:
        super().__init__(events, media_type="text/event-stream",
                         headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self._events, self._on_close = events, on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):  # also when the request is being cancelled
                await self._events.aclose()  # type: ignore[attr-defined]  # an async generator
                await self._on_close()


@router.get("/live/{meeting_id}/events")
async def live_events(meeting_id: str, request: Request) -> Response:
    """Server-sent events: ``snapshot`` (JSON), each with its stream id, so a reconnecting browser
    (``Last-Event-ID``) resumes where it was; one that has seen the meeting end gets a 204, which tells an
    EventSource to stop."""
    access = _access(request, meeting_id)
    resume = _resume_from(request)
    slots: StreamSlots = request.app.state.live_streams
    release = slots.take(None if access.role == "admin" else request.query_params["token"])
    conn = _async_redis(request.app.state.redis)

    async def close() -> None:
        release()
        with anyio.CancelScope(shield=True):
            await conn.aclose()

    stream = keys.live_stream(meeting_id)
    try:
        if resume is None:
            first = await conn.xrevrange(stream, count=1)
            last = first[0][0] if first else "0-0"
        else:
            got = await conn.xread({stream: resume}, count=50)
            first, last = (got[0][1] if got else []), resume
            if not first and _ended(await conn.xrevrange(stream, count=1)):
                await close()
                return Response(status_code=204)
    except redis.RedisError:
        await close()
        raise HTTPException(503, "the live stream cannot be read now") from None
    except BaseException:
        await close()
        raise
    return _EventStream(_events(conn, stream, first, last, access, slots), close)


def _ended(entries: list) -> bool:
    return bool(entries) and json.loads(LiveEntry.parse(entries[-1][1]).snapshot).get("ended", False)


async def _events(conn: aioredis.Redis, stream: str, first: list, last: str, access: Access,
                  slots: StreamSlots) -> AsyncIterator[str]:
    """``first`` (the latest snapshot, or those after ``Last-Event-ID``), then each new one, a keepalive
    comment after a quiet spell (proxies close idle connections), and the end after an ``ended`` one or
    when the server stops."""
    try:
        entries, quiet_since = first, time.monotonic()
        while not slots.stopping:
            for entry_id, fields in entries:
                last = entry_id
                snap = json.loads(LiveEntry.parse(fields).snapshot)
                yield _event(entry_id, visible(snap, access))
                if snap.get("ended"):
                    return
            got = await conn.xread({stream: last}, count=50, block=WAIT_MS)
            entries = got[0][1] if got else []
            if entries:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_S:
                yield ": keepalive\n\n"
                quiet_since = time.monotonic()
    except redis.RedisError as exc:  # the browser reconnects and resumes from its last event
        log.warning("live stream %s cut: %s", stream, type(exc).__name__)


def _event(entry_id: str, data: dict) -> str:
    return f"id: {entry_id}\nevent: snapshot\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
