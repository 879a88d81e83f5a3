"""`rollcall bench reconcile`: many past meetings reconciled against the Zoom API emulator at a plan's
limits, by several reconciler processes sharing one budget through Redis; then a daily cap below what
is needed, a clean stop, and the resume after the cap resets.

The minimum number of calls per meeting is what the endpoints allow when only the instance UUID is
known: one Light details call (the meeting's window) and one Heavy report page per page of rows (300 here,
as the emulator allows; fewer rows a page cost more pages, and the minimum counts them).
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from orchestrator.emulator.data import synthetic_meetings
from orchestrator.zoom.rate_limits import HEAVY_GROUP, Category, Governor, plan_limits
from orchestrator.reconciliation.queue import ReconcileQueue
from orchestrator.reconciliation.reconciler import Reconciler, RunSummary
from orchestrator.redis_conn import EmbeddedRedis
from orchestrator.report_store import ReportStore
from orchestrator.zoom.api import ZoomApi
from orchestrator.emulator.server import EmulatorServer, ZoomEmulator
from orchestrator.zoom.oauth import ServerToServerToken

PAST = datetime(2026, 9, 1, tzinfo=UTC)


def minimum_calls(meetings: int, participants: int, rows_per_page: int) -> int:
    rows = participants + 1  # and the bot's own row
    return meetings * (1 + math.ceil(rows / rows_per_page))


@dataclass
class ScaleResult:
    meetings: int
    processes: int
    seconds: float
    calls: int
    minimum: int
    rate_limited: int  # 429s the emulator sent
    records: int
    done_per_process: list[int]
    peak_heavy_per_s: int  # most Heavy calls the emulator accepted in any one-second window
    mean_heavy_per_s: float  # Heavy calls accepted over the time between the first and the last


@dataclass
class CapResult:
    meetings: int
    cap: int
    first: RunSummary
    second: RunSummary
    calls: int
    minimum: int
    report_pages: int  # Heavy report calls the emulator answered over both runs
    rate_limited: int


def _env(server: EmulatorServer, emu: ZoomEmulator, redis_url: str) -> dict[str, str]:
    return {**os.environ, "REDIS_URL": redis_url, "ZOOM_API_URL": server.api_url, "ZOOM_OAUTH_URL": server.oauth_url,
            "ZOOM_ACCOUNT_ID": emu.account_id, "ZOOM_CLIENT_ID": emu.client_id,
            "ZOOM_CLIENT_SECRET": emu.client_secret, "ZOOM_PLAN": "business"}


class _HeavyClock:
    """Wraps the emulator's admission to remember when each Heavy call was accepted."""

    def __init__(self, emu: ZoomEmulator) -> None:
        self.times: list[float] = []
        original = emu._admit

        def admit(category):
            refused = original(category)
            if refused is None and category.value == "heavy":
                self.times.append(time.time())
            return refused

        emu._admit = admit  # type: ignore[method-assign]

    def mean(self) -> float:
        t = sorted(self.times)
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def peak(self) -> int:
        t = sorted(self.times)
        best, j = 0, 0
        for i in range(len(t)):
            while t[i] - t[j] >= 1.0:
                j += 1
            best = max(best, i - j + 1)
        return best


def run_at_scale(redis_url: str, *, meetings: int, participants: int, processes: int,
                 workers: int = 4) -> ScaleResult:
    """``processes`` `rollcall reconcile --pending` processes on one queue and one governor."""
    data = synthetic_meetings(meetings, participants, start=PAST)
    emu = ZoomEmulator(data, plan="business")
    heavy = _HeavyClock(emu)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    ReconcileQueue(r).add_many([m.uuid for m in data])
    with EmulatorServer(emu) as server:
        env = _env(server, emu, redis_url)
        t0 = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-m", "bot.cli", "reconcile", "--pending", "--workers", str(workers)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(processes)]
        outs = [p.communicate(timeout=900) for p in procs]
        seconds = time.monotonic() - t0
    for p, (out, errs) in zip(procs, outs):
        if p.returncode != 0:
            raise RuntimeError(f"reconciler exited {p.returncode}: {errs[-2000:]}")
    done = [int(out.split("reconciled ", 1)[1].split(",", 1)[0]) for out, _ in outs]
    records = r.zcard("rollcall:records")
    r.close()
    return ScaleResult(meetings=meetings, processes=processes, seconds=seconds, calls=emu.stats.total,
                       minimum=minimum_calls(meetings, participants, emu.page_limits["report_participants"]),
                       rate_limited=sum(emu.stats.rate_limited.values()),
                       records=records, done_per_process=done, peak_heavy_per_s=heavy.peak(),
                       mean_heavy_per_s=heavy.mean())


