"""Launchers start one bot process per job: ``local`` (a subprocess, the default) or ``kubernetes`` (a
``batch/v1`` Job, ``orchestrator/dispatch/k8s_launcher.py``); ``noop`` only records launches (benchmarks).

Every launcher gets the same ``BotJob`` and builds the same ``rollcall bot`` command line; the bot finds
Redis through ``REDIS_URL`` and reports to the orchestrator through it. A launcher's ``poll`` says
whether the bot has exited (and how) when it can know; the heartbeat covers the rest.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orchestrator import paths
from orchestrator.dispatch.schedule_store import Schedule

# the environment a bot inherits from the orchestrator: its Meeting SDK credentials and join tokens
# (bot/settings.py, docs/configuration.md) and nothing else secret
BOT_ENV = ("ZOOM_SDK_CLIENT_ID", "ZOOM_SDK_CLIENT_SECRET", "ZOOM_ZAK", "ZOOM_OBF_TOKEN", "ZOOM_APP_PRIVILEGE_TOKEN",
           "ZOOM_WEBINAR_TOKEN", "ZOOM_RTMS_CLIENT_ID", "ZOOM_RTMS_CLIENT_SECRET",
           "ZM_RTMS_CA",  # a CA bundle for the RTMS servers' TLS, where the system one is not to be used
           "PATH", "LANG", "LC_ALL", "TZ", "XDG_CACHE_HOME")


@dataclass(frozen=True)
class BotJob:
    job_id: str
    schedule_id: str
    schedule: Schedule
    attempt: int
    resumes: bool = False  # an earlier bot of the schedule was in the meeting (an RTMS stream was received)


def bot_command(job: BotJob, out_dir: str, python: str = sys.executable) -> list[str]:
    """``rollcall bot`` for a job (``rollcall rtms`` for a stream). The passcode is not on the command line
    (other users can read that): the launcher puts it in the bot's environment as ROLLCALL_PASSCODE."""
    s = job.schedule
    if s.rtms is not None:  # a stream Zoom sends: `rollcall rtms`, no bot in the meeting
        t = s.rtms
        cmd = [python, "-m", "bot.cli", "rtms", "--job-id", job.job_id, "--out", out_dir, "--meeting-uuid",
               t.meeting_uuid, "--stream-id", t.stream_id, "--server-urls", t.server_urls, "--started-ms",
               str(t.started_ms), "--meeting-id", s.meeting_id]
        if job.resumes:
            cmd.append("--replacement")
        if s.policy:  # a planned training's: refused by the worker (exit 2) if it needs roll calls
            cmd += ["--policy", s.policy, "--duration", f"{(s.end_at - s.start_at).total_seconds():.0f}"]
        return cmd if s.asr else [*cmd, "--no-asr"]
    cmd = [python, "-m", "bot.cli", "bot", "--job-id", job.job_id, "--out", out_dir]
    if s.kind == "scenario":
        assert s.scenario is not None
        cmd += ["--scenario", s.scenario, "--start-at", s.start_at.isoformat()]
    else:
        cmd += ["--meeting-id", s.meeting_id]
        if s.policy:
            cmd += ["--policy", s.policy, "--duration", f"{(s.end_at - s.start_at).total_seconds():.0f}"]
    if not s.asr:
        cmd.append("--no-asr")
    return cmd


class Launcher(Protocol):
    name: str

    def launch(self, job: BotJob) -> str:
        """Start the bot; returns a handle (a pid, a Job name)."""

    def poll(self, handle: str) -> int | None:
        """The bot's exit code once it has exited, if this launcher can tell; else None."""

    def stop(self, handle: str) -> None:
        """Ask the bot to leave (SIGTERM / delete the Job)."""


class LocalLauncher:
    """A subprocess per bot, with its own working directory and HOME under ``data_dir/bots/JOB``, its
    output in ``bot.log`` there.

    Each bot is reaped here as soon as it exits, whoever watches it: the monitor stops asking about a bot
    once it has reported its own end, and a child nobody waits for stays a zombie. Exit codes are kept
    until ``poll`` asks (the last ``KEEP_CODES``: the monitor asks within seconds, or never)."""

    name = "local"
    KEEP_CODES = 10_000

    def __init__(self, data_dir: Path, redis_url: str, *, python: str = sys.executable,
                 reap_every_s: float = 0.5) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.redis_url, self.python, self.reap_every_s = redis_url, python, reap_every_s
        self._procs: dict[str, subprocess.Popen] = {}
        self._codes: OrderedDict[str, int] = OrderedDict()  # reaped, not yet asked about
        self._reaper: threading.Thread | None = None
        self._lock = threading.Lock()

    def launch(self, job: BotJob) -> str:
        work = paths.bot_dir(self.data_dir, job.job_id)  # refuses an id that would leave the data directory
        work.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # bots' logs and outputs: this user's only
        (work / "home").mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {k: os.environ[k] for k in BOT_ENV if k in os.environ}
        env.update({"HOME": str(work / "home"), "REDIS_URL": self.redis_url, "PYTHONUNBUFFERED": "1"})
        if job.schedule.passcode:
            env["ROLLCALL_PASSCODE"] = job.schedule.passcode
        # the bot's log names people: this user's only, from the moment it exists
        with os.fdopen(os.open(work / "bot.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as logf:
            proc = subprocess.Popen(bot_command(job, str(work / "out"), self.python), cwd=work, env=env,
                                    stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                    start_new_session=True, umask=0o077)
        with self._lock:
            self._procs[str(proc.pid)] = proc
            self._codes.pop(str(proc.pid), None)  # a reused pid: that code was an earlier bot's
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="bot-reaper", daemon=True)
                self._reaper.start()
        return str(proc.pid)

    def _reap(self) -> None:
        """Wait for every bot that exits; ends when none is left (the next launch starts it again)."""
        while True:
            time.sleep(self.reap_every_s)
            with self._lock:
                for handle, proc in list(self._procs.items()):
                    code = proc.poll()
                    if code is not None:
                        del self._procs[handle]
                        self._codes[handle] = code
                while len(self._codes) > self.KEEP_CODES:
                    self._codes.popitem(last=False)
                if not self._procs:
                    self._reaper = None
                    return

    def poll(self, handle: str) -> int | None:
        with self._lock:
            if handle in self._codes:
                return self._codes.pop(handle)
            proc = self._procs.get(handle)
            if proc is None:
                return None  # another orchestrator's bot: only its heartbeat tells
            code = proc.poll()
            if code is not None:
                del self._procs[handle]
            return code

    def stop(self, handle: str) -> None:
        with self._lock:
            proc = self._procs.get(handle)
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def stop_all(self, timeout_s: float = 20.0) -> None:
        """At shutdown: every bot leaves its meeting and writes its report; none is left behind unreaped."""
        with self._lock:
            procs = list(self._procs.values())
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class NoopLauncher:
    """Launches nothing; remembers what it was asked, and when (for the dispatch benchmark). Its "bots"
    have exited 0 by the time anyone asks."""

    name = "noop"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.launched: list[tuple[BotJob, float]] = []
        self._lock = threading.Lock()

    def launch(self, job: BotJob) -> str:
        with self._lock:
            self.launched.append((job, self.clock()))
        return f"noop-{job.job_id}"

    def poll(self, handle: str) -> int | None:
        return 0

    def stop(self, handle: str) -> None:
        return None
