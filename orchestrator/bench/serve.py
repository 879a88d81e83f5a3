"""`rollcall bench serve`: the HTTP server under load, run as in production (`rollcall serve` in a process of
its own: uvicorn, the webhook consumer beside it) on loopback, with a private redis-server.

Live pages' event streams are opened and stay open (five per host link, the per-link cap, one link per
meeting), while each meeting's "bot" publishes a snapshot a second (ten participants; its ``t`` carries the
publish time, so the delivery lag is measured). The bots are spread over the second, as independent ones
are, or with ``--together`` all publish at the same instant, the worst case. Meanwhile signed Zoom
webhooks arrive at a steady rate and the admin API is polled (``GET /schedules``, 50 schedules), both
open-loop: each request leaves on schedule, whether or not the ones before it have been answered, so a
stalled server shows as latency rather than as fewer requests. Reported: throughput and p50/p99/max
latency of each, and the 429s past the caps: one more stream on a full link, then, with the server filled
to its global cap, one on a new link.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import redis
from rich.console import Console
from rich.table import Table

from analysis.contract import LiveEntry
from analysis.live import LiveParticipant, LiveSnapshot, LiveTotals
from orchestrator import keys
from orchestrator.live.access import issue
from orchestrator.settings import Settings, StreamLimits
from orchestrator.redis_conn import EmbeddedRedis, free_port
from orchestrator.dispatch.schedule_store import Schedule, ScheduleStore
from orchestrator.webhooks.auth import signature

ADMIN, LIVE_SECRET, WEBHOOK_SECRET = "bench-admin-token", "bench-live-secret-0123456789abcdef", "bench-webhook-secret"
FIRST_MEETING = 87_000_000_000
SCHEDULES = 50
# the server's process must not reconcile or sync calendars against a real Zoom account; it takes the caps on
# live streams from the environment, as this process does
_NOT_PASSED = ("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET", "ROLLCALL_TRAINERS", "REDIS_URL")


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def row(self, wall_s: float) -> tuple[str, str, str, str, str]:
        ms = np.array(self.seconds or [np.nan]) * 1000
        return (f"{len(self.seconds)}", f"{len(self.seconds) / wall_s:.1f}/s",
                f"{np.percentile(ms, 50):.1f}", f"{np.percentile(ms, 99):.1f}", f"{ms.max():.1f}")


@dataclass
class Result:
    streams: int
    links: int
    load_s: float
    webhooks: Latencies
    admin: Latencies
    lag: Latencies  # of the snapshots the open streams received
    link_cap_status: int
    global_cap_status: int
    extra_opened: int
    reopened_status: int


def _snapshot(t: float) -> str:
    people = [LiveParticipant(key=f"p{i}", name=f"Person {i}", role="host" if i == 0 else "attendee", consent=True,
                              present=True, talking_now=i == 1, talk_time_s=12.5 * i, share_pct=10.0, turns=i,
                              camera_on=i % 2 == 0, hand_up=False) for i in range(10)]
    totals = LiveTotals(present=10, talking=1, camera_on=5, hands_up=0, total_talk_s=562.5, talk_balance=0.8,
                        overlap_s=3.0, silence_s=40.0, chat_messages=4, reactions=2, hand_raises=1)
    return LiveSnapshot(t=t, participants=people, totals=totals).model_dump_json()


def _publish(r: redis.Redis, meetings: list[str], stop: threading.Event, together: bool) -> None:
    """Every meeting's bot: a snapshot a second, as ``bot/redis_link.py`` writes them, each bot at its own
    moment within the second (they run independently), or all at once (``together``: the worst case)."""
    due, step = time.monotonic(), 0.0 if together else 1.0 / len(meetings)
    while True:
        if together:
            due += 1.0
        for m in meetings:
            due += step
            if stop.wait(max(0.0, due - time.monotonic())):
                return
            r.xadd(keys.live_stream(m), LiveEntry("bench", _snapshot(time.time())).fields(), maxlen=1000,
                   approximate=True)


@dataclass
class _Tally:
    """The snapshots the open streams receive while the load runs, and their lag."""

    counting: bool = False
    lag: Latencies = field(default_factory=Latencies)


class _Stream:
    """One open event stream on a raw connection (lighter for the load generator than an HTTP client)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int) -> None:
        self.reader, self.writer, self.status = reader, writer, status
        self.first = asyncio.Event()

    @classmethod
    async def open(cls, port: int, path: str) -> _Stream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        status = int((await reader.readline()).split()[1])
        while (await reader.readline()).strip():  # the headers
            pass
        return cls(reader, writer, status)

    async def follow(self, tally: _Tally) -> None:
        """Read snapshots until the connection closes, recording each one's lag while the load runs."""
        while line := await self.reader.readline():
            if line.startswith(b"data: "):
                self.first.set()
                if tally.counting:
                    tally.lag.seconds.append(time.time() - json.loads(line[6:])["t"])

    def close(self) -> None:
        self.writer.close()


