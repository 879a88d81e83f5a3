"""The reconciliation work queue in Redis, shared by every reconciler process.

A job is one meeting instance (its UUID). ``add`` makes it due at a time (``meeting.ended`` plus a delay,
or now); ``claim`` hands each due job to exactly one process under a lease, so two reconcilers never
work on the same meeting and a crashed one's job comes back when its lease runs out. A job added again
while it runs is not queued beside it: it runs again once the first run completes. ``complete`` records it
done (a rerun skips it), optionally queueing a later pass; ``release`` puts a job back (the daily API cap
stopped the run, or a transient failure); ``fail`` keeps a job that cannot succeed with its reason.
Every change of state is one Lua script, so concurrent processes never see half of one.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from orchestrator import keys

# KEYS: pending, inflight, done, job. ARGV: uuid, due, force ("1"/"0"), then field/value pairs.
# Returns 0 already done, 1 queued, 2 running now (it will run again after).
_ADD = """
if ARGV[3] ~= '1' and redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 0 end
if ARGV[3] == '1' then redis.call('HDEL', KEYS[3], ARGV[1]) end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]) end
redis.call('HSETNX', KEYS[4], 'attempts', 0)
redis.call('HSETNX', KEYS[4], 'pass', 1)
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('HSET', KEYS[4], 'rerun', ARGV[2])
  return 2
end
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not cur or tonumber(ARGV[2]) < tonumber(cur) then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end
return 1
"""

# KEYS: pending, inflight. ARGV: now, lease end. Requeue expired leases, then claim the earliest due job.
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

# KEYS: pending, inflight, done, failed, job. ARGV: uuid, summary, again-at ("" = no later pass).
_COMPLETE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[1])
local rerun = redis.call('HGET', KEYS[5], 'rerun')
if rerun then
  redis.call('HDEL', KEYS[5], 'rerun')
  redis.call('HSET', KEYS[5], 'attempts', 0)
  redis.call('ZADD', KEYS[1], rerun, ARGV[1])
  return 2
end
if ARGV[3] ~= '' then
  redis.call('HINCRBY', KEYS[5], 'pass', 1)
  redis.call('HSET', KEYS[5], 'attempts', 0)
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 3
end
redis.call('DEL', KEYS[5])
return 1
"""


@dataclass(frozen=True)
class ReconcileJob:
    uuid: str
    meeting_id: str | None = None
    start_time: str | None = None  # from meeting.ended, when a webhook brought the job
    end_time: str | None = None
    source: str = "manual"  # manual | webhook | backfill
    attempts: int = 0
    pass_no: int = 1  # webhook jobs run a second pass later, for rows Zoom adds late


class ReconcileQueue:
    def __init__(self, r: redis.Redis, *, clock: Callable[[], float] = time.time, lease_s: float = 600.0) -> None:
        self.r, self.clock, self.lease_s = r, clock, lease_s
        self._add = r.register_script(_ADD)
        self._claim = r.register_script(_CLAIM)
        self._complete = r.register_script(_COMPLETE)

    def _add_keys(self, uuid: str) -> list[str]:
        return [keys.RECONCILE_PENDING, keys.RECONCILE_INFLIGHT, keys.RECONCILE_DONE, keys.reconcile_job(uuid)]

    def add(self, job: ReconcileJob, *, due: float | None = None, force: bool = False) -> bool:
        """Queue ``job`` (due now unless ``due``); False when it is already done and not ``force``d. A job
        already queued keeps the earlier due time and gains any meeting window it lacked; one running now
        runs again after."""
        fields = [x for k, v in (("meeting_id", job.meeting_id), ("start_time", job.start_time),
                                 ("end_time", job.end_time), ("source", job.source)) if v is not None for x in (k, v)]
        when = self.clock() if due is None else due
        return self._add(keys=self._add_keys(job.uuid), args=[job.uuid, when, "1" if force else "0", *fields]) != 0

    def add_many(self, uuids: list[str], *, source: str = "backfill") -> int:
        """Queue many instances at once (by UUID only); returns how many were new work."""
        now = self.clock()
        pipe = self.r.pipeline(transaction=False)
        for u in uuids:
            self._add(keys=self._add_keys(u), args=[u, now, "0", "source", source], client=pipe)
        return sum(1 for x in pipe.execute() if x != 0)

    def claim(self) -> ReconcileJob | None:
        now = self.clock()
        uuid = self._claim(keys=[keys.RECONCILE_PENDING, keys.RECONCILE_INFLIGHT], args=[now, now + self.lease_s])
        if uuid is None:
            return None
        h = self.r.hgetall(keys.reconcile_job(uuid))
        attempts = self.r.hincrby(keys.reconcile_job(uuid), "attempts", 1)
        return ReconcileJob(uuid=uuid, meeting_id=h.get("meeting_id"), start_time=h.get("start_time"),
                            end_time=h.get("end_time"), source=h.get("source", "manual"), attempts=attempts,
                            pass_no=int(h.get("pass", 1)))

    def complete(self, uuid: str, summary: dict, *, again_at: float | None = None) -> None:
        """Done; with ``again_at``, the job is queued for another pass then."""
        self._complete(keys=[keys.RECONCILE_PENDING, keys.RECONCILE_INFLIGHT, keys.RECONCILE_DONE,
                             keys.RECONCILE_FAILED, keys.reconcile_job(uuid)],
                       args=[uuid, json.dumps({"at": self.clock(), **summary}), "" if again_at is None else again_at])

    def release(self, uuid: str, *, due: float | None = None, undo_attempt: bool = True) -> None:
        """Back to pending (due now unless ``due``); with ``undo_attempt`` the claim is not counted."""
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
