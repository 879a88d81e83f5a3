"""The reconciliation work queue in Redis, shared by every reconciler process.

A job is one meeting instance (its UUID). ``add`` makes it due at a time (``meeting.ended`` plus a delay,
or now); ``claim`` hands each due job to exactly one process under a lease, so two reconcilers never
work on the same meeting and a crashed one's job comes back when its lease runs out; ``complete``
records it done, which is what makes a rerun skip it; ``release`` puts a job back untouched (the daily
API cap was reached before it could run).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from orchestrator import keys

# Requeue jobs whose lease ran out, then move the earliest due job (if any) to the in-flight set.
_CLAIM = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, uuid in ipairs(expired) do
  redis.call('ZREM', KEYS[2], uuid)
  redis.call('ZADD', KEYS[1], ARGV[1], uuid)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #due == 0 then return false end
redis.call('ZREM', KEYS[1], due[1])
redis.call('ZADD', KEYS[2], ARGV[2], due[1])
return due[1]
"""


@dataclass(frozen=True)
class ReconcileJob:
    uuid: str
    meeting_id: str | None = None
    start_time: str | None = None  # from meeting.ended, when a webhook brought the job
    end_time: str | None = None
    source: str = "manual"  # manual | webhook | backfill
    attempts: int = 0


class ReconcileQueue:
    def __init__(self, r: redis.Redis, *, clock: Callable[[], float] = time.time, lease_s: float = 600.0) -> None:
        self.r, self.clock, self.lease_s = r, clock, lease_s
        self._claim = r.register_script(_CLAIM)

    def add(self, job: ReconcileJob, *, due: float | None = None, force: bool = False) -> bool:
        """Queue ``job`` (due now unless ``due``); False when it is already done and not ``force``d. A job
        already queued keeps the earlier due time and gains any meeting window it lacked."""
        if not force and self.r.hexists(keys.RECONCILE_DONE, job.uuid):
            return False
        fields = {k: v for k, v in (("meeting_id", job.meeting_id), ("start_time", job.start_time),
                                    ("end_time", job.end_time), ("source", job.source)) if v is not None}
        pipe = self.r.pipeline()
        pipe.hset(keys.reconcile_job(job.uuid), mapping=fields)
        pipe.hsetnx(keys.reconcile_job(job.uuid), "attempts", 0)
        if force:
            pipe.hdel(keys.RECONCILE_DONE, job.uuid)
        pipe.zadd(keys.RECONCILE_PENDING, {job.uuid: self.clock() if due is None else due}, lt=True)  # adds new ones
        pipe.execute()
        return True

    def add_many(self, uuids: list[str], *, source: str = "backfill") -> int:
        """Queue many instances at once (by UUID only); returns how many were new work."""
        done = set(self.r.hkeys(keys.RECONCILE_DONE))
        todo = [u for u in uuids if u not in done]
        now = self.clock()
        pipe = self.r.pipeline()
        for u in todo:
            pipe.hsetnx(keys.reconcile_job(u), "source", source)
            pipe.hsetnx(keys.reconcile_job(u), "attempts", 0)
            pipe.zadd(keys.RECONCILE_PENDING, {u: now}, nx=True)
        pipe.execute()
        return len(todo)

    def claim(self) -> ReconcileJob | None:
        now = self.clock()
        uuid = self._claim(keys=[keys.RECONCILE_PENDING, keys.RECONCILE_INFLIGHT], args=[now, now + self.lease_s])
        if uuid is None:
            return None
        h = self.r.hgetall(keys.reconcile_job(uuid))
        attempts = self.r.hincrby(keys.reconcile_job(uuid), "attempts", 1)
        return ReconcileJob(uuid=uuid, meeting_id=h.get("meeting_id"), start_time=h.get("start_time"),
                            end_time=h.get("end_time"), source=h.get("source", "manual"), attempts=attempts)

    def complete(self, uuid: str, summary: dict) -> None:
        pipe = self.r.pipeline()
        pipe.zrem(keys.RECONCILE_INFLIGHT, uuid)
        pipe.hset(keys.RECONCILE_DONE, uuid, json.dumps({"at": self.clock(), **summary}))
        pipe.hdel(keys.RECONCILE_FAILED, uuid)
        pipe.delete(keys.reconcile_job(uuid))
        pipe.execute()

    def release(self, uuid: str, *, due: float | None = None, undo_attempt: bool = True) -> None:
        """Back to pending (due now unless ``due``); the claim's attempt is not counted."""
        pipe = self.r.pipeline()
        pipe.zrem(keys.RECONCILE_INFLIGHT, uuid)
        pipe.zadd(keys.RECONCILE_PENDING, {uuid: self.clock() if due is None else due})
        if undo_attempt:
            pipe.hincrby(keys.reconcile_job(uuid), "attempts", -1)
        pipe.execute()

    def fail(self, uuid: str, reason: str) -> None:
        """A job that cannot succeed (the meeting is unknown to Zoom, or too old): kept with its reason."""
        pipe = self.r.pipeline()
        pipe.zrem(keys.RECONCILE_INFLIGHT, uuid)
        pipe.hset(keys.RECONCILE_FAILED, uuid, json.dumps({"at": self.clock(), "reason": reason}))
        pipe.execute()

    def counts(self) -> dict[str, int]:
        now = self.clock()
        pipe = self.r.pipeline()
        pipe.zcount(keys.RECONCILE_PENDING, "-inf", now)
        pipe.zcard(keys.RECONCILE_PENDING)
        pipe.zcard(keys.RECONCILE_INFLIGHT)
        pipe.hlen(keys.RECONCILE_DONE)
        pipe.hlen(keys.RECONCILE_FAILED)
        due, pending, inflight, done, failed = pipe.execute()
        return {"due": due, "pending": pending, "in_flight": inflight, "done": done, "failed": failed}

    def next_due(self) -> float | None:
        first = self.r.zrange(keys.RECONCILE_PENDING, 0, 0, withscores=True)
        return first[0][1] if first else None