def run_cap_and_resume(redis_url: str, *, meetings: int, participants: int, cap: int, workers: int = 2) -> CapResult:
    """A heavy daily cap below what ``meetings`` need: the first run stops cleanly, the second (a day
    later, on both the emulator's and the governor's clocks) finishes exactly the rest."""
    data = synthetic_meetings(meetings, participants, start=PAST)
    limits = plan_limits("business").with_daily_cap(HEAVY_GROUP, cap)
    emu = ZoomEmulator(data, plan=limits)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    queue = ReconcileQueue(r)
    queue.add_many([m.uuid for m in data])
    offset = [0.0]
    clock = lambda: time.time() + offset[0]  # noqa: E731
    with EmulatorServer(emu) as server, httpx.Client(timeout=10) as http:
        token = ServerToServerToken(http, server.oauth_url, emu.account_id, emu.client_id,
                                    SecretStr(emu.client_secret))
        api = ZoomApi(http, server.api_url, token, Governor(r, emu.account_id, limits, clock=clock))
        reconciler = Reconciler(api, ReportStore(r), queue)
        first = reconciler.run(workers=workers)
        emu.next_day()
        offset[0] = 86400.0
        second = reconciler.run(workers=workers)
    r.close()
    return CapResult(meetings=meetings, cap=cap, first=first, second=second, calls=emu.stats.total,
                     minimum=minimum_calls(meetings, participants, api.page_size(Category.HEAVY)),
                     report_pages=emu.stats.endpoints["report_participants"],
                     rate_limited=sum(emu.stats.rate_limited.values()))


def run_reconcile_bench(console: Console, *, meetings: int, participants: int, processes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp)).start()
        try:
            console.print(f"Reconciling {meetings} meetings × {participants} people with {processes} processes "
                          "against the emulator at Business limits (Rollcall's share: 80 %)…")
            scale = run_at_scale(server.url, meetings=meetings, participants=participants, processes=processes)
            redis.Redis.from_url(server.url).flushdb()
            cap_meetings = min(meetings, 400)
            cap = cap_meetings  # the governor's share (80 %) of it covers fewer meetings than there are
            console.print(f"Daily cap of {cap} Heavy calls for {cap_meetings} meetings: stop, then resume a day later…")
            capped = run_cap_and_resume(server.url, meetings=cap_meetings, participants=participants, cap=cap)
        finally:
            server.stop()
    t = Table(title="rollcall bench reconcile")
    t.add_column("measure")
    t.add_column("result", justify="right")
    t.add_row("meetings reconciled (records stored)", f"{scale.records} of {scale.meetings}")
    t.add_row("per process", " + ".join(map(str, scale.done_per_process)))
    t.add_row("Zoom calls / minimum", f"{scale.calls} / {scale.minimum} = {scale.calls / scale.minimum:.3f}×")
    t.add_row("429 responses", str(scale.rate_limited))
    t.add_row("Heavy calls per second: mean / peak in any second (limit 40)",
              f"{scale.mean_heavy_per_s:.1f} / {scale.peak_heavy_per_s}")
    t.add_row("wall time", f"{scale.seconds:.1f} s ({scale.meetings / scale.seconds:.1f} meetings/s)")
    t.add_row("cap run 1: done / left / stopped by",
              f"{capped.first.done} / {capped.first.left} / {capped.first.stopped_by}")
    t.add_row("cap run 2 (next day): done / left", f"{capped.second.done} / {capped.second.left}")
    t.add_row("cap runs: calls / minimum, report pages, 429s",
              f"{capped.calls} / {capped.minimum} = {capped.calls / capped.minimum:.3f}×, {capped.report_pages}, "
              f"{capped.rate_limited}")
    console.print(t)
