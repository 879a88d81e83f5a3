"""`rollcall rtms`: one process, one RTMS stream.

:func:`run_stream` opens the stream, feeds the pipeline and writes the same outputs as ``rollcall replay``;
it takes the ``rtms`` module as an argument so it runs against the stand-in in tests. :func:`rtms_main` is
the real worker process: :func:`~bot.rtms.traps.prepare_process` first, then ``import rtms``, and the
caller ends the process with ``os._exit`` (an interpreter exit with the SDK loaded may abort).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from analysis.contract import NOT_OBSERVED_BY, BotField
from analysis.live import LiveSnapshot
from analysis.logs import configure
from analysis.policy import TrainingPolicy
from analysis.report import MeetingInfo
from bot.assembly import Training, assemble
from bot.pipeline import PipelineConfig
from bot.redis_link import BotLink, link_from_env
from bot.rtms.session import RtmsConfig, RtmsSession
from bot.rtms.stream import StreamSpec
from bot.rtms.traps import RtmsConfigError, prepare_process
from bot.transcriber import AsrConfig
from bot.lifecycle import Lifecycle, Outcome, leave_signals

log = structlog.get_logger("rollcall.rtms")

OBSERVER_NAME = "Rollcall (RTMS)"
NOT_OBSERVED = NOT_OBSERVED_BY["rtms"]  # what RTMS 1.1.0 does not report


def check_policy(policy: TrainingPolicy | None) -> None:
    """A training whose roll calls are posted in the meeting chat cannot run on a stream that sends
    nothing: refused before anything starts, never silently skipped."""
    if policy is not None and policy.roll_call is not None:
        raise RtmsConfigError("this training posts roll calls in the meeting chat, which RTMS cannot send: use "
                              "the Meeting SDK bot for it, or set roll_call: null in the policy (presence and "
                              "talk are then checked without roll calls)")


def _no_chat_out(text: str, to: str | None) -> None:
    log.warning("rtms: a chat message was not sent (RTMS is receive-only)", to=to)


def run_stream(rtms: Any, spec: StreamSpec, credentials: tuple[str, str], out_dir: Path, *,
               config: RtmsConfig | None = None, asr: AsrConfig | None = None,
               pipeline_config: PipelineConfig | None = None,
               on_snapshot: Callable[[LiveSnapshot], None] | None = None, link: BotLink | None = None,
               policy: TrainingPolicy | None = None, duration_s: float = 3600.0, tick_s: float = 0.1,
               stop: Callable[[], bool] = lambda: False) -> Lifecycle:
    """Open the stream, run until it ends (or SIGTERM/SIGINT, ``stop()`` or a replacement takes over:
    leave), and write the outputs if any media arrived. Returns the lifecycle (exit code and reason)."""
    check_policy(policy)
    started = datetime.fromtimestamp(spec.started_ms / 1000, UTC) if spec.started_ms else datetime.now(UTC)
    info = MeetingInfo(id=spec.meeting_id or spec.meeting_uuid, topic="", start=started, not_observed=NOT_OBSERVED)
    training = Training(policy, duration_s, {}) if policy is not None else None
    pipeline, outputs, _ = assemble(info, out_dir, chat=_no_chat_out, config=pipeline_config, asr=asr,
                                    on_snapshot=[on_snapshot] if on_snapshot else [], link=link, training=training)
    session = RtmsSession(rtms, spec, credentials, pipeline, config=config)
    superseded = (lambda: link.superseded) if link is not None else (lambda: False)
    noted = False
    with leave_signals() as signals:
        try:
            if link is not None:
                link.start({BotField.TRANSPORT: "rtms", BotField.RTMS_STREAM: spec.rtms_stream_id})
            session.start()
            while not (session.done or signals or stop() or superseded()):
                session.tick()
                if link is not None and session.opened and session.t0_ms is not None and not noted:
                    noted = True  # media time 0 on the wall clock, for a rebuild from the log
                    link.note({BotField.JOINED_AT: f"{session.t0_ms / 1000:.3f}", BotField.JOIN_S: "0"})
                time.sleep(tick_s)
            if not session.done:
                session.lifecycle.finish(Outcome.LEFT_ON_SIGNAL)
            session.tick()  # what arrived with the ending
        finally:
            session.leave()
    report = None
    if session.opened and session.t0_ms is not None:
        pipeline.info = info.model_copy(update={"start": datetime.fromtimestamp(session.t0_ms / 1000, UTC)})
        report = pipeline.finish()
        report.observer = report.observer.model_copy(update={"name": OBSERVER_NAME, "transport": "rtms"})
        outputs.save(report, pipeline)
    else:
        outputs.discard()
    lc = session.lifecycle
    if link is not None:
        link.finish_run(report, lc)
    return lc


def rtms_main(spec: StreamSpec, credentials: tuple[str, str], out_dir: Path, *, asr: AsrConfig | None,
              config: RtmsConfig | None = None, job_id: str | None = None, policy: TrainingPolicy | None = None,
              duration_s: float = 3600.0) -> int:
    """The worker process: prepare it, run the stream, log one line saying how it ended; returns the exit
    code (the caller ends the process with ``os._exit``)."""
    out_dir = out_dir.resolve()  # the SDK's logs need a private working directory: paths stay absolute
    configure(secrets=[credentials[1]])
    ours = prepare_process(out_dir)
    try:
        import rtms
    except ImportError as exc:
        lifecycle = Lifecycle()
        lifecycle.finish(Outcome.SDK_FAILURE, str(exc))
    else:
        link = link_from_env(job_id, spec.meeting_id or spec.meeting_uuid) if job_id else None
        lifecycle = run_stream(rtms, spec, credentials, out_dir, config=config, asr=asr, link=link, policy=policy,
                               duration_s=duration_s)
    log.info("rollcall rtms: %s (exit %d)", lifecycle.summary(), lifecycle.exit_code)
    if lifecycle.normal and (out_dir / "report.json").exists():
        print(f"Report: {out_dir / 'report.html'}  (data: {out_dir / 'report.json'})", file=ours, flush=True)
    return lifecycle.exit_code
