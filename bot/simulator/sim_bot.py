"""A bot whose meeting is a scenario: what the orchestrator launches for a simulated meeting.

The scenario's t=0 is ``start_at`` on the wall clock and the meeting runs in real time. A bot started
after that (a late dispatch, or a replacement for one that died) joins late: it sees the meeting from
now on, people already there appearing at its join (``bot/simulator/scenario_view.py``). Its media time 0 is its
join, as with Zoom. Outputs go to the output directory and, with a BotLink, to Redis.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from analysis.contract import BotField, BotStatus
from analysis.logs import configure
from analysis.report import MeetingInfo, Report
from bot.assembly import Training, assemble
from bot.redis_link import BotLink, link_from_env
from bot.scenario import expected_roster, load_policy, load_scenario
from bot.simulator.scenario_view import join_late
from bot.simulator.transport import SimulatorTransport
from bot.transcriber import AsrConfig
from bot.zoom.credentials import customer_key_for

log = structlog.get_logger(__name__)


ON_TIME_S = 1.0  # a bot joining less than this after the start plays the scenario from its start


class MeetingOver(Exception):
    """The simulated meeting has already ended: there is nothing left to join."""


def run_sim_bot(scenario_path: Path, start_at: datetime, out_dir: Path, *, customer_key: str,
                link: BotLink | None = None, asr: AsrConfig | None = None, speed: float = 1.0,
                now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Report:
    scenario = load_scenario(scenario_path)
    joined = now()
    join_s = max(0.0, (joined - start_at).total_seconds() * speed)
    if join_s < ON_TIME_S:  # a process start's delay: the bot is there from the start (and runs the checks)
        join_s = 0.0
    if join_s >= scenario.end_s:
        raise MeetingOver(f"the meeting ended {join_s - scenario.end_s:.0f} s ago")
    view = join_late(scenario, join_s) if join_s > 0 else scenario
    m = view.meeting
    info = MeetingInfo(id=m.id, topic=m.topic, start=joined if join_s > 0 else start_at, duration_s=view.end_s)
    transport = SimulatorTransport(scenario_path, view, speed=speed,
                                   stop=(lambda: link.superseded) if link is not None else None)
    policy = load_policy(scenario_path, scenario)
    # a training's live checks need the whole session: a bot that joined late (a replacement) names the
    # policy in its log and the orchestrator judges the session from every bot's log
    training = Training(policy, scenario.end_s, expected_roster(scenario), live=join_s == 0) \
        if policy is not None else None
    pipeline, outputs, _ = assemble(info, out_dir, chat=transport.send_chat, asr=asr, link=link, training=training)
    if link is not None:
        link.start({BotField.JOINED_AT: f"{info.start.timestamp():.3f}", BotField.JOIN_S: f"{join_s:.3f}",
                    BotField.CUSTOMER_KEY: customer_key, BotField.SCENARIO_START: start_at.isoformat()})
    if join_s == 0 and start_at > joined:  # early: wait for the meeting to begin
        time.sleep((start_at - joined).total_seconds())
    transport.run(pipeline)
    report = pipeline.finish()
    report.observer = report.observer.model_copy(update={"customer_key": customer_key})
    outputs.save(report, pipeline)
    return report


def sim_bot_main(scenario_path: Path, start_at: datetime, job_id: str, out_dir: Path, *,
                 asr: AsrConfig | None) -> int:
    """The simulated bot process: run, report, return the exit code (0: the meeting ended or was over)."""
    configure()
    meeting_id = load_scenario(scenario_path).meeting.id
    link = link_from_env(job_id, meeting_id)
    try:
        report = run_sim_bot(scenario_path, start_at, out_dir, customer_key=customer_key_for(job_id), link=link, asr=asr)
    except MeetingOver as exc:
        log.info("rollcall bot: %s; nothing to do", exc)
        if link is not None:
            link.finish(None, status=BotStatus.FINISHED, exit_code=0, reason=str(exc))
        return 0
    if link is not None:
        link.finish(report.model_dump(mode="json"), status=BotStatus.FINISHED, exit_code=0, reason="meeting ended")
    log.info("rollcall bot: the simulated meeting ended; report in %s", out_dir / "report.json")
    return 0
