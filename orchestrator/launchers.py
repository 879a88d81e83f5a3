"""Launchers start one bot process per job: ``local`` (a subprocess, the default) or ``kubernetes`` (a
``batch/v1`` Job, ``orchestrator/k8s_launcher.py``); ``noop`` only records launches (benchmarks).

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orchestrator.schedule_store import Schedule

# the environment a bot inherits from the orchestrator: its Meeting SDK credentials and nothing else secret
BOT_ENV = ("ZOOM_SDK_CLIENT_ID", "ZOOM_SDK_CLIENT_SECRET", "ZOOM_ZAK", "ZOOM_OBF_TOKEN", "ZOOM_APP_PRIVILEGE_TOKEN",
           "PATH", "LANG", "LC_ALL", "TZ", "XDG_CACHE_HOME")


@dataclass(frozen=True)
class BotJob:
    job_id: str
    schedule_id: str
    schedule: Schedule
    attempt: int


def bot_command(job: BotJob, out_dir: str, python: str = sys.executable) -> list[str]:
    """``rollcall bot`` for a job. The passcode is not on the command line (other users can read that):
    the launcher puts it in the bot's environment as ROLLCALL_PASSCODE."""
    s = job.schedule
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
    output in ``bot.log`` there, reaped when it exits."""

    name = "local"

    def __init__(self, data_dir: Path, redis_url: str, *, python: str = sys.executable) -> None:
        self.root = Path(data_dir).resolve() / "bots"
        self.redis_url, self.python = redis_url, python
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def launch(self, job: BotJob) -> str:
        work = self.root / job.job_id
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)  # bots' logs and outputs: this user's only
        (work / "home").mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {k: os.environ[k] for k in BOT_ENV if k in os.environ}
        env.update({"HOME": str(work / "home"), "REDIS_URL": self.redis_url, "PYTHONUNBUFFERED": "1"})
        if job.schedule.passcode:
            env["ROLLCALL_PASSCODE"] = job.schedule.passcode
        with open(work / "bot.log", "ab") as logf:
            proc = subprocess.Popen(bot_command(job, str(work / "out"), self.python), cwd=work, env=env,
                                    stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                    start_new_session=True, umask=0o077)
        with self._lock:
            self._procs[str(proc.pid)] = proc
        return str(proc.pid)

    def poll(self, handle: str) -> int | None:
        with self._lock:
            proc = self._procs.get(handle)
        if proc is None:
            return None  # another orchestrator's bot: only its heartbeat tells
        code = proc.poll()
        if code is not None:
            with self._lock:
                self._procs.pop(handle, None)
        return code

    def stop(self, handle: str) -> None:
        with self._lock:
            proc = self._procs.get(handle)
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def stop_all(self, timeout_s: float = 20.0) -> None:
        """At shutdown: every bot leaves its meeting and writes its report."""
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
