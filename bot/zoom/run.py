"""`rollcall bot`: one process, one meeting, through the Zoom Meeting SDK.

:func:`run_meeting` joins, feeds the pipeline, and writes the same outputs as ``rollcall replay``; it
takes the SDK module and the loop as arguments so it runs against the stand-in SDK in tests.
:func:`prepare_process` is what only a real bot process does first (private HOME, file descriptor 1 away
from the SDK's prints, log lines on stderr with every secret redacted).
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import structlog
from rich.console import Console
from rich.live import Live

from analysis.contract import BotField
from analysis.logs import configure
from analysis.live import LiveSnapshot
from analysis.policy import TrainingPolicy
from analysis.report import MeetingInfo
from analysis.live_view import LiveView
from bot.assembly import ChatOut, Training, assemble
from bot.pipeline import PipelineConfig
from bot.redis_link import BotLink, link_from_env
from bot.settings import BotSettings
from bot.transcriber import AsrConfig
from bot.zoom.credentials import ZoomCredentials
from bot.zoom.guard import ExitGuard, isolate_stdout, private_home
from bot.lifecycle import Lifecycle, Outcome, leave_signals
from bot.zoom.loop import GLibLoop
from bot.zoom.session import JoinSpec, ZoomConfig, ZoomSession

log = structlog.get_logger(__name__)


def bot_home(work_dir: Path) -> Path:
    """The bot's private HOME: the container entrypoint's (``ROLLCALL_BOT_HOME``, where it started
    PulseAudio, which the SDK must find), else one under ``work_dir``."""
    return BotSettings().bot_home or work_dir / "home"


def prepare_process(work_dir: Path, secrets: list[str]) -> TextIO:
    """Private HOME, fd 1 to /dev/null (our own output on the returned stream), and log lines on stderr in
    the one format (``analysis/logs.py``: JSON lines unless stderr is a terminal) with every secret
    redacted."""
    configure(secrets=secrets)
    private_home(bot_home(work_dir))
    return isolate_stdout()


def run_meeting(sdk: Any, loop: Any, spec: JoinSpec, credentials: ZoomCredentials, out_dir: Path, *,
                config: ZoomConfig | None = None, asr: AsrConfig | None = None,
                pipeline_config: PipelineConfig | None = None,
                on_snapshot: Callable[[LiveSnapshot], None] | None = None,
                link: BotLink | None = None, policy: TrainingPolicy | None = None,
                duration_s: float = 3600.0, cleanup_kill_s: float = 60.0) -> Lifecycle:
    """Join, run until an outcome (or SIGTERM/SIGINT: leave), leave, and write the outputs if the bot
    got into the meeting. Returns the lifecycle (its exit code and reason). With a ``link``, the
    orchestrator gets the heartbeat, live snapshots and observations as they happen, and the report. With
    a training ``policy``, roll calls go to the meeting chat and attendees are checked over the scheduled
    ``duration_s`` (media time 0 is the bot's join). Leaving waits for the SDK's ENDED before cleaning up;
    if the cleanup hangs for ``cleanup_kill_s`` the process exits with the run's exit code."""
    info = MeetingInfo(id=str(spec.meeting_number), topic="", start=datetime.now(UTC))
    chat = ChatOut()  # the chat-out is the session's, which needs the pipeline first
    training = Training(policy, duration_s, {}) if policy is not None else None
    pipeline, outputs, _ = assemble(info, out_dir, chat=chat, config=pipeline_config, asr=asr,
                                    on_snapshot=[on_snapshot] if on_snapshot else [], link=link, training=training)
    session = ZoomSession(sdk, credentials, spec, pipeline, config=config)
    chat.send = session.send_chat
    joined = []

    def tick() -> None:
        session.tick()
        if link is not None and session.t0_wall is not None and not joined:  # media time 0, for a rebuild
            joined.append(session.t0_wall)
            link.note({BotField.JOINED_AT: f"{session.t0_wall.timestamp():.3f}", BotField.JOIN_S: "0"})

    with leave_signals() as stop:
        if link is not None:
            link.start({BotField.CUSTOMER_KEY: spec.customer_key})
        session.start()
        loop.run(lambda: session.done or bool(stop) or (link is not None and link.superseded), tick)
        if (stop or (link is not None and link.superseded)) and not session.done:
            session.lifecycle.finish(Outcome.LEFT_ON_SIGNAL)
        session.leave()
        leave_by = time.monotonic() + session.config.leave_timeout_s  # Leave, then the loop turns until ENDED
        loop.run(lambda: session.left or time.monotonic() >= leave_by, session.tick)
    report = None
    if session.t0 is not None:
        pipeline.info = info.model_copy(update={"start": session.t0_wall})  # media time 0 is the bot's join
        report = pipeline.finish()
        report.observer = report.observer.model_copy(update={"name": spec.display_name, "customer_key": spec.customer_key})
        outputs.save(report, pipeline)
    else:
        outputs.discard()
    lc = session.lifecycle
    if link is not None:
        link.finish_run(report, lc)
    with ExitGuard(cleanup_kill_s, lc.exit_code):  # everything is saved: a cleanup that hangs is cut short
        session.cleanup()
    return session.lifecycle


def bot_main(spec: JoinSpec, credentials: ZoomCredentials, out_dir: Path, *, asr: AsrConfig | None,
             config: ZoomConfig | None = None, live: bool = False, job_id: str | None = None,
             policy: TrainingPolicy | None = None, duration_s: float = 3600.0) -> int:
    """The real bot process: prepare it, run the meeting, print one line saying how it ended; returns the
    exit code (the caller ends the process with os._exit)."""
    secrets = credentials.secrets() + ([spec.passcode] if spec.passcode else [])
    ours = prepare_process(out_dir, secrets)
    try:
        import zoom_meeting_sdk as sdk
    except ImportError as exc:
        lifecycle = Lifecycle()
        lifecycle.finish(Outcome.SDK_FAILURE, str(exc))
    else:
        with contextlib.ExitStack() as stack:
            on_snapshot = None
            if live:  # the live table, as `replay --live` shows it, on our own stdout
                view = LiveView(f"Zoom meeting {spec.meeting_number}")
                screen = stack.enter_context(Live(console=Console(file=ours), refresh_per_second=4))
                on_snapshot = lambda snap: screen.update(view.render(snap))  # noqa: E731
            link = link_from_env(job_id, str(spec.meeting_number)) if job_id else None
            lifecycle = run_meeting(sdk, GLibLoop(), spec, credentials, out_dir, config=config, asr=asr,
                                    on_snapshot=on_snapshot, link=link, policy=policy, duration_s=duration_s)
    # the last line says how it ended, redacted like every log line (a summary may quote the SDK)
    log.info("rollcall bot: %s (exit %d)", lifecycle.summary(), lifecycle.exit_code)
    if lifecycle.normal and (out_dir / "report.json").exists():
        print(f"Report: {out_dir / 'report.html'}  (data: {out_dir / 'report.json'})", file=ours, flush=True)
    return lifecycle.exit_code
