"""Reconciliation, the I/O part: fetch what Zoom recorded about an instance, join it with the bot's
reports, store the final record and send it on.

Per instance it costs the fewest calls the endpoints allow: the Light details call (for the window;
skipped when ``meeting.ended`` already gave both start and end) and one Heavy report page per 300 rows.
Work comes from the shared queue (``orchestrator/reconcile_queue.py``), so any number of reconciler
processes split it, each call cleared by the shared governor. When the daily cap is reached the job in
hand goes back untouched and the run stops, saying how much is left and when the cap resets; a later run
picks up exactly the unfinished meetings.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.attendance import MeetingWindow, reconcile
from orchestrator.outbound import OutboundWebhooks
from orchestrator.rate_limits import DailyCapReached
from orchestrator.reconcile_queue import ReconcileJob, ReconcileQueue
from orchestrator.report_store import ReportStore
from orchestrator.zoom_api import NotFound, ZoomApi, ZoomApiError

log = logging.getLogger(__name__)

# Zoom errors that will not change on a retry: the instance is unknown, expired, or over a year old
_PERMANENT_CODES = {3001, 12702}


def _parse(t: str | None) -> datetime | None:
    return datetime.fromisoformat(t.replace("Z", "+00:00")) if t else None


@dataclass
class RunSummary:
    done: int = 0
    failed: int = 0
    left: int = 0  # still queued when the run stopped
    stopped_by: str | None = None  # "daily cap" when Zoom's daily budget ran out
    resets_at: datetime | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)


class Reconciler:
    def __init__(self, api: ZoomApi, store: ReportStore, queue: ReconcileQueue,
                 outbound: OutboundWebhooks | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.api, self.store, self.queue, self.outbound, self.clock = api, store, queue, outbound, clock

    def reconcile_instance(self, job: ReconcileJob) -> dict[str, Any]:
        """Build, store and send the final record of one instance."""
        start, end = _parse(job.start_time), _parse(job.end_time)
        meeting_id, topic = job.meeting_id, ""
        end_source = "webhook"
        if start is None or end is None or meeting_id is None:
            details = self.api.past_meeting(job.uuid)
            start = details.start_time or start
            meeting_id = details.id or meeting_id
            topic = details.topic or ""
            if details.end_time is not None:
                end, end_source = details.end_time, "zoom"
        rows, rows_from = self._participants(job.uuid)
        if start is None:  # neither Zoom nor a webhook said when it started: the first join is the start
            joins = [r.join_time for r in rows if r.join_time]
            if not joins:
                raise ZoomApiError(404, 3001, "no start time and no participants", job.uuid)
            start = min(joins)
        meeting_id = meeting_id or ""
        bots = self.store.bot_reports_for(meeting_id, start, end) if meeting_id else []
        if not topic and bots:
            topic = bots[-1]["meeting"].get("topic", "")
        window = MeetingWindow(uuid=job.uuid, meeting_id=meeting_id, topic=topic, start=start, end=end,
                               end_source=end_source)
        record = reconcile(window, rows, bots, bindings=self.store.bindings(meeting_id) if meeting_id else None,
                           now=datetime.fromtimestamp(self.clock(), UTC), rows_from=rows_from)
        self.store.save_record(record)
        if self.outbound is not None:
            record["deliveries"] = self.outbound.emit("meeting.reconciled", record)
        return record

    def _participants(self, uuid: str) -> tuple[list, str]:
        """The report's rows; without the Report API (a plan below Pro, or no report scope: code 200) the
        past-participants list, which lacks breakout rooms and customer keys."""
        try:
            return self.api.report_participants(uuid), "report"
        except ZoomApiError as exc:
            if exc.status != 400 or exc.code != 200:
                raise
            log.info("no Report API access; using past-meeting participants for %s", uuid)
            return self.api.past_meeting_participants(uuid), "past_participants"

    def run(self, *, workers: int = 1, progress: Callable[[RunSummary], None] | None = None) -> RunSummary:
        """Work through every due job; ``workers`` threads share this process's part of the budget."""
        summary = RunSummary()
        stop: list[DailyCapReached] = []
        lock = threading.Lock()

        def work() -> None:
            while not stop:
                job = self.queue.claim()
                if job is None:
                    return
                try:
                    record = self.reconcile_instance(job)
                except DailyCapReached as exc:
                    self.queue.release(job.uuid)
                    stop.append(exc)
                    return
                except (NotFound, ZoomApiError) as exc:
                    if getattr(exc, "code", None) in _PERMANENT_CODES or isinstance(exc, NotFound):
                        self.queue.fail(job.uuid, str(exc))
                        with lock:
                            summary.failed += 1
                            summary.failures.append((job.uuid, str(exc)))
                        log.warning("cannot reconcile %s: %s", job.uuid, exc)
                    else:  # transient after the client's own retries: try again later
                        self.queue.release(job.uuid, due=self.clock() + 300, undo_attempt=False)
                        log.warning("reconciling %s failed for now, retry in 5 min: %s", job.uuid, exc)
                    continue
                self.queue.complete(job.uuid, {"participants": len(record["participants"])})
                with lock:
                    summary.done += 1
                    if progress is not None:
                        progress(summary)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile") as pool:
            for f in [pool.submit(work) for _ in range(workers)]:
                f.result()
        counts = self.queue.counts()
        summary.left = counts["pending"] + counts["in_flight"]
        if stop:
            summary.stopped_by, summary.resets_at = "daily cap", stop[0].resets_at
        return summary

    def follow(self, stop: threading.Event, *, idle_s: float = 2.0, workers: int = 1) -> None:
        """Keep reconciling due jobs until ``stop``; after the daily cap, wait for its reset."""
        while not stop.is_set():
            summary = self.run(workers=workers)
            if summary.stopped_by and summary.resets_at is not None:
                wait = max(idle_s, summary.resets_at.timestamp() - self.clock())
                log.warning("daily Zoom API cap reached; %d meetings wait until %s", summary.left,
                            summary.resets_at.isoformat())
                stop.wait(wait)
            else:
                stop.wait(idle_s)
