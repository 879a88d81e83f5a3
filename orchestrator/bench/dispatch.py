"""`rollcall bench orchestrator`: dispatch at scale. Schedules due within one minute are dispatched by
two orchestrator processes sharing one Redis, with a launcher that starts nothing (so what is measured
is the orchestrator): lateness (launch − due) percentiles, and launches per schedule (must be one).

A worker process is this module run as ``python -m orchestrator.bench.dispatch REDIS_URL SECONDS``:
a Dispatcher with the no-op launcher that records every launch in Redis.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import redis
from rich.console import Console
from rich.table import Table

from orchestrator.dispatch.dispatcher import DispatchConfig, Dispatcher
from orchestrator.dispatch.launchers import NoopLauncher
from orchestrator.redis_conn import EmbeddedRedis
from orchestrator.dispatch.schedule_store import Schedule, ScheduleStore

LAUNCHES = "bench:launches"


@dataclass
class DispatchResult:
    schedules: int
    launches: int
    duplicates: int  # schedules launched more than once
    missing: int  # schedules never launched
    lateness_p50: float
    lateness_p99: float
    lateness_max: float
    per_process: list[int]


def add_schedules(r: redis.Redis, n: int, window_s: float, lead_s: float = 3.0) -> None:
    """``n`` Zoom schedules whose bots are due evenly over ``window_s`` seconds, starting in ``lead_s``."""
    store = ScheduleStore(r)
    now = datetime.now(UTC)
    for i in range(n):
        due = now + timedelta(seconds=lead_s + window_s * i / n)
        store.add(Schedule(meeting_id=str(86_000_000_000 + i), start_at=due + timedelta(minutes=1), join_at=due,
                           end_at=due + timedelta(hours=1), topic=f"bench {i}"))


def worker(url: str, seconds: float) -> None:
    r = redis.Redis.from_url(url, decode_responses=True)
    launcher = NoopLauncher()
    dispatcher = Dispatcher(r, launcher, DispatchConfig(capacity=10_000))
    end = time.monotonic() + seconds
    dispatcher.run(lambda: time.monotonic() > end)
    pipe = r.pipeline()
    for (job, at), lateness in zip(launcher.launched, dispatcher.lateness):
        pipe.rpush(LAUNCHES, f"{dispatcher.consumer}|{job.schedule_id}|{lateness:.4f}|{at:.3f}")
    pipe.execute()


def run_dispatch(url: str, *, schedules: int, window_s: float, processes: int = 2) -> DispatchResult:
    r = redis.Redis.from_url(url, decode_responses=True)
    r.delete(LAUNCHES)
    add_schedules(r, schedules, window_s)
    procs = [subprocess.Popen([sys.executable, "-m", "orchestrator.bench.dispatch", url, str(window_s + 6)])
             for _ in range(processes)]
    for p in procs:
        if p.wait(window_s + 120) != 0:
            raise RuntimeError(f"a dispatcher exited with {p.returncode}")
    rows = [x.split("|") for x in r.lrange(LAUNCHES, 0, -1)]
    per_schedule = Counter(row[1] for row in rows)
    late = np.array([float(row[2]) for row in rows]) if rows else np.zeros(1)
    per_process = list(Counter(row[0] for row in rows).values())
    return DispatchResult(schedules=schedules, launches=len(rows), duplicates=sum(1 for c in per_schedule.values() if c > 1),
                          missing=schedules - len(per_schedule), lateness_p50=float(np.percentile(late, 50)),
                          lateness_p99=float(np.percentile(late, 99)), lateness_max=float(late.max()),
                          per_process=per_process)


def run_orchestrator_bench(console: Console, *, schedules: int = 1000, window_s: float = 60.0) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp)).start()
        try:
            console.print(f"{schedules} schedules due within {window_s:.0f} s, two orchestrator processes, "
                          "no-op launcher…")
            res = run_dispatch(server.url, schedules=schedules, window_s=window_s)
        finally:
            server.stop()
    t = Table(title="rollcall bench orchestrator")
    t.add_column("measure")
    t.add_column("result", justify="right")
    t.add_row("schedules / launches", f"{res.schedules} / {res.launches}")
    t.add_row("launched by each process", " + ".join(map(str, res.per_process)))
    t.add_row("schedules launched twice / never", f"{res.duplicates} / {res.missing}")
    t.add_row("lateness p50 / p99 / max", f"{res.lateness_p50 * 1000:.0f} / {res.lateness_p99 * 1000:.0f} / "
                                          f"{res.lateness_max * 1000:.0f} ms")
    console.print(t)


if __name__ == "__main__":
    from analysis.logs import configure

    configure(level=logging.WARNING)  # a process of its own: the one log format, as `rollcall` gives
    worker(sys.argv[1], float(sys.argv[2]))