async def _open_many(port: int, paths: list[str]) -> list[_Stream]:
    return list(await asyncio.gather(*(_Stream.open(port, p) for p in paths)))


def _webhook(i: int) -> tuple[bytes, dict[str, str]]:
    """A signed ``meeting.participant_joined``, a different person each time (so none is a redelivery)."""
    now = time.time()
    body = json.dumps({"event": "meeting.participant_joined", "event_ts": int(now * 1000), "payload": {
        "account_id": "bench", "object": {"id": str(FIRST_MEETING), "uuid": "bench-instance==", "participant": {
            "user_id": str(16_000_000 + i), "user_name": f"Attendee {i}", "participant_uuid": f"bench-{i}",
            "join_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}}}}).encode()
    ts = str(int(now))
    return body, {"content-type": "application/json", "x-zm-request-timestamp": ts,
                  "x-zm-signature": signature(WEBHOOK_SECRET, ts, body)}


Send = Callable[[], Awaitable[httpx.Response]]


async def _timed(record: Latencies, send: Send) -> None:
    t0 = time.perf_counter()
    try:
        response = await send()
    except httpx.HTTPError as exc:
        record.failures.append(type(exc).__name__)
        return
    if response.status_code == 200:
        record.seconds.append(time.perf_counter() - t0)
    else:
        record.failures.append(str(response.status_code))


async def _open_loop(rate: float, seconds: float, request: Callable[[int], Send], record: Latencies) -> None:
    """``rate`` requests a second for ``seconds``, each leaving on time (as its own task)."""
    t0, tasks = time.perf_counter(), []
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(_timed(record, request(i))))
    await asyncio.gather(*tasks)


async def _load(port: int, *, streams: int, limits: StreamLimits, meetings: list[str], rate: float,
                seconds: float, polls: float) -> Result:
    links = [issue(LIVE_SECRET, m, "host", 3600) for m in meetings]
    paths = [f"/live/{meetings[i // limits.per_link]}/events?token={links[i // limits.per_link]}"
             for i in range(streams)]
    opened = await _open_many(port, paths)
    if any(s.status != 200 for s in opened):
        raise RuntimeError(f"streams refused: {[s.status for s in opened if s.status != 200][:5]}")
    tally = _Tally()
    readers = [asyncio.create_task(s.follow(tally)) for s in opened]
    await asyncio.wait_for(asyncio.gather(*(s.first.wait() for s in opened)), 30)
    over_link = await _Stream.open(port, paths[0])  # the link already has its five
    over_link.close()

    webhooks, admin = Latencies(), Latencies()
    auth = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        def hook(i: int) -> Send:
            body, headers = _webhook(i)
            return lambda: client.post("/webhooks/zoom", content=body, headers=headers)

        def poll(_i: int) -> Send:
            return lambda: client.get("/schedules", headers=auth)

        tally.counting = True
        t0 = time.perf_counter()
        await asyncio.gather(_open_loop(rate, seconds, hook, webhooks), _open_loop(polls, seconds, poll, admin))
        load_s = time.perf_counter() - t0
        tally.counting = False

    # fill the server to its global cap with new links, then one more on yet another link
    room = limits.total - streams
    extra_meetings = [meetings[i % len(meetings)] for i in range(-(-room // limits.per_link))]
    extra_links = [issue(LIVE_SECRET, m, "host", 7200 + i) for i, m in enumerate(extra_meetings)]
    extra = await _open_many(port, [f"/live/{extra_meetings[i // limits.per_link]}/events?token="
                                    f"{extra_links[i // limits.per_link]}" for i in range(room)])
    fresh = f"/live/{meetings[0]}/events?token={issue(LIVE_SECRET, meetings[0], 'host', 9999)}"
    over_all = await _Stream.open(port, fresh)
    over_all.close()
    for s in extra:
        s.close()
    await asyncio.sleep(0.5)  # the server sees them gone
    reopened = await _Stream.open(port, fresh)
    reopened.close()
    for s in opened:
        s.close()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    return Result(streams=streams, links=len(meetings), load_s=load_s, webhooks=webhooks, admin=admin,
                  lag=tally.lag, link_cap_status=over_link.status, global_cap_status=over_all.status,
                  extra_opened=sum(s.status == 200 for s in extra), reopened_status=reopened.status)


def _serve(url: str, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_PASSED}
    env.update(REDIS_URL=url, ROLLCALL_ADMIN_TOKEN=ADMIN, ROLLCALL_LIVE_SECRET=LIVE_SECRET,
               ZOOM_WEBHOOK_SECRET_TOKEN=WEBHOOK_SECRET)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"`rollcall serve` did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def run_serve_bench(console: Console, *, streams: int = 200, rate: float = 20.0, seconds: float = 30.0,
                    polls: float = 5.0, together: bool = False) -> Result:
    limits = Settings().live_streams  # the caps the server under test reads
    if streams >= limits.total:
        raise ValueError(f"open fewer streams than the global cap ({limits.total})")
    meetings = [str(FIRST_MEETING + i) for i in range(-(-streams // limits.per_link))]
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp)).start()
        stop = threading.Event()
        try:
            r = redis.Redis.from_url(server.url, decode_responses=True)
            now = datetime.now(UTC)
            for i in range(SCHEDULES):
                start = now + timedelta(hours=1 + i)
                ScheduleStore(r).add(Schedule(meeting_id=str(88_000_000_000 + i), start_at=start,
                                              join_at=start - timedelta(minutes=1), end_at=start + timedelta(hours=1),
                                              topic=f"bench {i}"))
            for m in meetings:
                r.xadd(keys.live_stream(m), LiveEntry("bench", _snapshot(time.time())).fields())
            publisher = threading.Thread(target=_publish, args=(r, meetings, stop, together), daemon=True)
            publisher.start()
            port = free_port()
            console.print(f"`rollcall serve` on 127.0.0.1:{port}; {streams} live streams over {len(meetings)} host "
                          f"links, {len(meetings)} snapshots a second ({'all at once' if together else 'spread'}), "
                          f"webhooks {rate:g}/s and GET /schedules {polls:g}/s for {seconds:g} s…")
            proc = _serve(server.url, port, Path(tmp) / "serve.log")
            try:
                res = asyncio.run(_load(port, streams=streams, limits=limits, meetings=meetings, rate=rate,
                                        seconds=seconds, polls=polls))
            finally:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            stop.set()
            server.stop()
    _print(console, res, limits, rate, polls)
    return res


def _met(record: Latencies, p99_s: float) -> str:
    return "met" if record.seconds and not record.failures and np.percentile(record.seconds, 99) < p99_s else "MISSED"


def _print(console: Console, res: Result, limits: StreamLimits, rate: float, polls: float) -> None:
    t = Table(title=f"rollcall bench serve: {res.streams} live streams open ({res.links} links), "
                    f"{res.load_s:.0f} s")
    for col in ("", "answered", "throughput", "p50 ms", "p99 ms", "max ms", "failed"):
        t.add_column(col, justify="left" if not col else "right")
    t.add_row(f"webhooks ({rate:g}/s)", *res.webhooks.row(res.load_s), str(len(res.webhooks.failures)))
    t.add_row(f"GET /schedules ({polls:g}/s)", *res.admin.row(res.load_s), str(len(res.admin.failures)))
    t.add_row("snapshots (lag)", *res.lag.row(res.load_s), "-")
    console.print(t)
    console.print(f"caps: a {limits.per_link + 1}th stream on one link → {res.link_cap_status}; streams "
                  f"{res.streams + 1}–{res.streams + res.extra_opened} on new links → 200; stream "
                  f"{limits.total + 1} → {res.global_cap_status}; after closing the extra ones a new stream → "
                  f"{res.reopened_status}")
    ok_caps = res.link_cap_status == 429 and res.global_cap_status == 429 and res.reopened_status == 200
    console.print(f"targets: webhooks p99 < 300 ms {_met(res.webhooks, 0.3)}; admin API p99 < 500 ms "
                  f"{_met(res.admin, 0.5)}; 429 past both caps {'yes' if ok_caps else 'NO'}")
