"""Run one scenario through the whole pipeline and write the outputs (see bot/outputs.py)."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from analysis.live import LiveSnapshot
from analysis.report import MeetingInfo, Report
from bot.assembly import Training, assemble
from bot.pipeline import PipelineConfig
from bot.scenario import expected_roster, load_policy, load_scenario
from bot.transcriber import AsrConfig, Line
from bot.simulator.transport import SimulatorTransport


@dataclass(frozen=True)
class ReplayResult:
    report: Report
    out_dir: Path
    ingest: dict[str, dict[str, int]]
    run_started: float  # time.monotonic() when the simulator started: media t=0 at real-time pacing
    transcriber_lines: list[Line]  # every transcript line with when it was ready (empty without ASR)

    @property
    def report_json(self) -> Path:
        return self.out_dir / "report.json"

    @property
    def report_html(self) -> Path:
        return self.out_dir / "report.html"


def replay(scenario_path: str | Path, out_dir: str | Path, *, speed: float | None = None,
           silence_suppression_dbfs: float | None = None, config: PipelineConfig | None = None,
           asr: AsrConfig | None = None,
           on_snapshot: Callable[[LiveSnapshot], None] | None = None) -> ReplayResult:
    """With `asr` (an AsrConfig), speech is transcribed too; without it, everything else still runs."""
    scenario_path = Path(scenario_path)
    scenario = load_scenario(scenario_path)
    transport = SimulatorTransport(scenario_path, scenario, speed=speed,
                                   silence_suppression_dbfs=silence_suppression_dbfs)
    m = scenario.meeting
    info = MeetingInfo(id=m.id, topic=m.topic, start=m.start, duration_s=scenario.end_s)
    policy = load_policy(scenario_path, scenario)
    training = Training(policy, scenario.end_s, expected_roster(scenario)) if policy is not None else None
    # once every input is read: a refused run writes nothing
    pipeline, outputs, transcriber = assemble(info, out_dir, chat=transport.send_chat, config=config, asr=asr,
                                              on_snapshot=[on_snapshot] if on_snapshot else [], training=training)
    run_started = time.monotonic()
    try:
        transport.run(pipeline)
        report = pipeline.finish()
    finally:
        outputs.close()
    stats = outputs.save(report, pipeline)
    return ReplayResult(report=report, out_dir=outputs.dir, ingest=stats, run_started=run_started,
                        transcriber_lines=transcriber.lines if transcriber is not None else [])
