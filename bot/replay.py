"""Run one scenario through the whole pipeline and write the outputs.

DIR/report.json (the contract in the brief), DIR/report.html (for people), DIR/events.jsonl (every
normalised event and final talk turn as it happened), DIR/live.jsonl (the live snapshots).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from analysis.live import LiveSnapshot
from analysis.report import MeetingInfo, Report
from bot.pipeline import MeetingPipeline, PipelineConfig
from bot.transcriber import AsrConfig, Line, Transcriber
from bot.report_html import render_report_html
from bot.scenario import load_scenario
from bot.simulator import SimulatorTransport


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
    out = Path(out_dir)
    scenario = load_scenario(scenario_path)
    transport = SimulatorTransport(scenario_path, scenario, speed=speed,
                                   silence_suppression_dbfs=silence_suppression_dbfs)
    m = scenario.meeting
    info = MeetingInfo(id=m.id, topic=m.topic, start=m.start, duration_s=scenario.end_s)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "events.jsonl").open("w", encoding="utf-8") as events_f, \
            (out / "live.jsonl").open("w", encoding="utf-8") as live_f:
        def log(record: dict) -> None:
            events_f.write(json.dumps(record, ensure_ascii=False) + "\n")

        def snapshot(s: LiveSnapshot) -> None:
            live_f.write(s.model_dump_json() + "\n")
            if on_snapshot is not None:
                on_snapshot(s)

        pipeline_config = config or PipelineConfig()
        transcriber = Transcriber(asr, pipeline_config.talk.frame_ms) if asr is not None else None
        pipeline = MeetingPipeline(info, pipeline_config, on_snapshot=snapshot, on_log=log,
                                   transcriber=transcriber)
        run_started = time.monotonic()
        transport.run(pipeline)
        report = pipeline.finish()
    stats = pipeline.ingest_stats()
    payload = report.model_dump(mode="json")
    payload["ingest"] = stats
    payload["audio_chunks_dropped"] = {"unknown_user": pipeline.unknown_audio_chunks,
                                       "rejected": pipeline.rejected_audio_chunks}
    (out / "report.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.html").write_text(render_report_html(report), encoding="utf-8")
    return ReplayResult(report=report, out_dir=out, ingest=stats, run_started=run_started,
                        transcriber_lines=transcriber.lines if transcriber is not None else [])
