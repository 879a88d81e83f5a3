"""Reconciliation, the I/O part: fetch what Zoom recorded about an instance, join it with the bot's
reports, store the final record and send it on.

Per instance it costs the fewest calls the endpoints allow: the Light details call (for the window;
skipped when ``meeting.ended`` already gave both start and end) and one Heavy report page per page of rows
(300, or what ``ZOOM_HEAVY_PAGE_SIZE`` or Zoom's answers set: ``ZoomApi.pages_needed``).
Work comes from the shared queue (``orchestrator/reconciliation/queue.py``), so any number of reconciler
processes split it, each call cleared by the shared governor. When the daily cap is reached the job in
hand goes back untouched and the run stops, saying how much is left and when the cap resets; a later run
picks up exactly the unfinished meetings. Refused credentials, or an app without the scopes (or an account
without the plan) that both participant lists need, stop the run the same way: no meeting can succeed
until an admin changes the app.

Zoom gives no "report complete" signal, so a job brought by ``meeting.ended`` (or by a refused delivery
Zoom then confirmed ended) runs a second pass later
(``repeat_after_s``), and a fresh meeting Zoom does not know yet (3001) is retried rather than failed.
A job that fails for any other reason is retried with backoff, then kept as failed with its reason.
What the instance's webhooks said fills gaps: the end time, and leave times missing from the report.
Each run first follows up the meetings named by webhook deliveries the receiver had to refuse
(``orchestrator/reconciliation/hints.py``), queueing those Zoom says have ended.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from orchestrator.reconciliation import hints
from orchestrator.reconciliation.attendance import MeetingWindow, reconcile
from orchestrator.reconciliation.hr_payload import compliance_payload
from orchestrator.outbound import OutboundWebhooks
from orchestrator.zoom.rate_limits import DailyCapReached
from orchestrator.reconciliation.queue import ReconcileJob, ReconcileQueue
from orchestrator.report_store import ReportStore
from orchestrator.zoom.api import AccessRefused, NotFound, ZoomApi, ZoomApiError
from orchestrator.zoom.models import ReportParticipant
from orchestrator.zoom.oauth import OAuthError

log = structlog.get_logger(__name__)

# Zoom errors that will not change on a retry: the instance is unknown or expired, or over a year old
_PERMANENT_CODES = {3001, 12702}
MAX_ATTEMPTS = 6
FRESH_S = 86400.0  # a meeting that ended less than a day ago may not be in Zoom's reports yet


def _parse(t: str | None) -> datetime | None:
    return datetime.fromisoformat(t) if t else None


@dataclass
class RunSummary:
    done: int = 0
    failed: int = 0
    retried: int = 0  # put back for a later attempt
    left: int = 0  # due or running when the run stopped
    later: int = 0  # queued for later (backoff, second passes, meeting.ended plus the delay)
    stopped_by: str | None = None  # "daily cap", "zoom credentials" or "zoom access" (scopes, plan)
    resets_at: datetime | None = None
    detail: str | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)


class Reconciler:
    def __init__(self, api: ZoomApi, store: ReportStore, queue: ReconcileQueue,
                 outbound: OutboundWebhooks | None = None, *, repeat_after_s: float | None = 6 * 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.api, self.store, self.queue, self.outbound, self.clock = api, store, queue, outbound, clock
        self.repeat_after_s = repeat_after_s

    # ---- one instance --------------------------------------------------------------------------------
    def reconcile_instance(self, job: ReconcileJob) -> dict[str, Any]:
        """Build, store and send the final record of one instance."""
        heard = self.store.webhook_log(job.uuid)
        ended = next((e for e in reversed(heard) if e.get("event") == "meeting.ended"), {})
        start, end = _parse(job.start_time or ended.get("start_time")), _parse(job.end_time or ended.get("end_time"))
        meeting_id, topic = job.meeting_id or ended.get("meeting_id"), ""
        end_source = "zoom" if job.source == "hint" else "webhook"  # a hint's window is Zoom's details
        if start is None or end is None or meeting_id is None:
            details = self.api.past_meeting(job.uuid)
            start = details.start_time or start
            meeting_id = details.id or meeting_id
            topic = details.topic or ""
            if details.end_time is not None:
                end, end_source = details.end_time, "zoom"
        rows, rows_from = self._participants(job.uuid)
        completed = _fill_leaves(rows, heard)
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
        record["meeting"]["source"]["leave_times_from_webhooks"] = completed
        record["meeting"]["source"]["pass"] = job.pass_no
        self.store.save_record(record)
        if self.outbound is not None:
            record["deliveries"] = self.outbound.emit("meeting.reconciled", record)
            payload = compliance_payload(record)
            if payload is not None and job.pass_no == 1:  # the HR system hears once per training
                self.outbound.emit("training.compliance", payload)
        return record

    def _participants(self, uuid: str) -> tuple[list[ReportParticipant], str]:
        """The report's rows; without the Report API (no report scope: 4700; no permission: 200) the
        past-participants list, which lacks breakout rooms and customer keys. When that is refused too
        (no meeting scope, or a free plan) ``AccessRefused`` says why."""
        try:
            return self.api.report_participants(uuid), "report"
        except AccessRefused as exc:
            log.info("no Report API access (code %s); using past-meeting participants for %s", exc.code, uuid)
            return self.api.past_meeting_participants(uuid), "past_participants"

    # ---- the queue -----------------------------------------------------------------------------------
    def run(self, *, workers: int = 1, progress: Callable[[RunSummary], None] | None = None) -> RunSummary:
        """Work through every due job; ``workers`` threads share this process's part of the budget."""
        summary = RunSummary()
        stop: list[Exception] = []
        lock = threading.Lock()
        if self.outbound is not None:
            self.outbound.retry_due()
        try:
            hints.follow_up(self.api, self.queue)
        except (DailyCapReached, OAuthError, AccessRefused) as exc:
            stop.append(exc)

        def later(job: ReconcileJob, why: str) -> None:
            if job.attempts >= MAX_ATTEMPTS:
                self.queue.fail(job.uuid, f"{why} (after {job.attempts} attempts)")
                with lock:
                    summary.failed += 1
                    summary.failures.append((job.uuid, why))
                log.warning("giving up on %s after %d attempts: %s", job.uuid, job.attempts, why)
                return
            delay = min(6 * 3600.0, 300.0 * 2 ** (job.attempts - 1))
            self.queue.release(job.uuid, due=self.clock() + delay, undo_attempt=False)
            with lock:
                summary.retried += 1
            log.warning("reconciling %s failed for now (%s); retry in %.0f min", job.uuid, why, delay / 60)

        def work() -> None:
            while not stop:
                job = self.queue.claim()
                if job is None:
                    return
                try:
                    record = self.reconcile_instance(job)
                except (DailyCapReached, OAuthError, AccessRefused) as exc:  # nothing else can go: stop the run
                    self.queue.release(job.uuid)
                    stop.append(exc)
                    return
                except ZoomApiError as exc:
                    permanent = exc.code in _PERMANENT_CODES or isinstance(exc, NotFound)
                    end = _parse(job.end_time)
                    fresh = end is not None and self.clock() - end.timestamp() < FRESH_S
                    if permanent and not fresh:
                        self.queue.fail(job.uuid, str(exc))
                        with lock:
                            summary.failed += 1
                            summary.failures.append((job.uuid, str(exc)))
                        log.warning("cannot reconcile %s: %s", job.uuid, exc)
                    else:
                        later(job, str(exc))
                    continue
                except Exception as exc:  # a bad answer, a store error: never lose the job
                    later(job, type(exc).__name__)
                    continue
                again = None
                if job.source in ("webhook", "hint") and job.pass_no == 1 and self.repeat_after_s:
                    again = self.clock() + self.repeat_after_s
                self.queue.complete(job.uuid, {"participants": len(record["participants"]), "pass": job.pass_no},
                                    again_at=again)
                with lock:
                    summary.done += 1
                    if progress is not None:
                        progress(summary)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile") as pool:
            for f in [pool.submit(work) for _ in range(workers)]:
                f.result()
        counts = self.queue.counts()
        summary.left = counts["due"] + counts["in_flight"]
        summary.later = counts["pending"] - counts["due"]
        if stop:
            exc = stop[0]
            if isinstance(exc, DailyCapReached):
                summary.stopped_by, summary.resets_at = "daily cap", exc.resets_at
            elif isinstance(exc, AccessRefused):
                summary.stopped_by = "zoom access"
            else:
                summary.stopped_by = "zoom credentials"
            summary.detail = str(exc)
        return summary

    def follow(self, stop: threading.Event, *, idle_s: float = 2.0, workers: int = 1) -> None:
        """Keep reconciling due jobs until ``stop``; after the daily cap, wait for its reset. Nothing that
        goes wrong ends the loop (it is the `serve` process's reconciler)."""
        while not stop.is_set():
            try:
                summary = self.run(workers=workers)
            except Exception:
                log.exception("reconciler pass failed; trying again shortly")
                stop.wait(idle_s * 15)
                continue
            if summary.stopped_by == "daily cap" and summary.resets_at is not None:
                log.warning("daily Zoom API cap reached; %d meetings wait until %s", summary.left,
                            summary.resets_at.isoformat())
                stop.wait(max(idle_s, summary.resets_at.timestamp() - self.clock()))
            elif summary.stopped_by:
                log.error("Zoom refused the app (%s): %s", summary.stopped_by, summary.detail)
                stop.wait(300.0)
            else:
                stop.wait(idle_s)


def _fill_leaves(rows: list[ReportParticipant], heard: list[dict]) -> int:
    """Leave times the report lacks, from the instance's participant_left webhooks (same per-join user
    id); returns how many rows were completed."""
    leaves = {e["user_id"]: e["leave_time"] for e in heard
              if e.get("edge") == "leave" and e.get("status") == "in_meeting" and e.get("user_id") and e.get("leave_time")}
    filled = 0
    for r in rows:
        if r.leave_time is None and r.user_id in leaves:
            r.leave_time = _parse(leaves[r.user_id])
            filled += 1
    return filled
