"""What a meeting run leaves in its output directory, whatever the transport:

DIR/report.json (the contract in the brief, plus ingest counters), DIR/report.html (for people),
DIR/events.jsonl (every normalised event and final talk turn as it happened), DIR/live.jsonl (the live
snapshots), and for a training DIR/exceptions.json and DIR/exceptions.csv (the failed rules).
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.live import LiveSnapshot
from analysis.report import Report
from bot.report_html import render_report_html


EXCEPTION_FIELDS = ("key", "name", "rule", "detail", "by", "unit")


def write_exceptions(out_dir: Path, rows: list[dict]) -> None:
    """exceptions.json and exceptions.csv: one row per attendee and failed rule (who, which rule, by how
    much); written, empty, when everyone passed, so "no exceptions" is a file too."""
    (out_dir / "exceptions.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    with (out_dir / "exceptions.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=EXCEPTION_FIELDS)
        writer.writeheader()
        writer.writerows({k: r.get(k) for k in EXCEPTION_FIELDS} for r in rows)


class MeetingOutputs:
    """Open for the run (``log`` and ``snapshot`` are the pipeline's sinks), then ``save`` the report."""

    def __init__(self, out_dir: str | Path, on_snapshot: Callable[[LiveSnapshot], None] | None = None) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._events = (self.dir / "events.jsonl").open("w", encoding="utf-8")
        self._live = (self.dir / "live.jsonl").open("w", encoding="utf-8")
        self._on_snapshot = on_snapshot

    def log(self, record: dict) -> None:
        self._events.write(json.dumps(record, ensure_ascii=False) + "\n")

    def snapshot(self, s: LiveSnapshot) -> None:
        self._live.write(s.model_dump_json() + "\n")
        if self._on_snapshot is not None:
            self._on_snapshot(s)

    def save(self, report: Report, pipeline: Any) -> dict[str, dict[str, int]]:
        """Write report.json and report.html, close the logs; returns the ingest counters."""
        self.close()
        stats = pipeline.ingest_stats()
        payload = report.model_dump(mode="json")
        payload["ingest"] = stats
        payload["audio_chunks_dropped"] = {"unknown_user": pipeline.unknown_audio_chunks,
                                           "rejected": pipeline.rejected_audio_chunks}
        (self.dir / "report.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
        (self.dir / "report.html").write_text(render_report_html(report), encoding="utf-8")
        if getattr(pipeline, "exceptions", None) is not None:
            write_exceptions(self.dir, pipeline.exceptions)
        return stats

    def close(self) -> None:
        self._events.close()
        self._live.close()

    def discard(self) -> None:
        """Nothing happened worth keeping (the bot never got into the meeting): no empty logs left."""
        self.close()
        for f in (self._events, self._live):
            Path(f.name).unlink(missing_ok=True)
