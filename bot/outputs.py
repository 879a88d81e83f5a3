"""What a meeting run leaves in its output directory, whatever the transport:

DIR/report.json (the contract in the brief, plus ingest counters), DIR/report.html (for people),
DIR/events.jsonl (every normalised event and final talk turn as it happened), DIR/live.jsonl (the live
snapshots), and for a training DIR/exceptions.json and DIR/exceptions.csv (the failed rules).

They name people and quote what they said: DIR is created for this user only (0700) and every file in it
is created 0600, so no moment exists when another user could open it.
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from analysis.live import LiveSnapshot
from analysis.observations import Observation, encode
from analysis.report import Report
from bot.report_html import render_report_html


EXCEPTION_FIELDS = ("key", "name", "rule", "detail", "by", "unit")


def private_dir(path: Path) -> Path:
    """An output directory only this user can enter (0700) when it is created here; one that exists is
    left as it is (it may be the user's own, such as the working directory)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def open_private(path: Path, newline: str | None = None) -> TextIO:
    """A new text file only this user can read (0600) from the start; one an earlier run left is removed
    first, as its mode may be wider."""
    path.unlink(missing_ok=True)
    return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8", newline=newline)


def write_private(path: Path, text: str) -> None:
    with open_private(path) as f:
        f.write(text)


def write_exceptions(out_dir: Path, rows: list[dict]) -> None:
    """exceptions.json and exceptions.csv: one row per attendee and failed rule (who, which rule, by how
    much); written, empty, when everyone passed, so "no exceptions" is a file too."""
    write_private(out_dir / "exceptions.json", json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    with open_private(out_dir / "exceptions.csv", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=EXCEPTION_FIELDS)
        writer.writeheader()
        writer.writerows({k: r.get(k) for k in EXCEPTION_FIELDS} for r in rows)


class MeetingOutputs:
    """Open for the run (``log`` and ``snapshot`` are the pipeline's sinks), then ``save`` the report."""

    def __init__(self, out_dir: str | Path, on_snapshot: Callable[[LiveSnapshot], None] | None = None) -> None:
        self.dir = private_dir(Path(out_dir))
        self._logs = [self.dir / "events.jsonl", self.dir / "live.jsonl"]
        self._events, self._live = (open_private(p) for p in self._logs)
        self._on_snapshot = on_snapshot

    def log(self, record: Observation) -> None:
        self._events.write(json.dumps(encode(record), ensure_ascii=False) + "\n")

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
        write_private(self.dir / "report.json", json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        write_private(self.dir / "report.html", render_report_html(report))
        if getattr(pipeline, "exceptions", None) is not None:
            write_exceptions(self.dir, pipeline.exceptions)
        return stats

    def close(self) -> None:
        self._events.close()
        self._live.close()

    def discard(self) -> None:
        """Nothing happened worth keeping (the bot never got into the meeting): no empty logs left."""
        self.close()
        for path in self._logs:
            path.unlink(missing_ok=True)
