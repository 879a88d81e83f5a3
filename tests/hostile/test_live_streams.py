"""Live pages' event streams against the real server (uvicorn on loopback, real Redis) (issue 15): open
streams hold no worker thread, so webhooks and the admin API answer at once with 45 of them open; streams
are capped per link and in all, with a 429 past a cap and the place given back when a stream ends; and a
stream closes after the meeting's ``ended`` snapshot (a browser resuming after it gets a 204), and when
`rollcall serve` stops (open pages do not hold its exit)."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI

from orchestrator import keys
from orchestrator.server.app import create_app
from orchestrator.live.access import issue
from orchestrator.live.page import StreamLimits
from orchestrator.redis_conn import free_port
from orchestrator.settings import Settings
from orchestrator.webhooks.auth import signature
from orchestrator.emulator.server import LoopbackServer

ADMIN, SECRET, WEBHOOK = "admin-token-streams", "live-secret-streams-0123456789abcd", "whsec-streams"
MEETING = "85000000811"
SETTINGS = Settings(ROLLCALL_ADMIN_TOKEN=ADMIN, ROLLCALL_LIVE_SECRET=SECRET, ZOOM_WEBHOOK_SECRET_TOKEN=WEBHOOK)


def publish(r, ended: bool = False, t: float = 1.0, meeting: str = MEETING) -> str:
    snap = {"t": t, "ended": ended, "participants": [{"key": "p1", "name": "Dana Host"}], "alerts": []}
    return r.xadd(keys.live_stream(meeting), {"job": "j", "snapshot": json.dumps(snap)})


class Stream:
    """One open event stream: its status, and its events as they come."""

    def __init__(self, response: httpx.Response) -> None:
        self.response, self.status = response, response.status_code
        self._lines = response.aiter_lines()

    async def next_event(self, timeout: float = 5.0) -> dict | None:
        """The next snapshot, or None when the stream ended."""
        async def read() -> dict | None:
            async for line in self._lines:
                if line.startswith("data: "):
                    return json.loads(line[6:])
            return None
        return await asyncio.wait_for(read(), timeout)

    async def close(self) -> None:
        await self.response.aclose()


async def open_stream(client: httpx.AsyncClient, token: str, meeting: str = MEETING, **headers: str) -> Stream:
    request = client.build_request("GET", f"/live/{meeting}/events", params={"token": token}, headers=headers)
    return Stream(await client.send(request, stream=True))


def loopback(redis_client, **kw) -> tuple[FastAPI, LoopbackServer, httpx.AsyncClient]:
    """The app, served by uvicorn, and a client whose every request has a connection of its own."""
    app = create_app(SETTINGS, redis_client, **kw)
    server = LoopbackServer(app)
    client = httpx.AsyncClient(base_url=server.base_url, timeout=10,
                               limits=httpx.Limits(max_connections=None, max_keepalive_connections=0))
    return app, server, client


def webhook() -> tuple[bytes, dict]:
    body = json.dumps({"event": "meeting.started", "event_ts": time.time_ns() // 1000, "payload": {
        "account_id": "acc", "object": {"id": "85012345678", "uuid": "uuid-1==", "start_time": "2026-11-21T10:00:00Z"}}}
                      ).encode()
    ts = str(int(time.time()))
    return body, {"content-type": "application/json", "x-zm-request-timestamp": ts,
                  "x-zm-signature": signature(WEBHOOK, ts, body)}


def test_open_streams_hold_no_worker_thread_so_webhooks_and_the_api_answer_at_once(redis_client):
    """The report: 45 open streams made a signed webhook wait 11-13 s and GET /schedules time out."""
    publish(redis_client)  # a meeting under way: the streams stay open
    app, server, client = loopback(redis_client)

    async def run() -> tuple[float, float]:
        async with client, AsyncExitStack() as streams:
            opened = [await open_stream(client, ADMIN) for _ in range(45)]
            for s in opened:
                streams.push_async_callback(s.close)
            assert [s.status for s in opened] == [200] * 45
            firsts = await asyncio.wait_for(asyncio.gather(*(s.next_event() for s in opened)), 5)
            assert all(e is not None and e["t"] == 1.0 for e in firsts)
            body, headers = webhook()
            t0 = time.monotonic()
            hook = await client.post("/webhooks/zoom", content=body, headers=headers, timeout=3)
            t1 = time.monotonic()
            listed = await client.get("/schedules", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=3)
            t2 = time.monotonic()
            assert hook.status_code == 200 and listed.status_code == 200
            return t1 - t0, t2 - t1

    with server:
        webhook_s, api_s = asyncio.run(run())
    assert webhook_s < 1.0 and api_s < 1.0, (webhook_s, api_s)


def test_streams_are_capped_per_link_and_in_all_with_a_429_and_give_their_place_back(redis_client):
    publish(redis_client)
    app, server, client = loopback(redis_client, stream_limits=StreamLimits(per_link=2, total=5))
    app_slots = app.state.live_streams
    link_a, link_b, link_c = (issue(SECRET, MEETING, "host", 3600 + i) for i in range(3))

    async def run() -> None:
        async with client:
            a = [await open_stream(client, link_a) for _ in range(2)]
            third = await open_stream(client, link_a)
            assert [s.status for s in a] == [200, 200] and third.status == 429
            await third.response.aread()
            assert "this link has 2 live streams open" in third.response.json()["detail"]
            assert third.response.headers["retry-after"] == "30"
            others = [await open_stream(client, link_b), await open_stream(client, link_b),
                      await open_stream(client, ADMIN)]  # the admin token: no link cap, but counted in all
            assert [s.status for s in others] == [200, 200, 200] and app_slots.open == 5
            full = await open_stream(client, link_c)
            assert full.status == 429
            await full.response.aread()
            assert "the server has 5 live streams open" in full.response.json()["detail"]
            await a[0].close()  # the browser leaves: its place comes back
            deadline = time.monotonic() + 5
            while app_slots.open > 4:
                assert time.monotonic() < deadline, "the closed stream kept its place"
                await asyncio.sleep(0.05)
            again = await open_stream(client, link_a)
            assert again.status == 200 and (await again.next_event())["t"] == 1.0
            for s in [a[1], again, *others]:
                await s.close()
            deadline = time.monotonic() + 5
            while app_slots.open:
                assert time.monotonic() < deadline, f"{app_slots.open} places never given back"
                await asyncio.sleep(0.05)

    with server:
        asyncio.run(run())


def test_the_caps_come_from_the_environment_with_sane_defaults(monkeypatch):
    monkeypatch.delenv("ROLLCALL_LIVE_STREAMS_PER_LINK", raising=False)
    monkeypatch.delenv("ROLLCALL_LIVE_STREAMS_MAX", raising=False)
    assert (Settings().live_streams.per_link, Settings().live_streams.total) == (5, 250)
    monkeypatch.setenv("ROLLCALL_LIVE_STREAMS_PER_LINK", "2")
    monkeypatch.setenv("ROLLCALL_LIVE_STREAMS_MAX", "40")
    assert (Settings().live_streams.per_link, Settings().live_streams.total) == (2, 40)


def test_a_stream_closes_after_the_ended_snapshot_and_a_resume_after_it_is_a_204(redis_client):
    publish(redis_client, t=1.0)
    app, server, client = loopback(redis_client)
    host = issue(SECRET, MEETING, "host", 3600)

    async def run() -> None:
        async with client:
            live = await open_stream(client, host)
            assert (await live.next_event())["t"] == 1.0
            publish(redis_client, t=2.0)
            ended_id = publish(redis_client, ended=True, t=3.0)
            assert (await live.next_event())["t"] == 2.0
            assert (await live.next_event())["ended"] is True
            assert await live.next_event() is None  # closed by the server
            after = await open_stream(client, host)  # the meeting is over: its last snapshot, then the end
            assert (await after.next_event())["ended"] is True and await after.next_event() is None
            resumed = await open_stream(client, host, **{"Last-Event-ID": ended_id})
            assert resumed.status == 204  # an EventSource stops reconnecting
            await resumed.close()
            behind = await open_stream(client, host, **{"Last-Event-ID": "0-0"})  # missed the end: gets it
            assert [(await behind.next_event())["t"] for _ in range(3)] == [1.0, 2.0, 3.0]
            assert await behind.next_event() is None
            for bad in ("garbage", "1-2-3", "99999999999999999999-0", "-1-0"):
                refused = await open_stream(client, host, **{"Last-Event-ID": bad})
                assert refused.status == 400, bad
                await refused.close()

    with server:
        asyncio.run(run())
        assert app.state.live_streams.open == 0


@pytest.mark.parametrize("role", ["host", "manager"])
def test_a_meeting_with_no_snapshot_yet_streams_its_first_one_when_it_comes(redis_client, role):
    app, server, client = loopback(redis_client)
    token = issue(SECRET, MEETING, role, 3600, people=["p1"])

    async def run() -> None:
        async with client:
            s = await open_stream(client, token)
            assert s.status == 200
            await asyncio.sleep(0.3)
            publish(redis_client, ended=True, t=9.0)
            got = await s.next_event()
            assert got["t"] == 9.0 and [p["key"] for p in got["participants"]] == ["p1"]
            assert await s.next_event() is None

    with server:
        asyncio.run(run())


def test_stopping_the_server_ends_its_streams_at_once(redis_server, redis_client):
    publish(redis_client)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOM_", "ROLLCALL_"))}
    env.update(REDIS_URL=redis_server.url, ROLLCALL_ADMIN_TOKEN=ADMIN, ROLLCALL_LIVE_SECRET=SECRET)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and proc.poll() is None, "`rollcall serve` did not start"
                    time.sleep(0.1)
            with client.stream("GET", f"/live/{MEETING}/events", params={"token": ADMIN}) as stream:
                lines = stream.iter_lines()
                assert any(line.startswith("data: ") for line in lines)
                t0 = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                for _ in lines:  # until the server ends the stream
                    pass
                ended_s = time.monotonic() - t0
        proc.wait(10)
        exit_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = proc.stdout.read()
    assert ended_s < 2.5 and exit_s < 4.5 and "Traceback" not in log, (ended_s, exit_s, log)
