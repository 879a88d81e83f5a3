"""The report store in Redis: bot reports as bots leave them, registrations binding registrant ids to
people, and the reconciled final records (key names in ``orchestrator/keys.py``)."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis

from analysis.contract import report_field
from orchestrator import keys


def _when(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


class ReportStore:
    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    # ---- bot reports ---------------------------------------------------------------------------------
    def save_bot_report(self, report: dict[str, Any], *, job_id: str | None = None) -> None:
        m = report["meeting"]
        field = report_field(m["started_at"], job_id or (report.get("observer") or {}).get("customer_key") or "-")
        self.r.hset(keys.bot_reports(str(m["id"])), field, json.dumps(report, separators=(",", ":")))

    def bot_reports_for(self, meeting_id: str, start: datetime, end: datetime | None) -> list[dict[str, Any]]:
        """The bot reports of ``meeting_id`` that overlap the instance's window, oldest first (a meeting
        number is reused by every instance of a recurring meeting)."""
        lo = start.timestamp()
        hi = end.timestamp() if end else float("inf")
        found = []
        for raw in self.r.hvals(keys.bot_reports(meeting_id)):
            rep = json.loads(raw)
            a = _when(rep["meeting"]["started_at"])
            b = a + float(rep["meeting"]["duration_s"])
            if a < hi and b > lo:
                found.append(rep)
        return sorted(found, key=lambda rep: rep["meeting"]["started_at"])

    # ---- what Zoom's webhooks said ------------------------------------------------------------------
    def webhook_log(self, uuid: str) -> list[dict[str, Any]]:
        """The instance's understood webhook events, oldest first (``orchestrator/webhooks/events.py``)."""
        return [json.loads(e) for e in self.r.lrange(keys.meeting_webhook_log(uuid), 0, -1)]

    # ---- registrations -------------------------------------------------------------------------------
    def bind_registrant(self, meeting_id: str, registrant_id: str, customer_key: str) -> None:
        self.r.hset(keys.registrant_bindings(meeting_id), registrant_id, customer_key)

    def bindings(self, meeting_id: str) -> dict[str, str]:
        """Registrant id → the customer key (employee id) it was registered for."""
        return self.r.hgetall(keys.registrant_bindings(meeting_id))

    # ---- final records -------------------------------------------------------------------------------
    def save_record(self, record: dict[str, Any]) -> None:
        m = record["meeting"]
        pipe = self.r.pipeline()
        pipe.set(keys.record(m["uuid"]), json.dumps(record, separators=(",", ":")))
        pipe.zadd(keys.RECORDS, {m["uuid"]: _when(m["started_at"])})
        pipe.sadd(keys.records_of_meeting(str(m["id"])), m["uuid"])
        pipe.execute()

    def record(self, meeting: str) -> dict[str, Any] | None:
        """The record of an instance UUID, or of the latest instance of a meeting number."""
        raw = self.r.get(keys.record(meeting))
        if raw is None and meeting.isdigit():
            uuids = self.r.smembers(keys.records_of_meeting(meeting))
            scored = [(self.r.zscore(keys.RECORDS, u) or 0.0, u) for u in uuids]
            if scored:
                raw = self.r.get(keys.record(max(scored)[1]))
        return json.loads(raw) if raw else None
