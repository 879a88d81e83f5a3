"""Meetings named by refused webhooks (``orchestrator/webhooks/refusals.py``), looked at through Zoom's API.

Each reconciler run asks Zoom (the Light details call) about the due hints: an instance Zoom says has
ended is queued like a ``meeting.ended`` job; one it does not know (still running, or never existed) is
asked about again later, backing off, and forgotten two days after its first refusal.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import redis
import structlog

from orchestrator import keys
from orchestrator.reconciliation.queue import ReconcileJob, ReconcileQueue
from orchestrator.zoom.api import AccessRefused, ZoomApi, ZoomApiError

log = structlog.get_logger(__name__)

LOOK_AGAIN_S = 15 * 60.0  # after the first look, 30, 60 … minutes, at most six hours apart
HINT_TTL_S = 2 * 86400.0
LEASE_S = 300.0  # a hint being looked at is not handed to another process meanwhile

# KEYS: hints. ARGV: now, lease end, limit. The due hints, each leased so no other process takes it.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, u in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], u) end
return due
"""


@dataclass
class FollowUp:
    queued: int = 0  # ended instances queued for reconciliation
    waiting: int = 0  # not known to Zoom yet: looked at again later
    forgotten: int = 0  # done already, or unknown for two days


def follow_up(api: ZoomApi, queue: ReconcileQueue, *, limit: int = 50) -> FollowUp:
    """Ask Zoom about the due hints. ``AccessRefused`` (and what else stops a reconciler run: refused
    credentials, the daily cap) propagates, with the hint left leased for a later run."""
    r, now, done = queue.r, queue.clock(), FollowUp()
    for uuid in r.eval(_CLAIM, 1, keys.WEBHOOK_HINTS, now, now + LEASE_S, limit):
        try:
            details = api.past_meeting(uuid)
        except AccessRefused:
            raise
        except ZoomApiError:  # 3001: not ended yet, or never existed; anything else: ask again later
            details = None
        if details is not None:
            job = ReconcileJob(uuid=uuid, meeting_id=details.id, source="hint",
                               start_time=details.start_time.isoformat() if details.start_time else None,
                               end_time=details.end_time.isoformat() if details.end_time else None)
            added = queue.add(job)  # False: reconciled already (its meeting.ended did get through)
            _forget(r, uuid)
            if added:
                done.queued += 1
                log.info("refused webhook's meeting %s has ended; reconciliation queued", uuid)
            else:
                done.forgotten += 1
            continue
        seen = json.loads(r.hget(keys.WEBHOOK_HINTS_SEEN, uuid) or "{}")
        first, looks = float(seen.get("first", now)), int(seen.get("looks", 0)) + 1
        if now - first >= HINT_TTL_S:
            _forget(r, uuid)
            done.forgotten += 1
            log.info("refused webhook's meeting %s still unknown to Zoom after two days; forgotten", uuid)
            continue
        pipe = r.pipeline()
        pipe.zadd(keys.WEBHOOK_HINTS, {uuid: now + min(6 * 3600.0, LOOK_AGAIN_S * 2 ** (looks - 1))})
        pipe.hset(keys.WEBHOOK_HINTS_SEEN, uuid, json.dumps({"first": first, "looks": looks}))
        pipe.execute()
        done.waiting += 1
    return done


def _forget(r: redis.Redis, uuid: str) -> None:
    pipe = r.pipeline()
    pipe.zrem(keys.WEBHOOK_HINTS, uuid)
    pipe.hdel(keys.WEBHOOK_HINTS_SEEN, uuid)
    pipe.execute()
