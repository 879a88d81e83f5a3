"""Webhook deliveries the receiver refused, and how reconciliation makes up for them.

Zoom retries a delivery only after a 5xx or a network error, never after a 4xx: a refused event is lost
for good. So every refusal is recorded (``webhooks:refused``, a capped stream: why, the answer, whether
the signature held, the event and meeting the body claims, Zoom's tracking id; never the body), and a
meeting instance UUID the body names becomes a hint: "look at this meeting later". An unverified body is
used for nothing else, and a verified but stale one (possibly a replay) no more: the truth comes from
Zoom's API. Each reconciler run asks Zoom (the Light details call) about due hints: an instance Zoom says
has ended is queued like a ``meeting.ended`` job; one it does not know (still running, or never existed)
is asked about again later, backing off, and forgotten two days after its first refusal. A new refusal
naming a hinted meeting brings its next look forward, so a refused ``meeting.ended`` is followed up at
once even after refusals during the meeting.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import redis

from orchestrator import keys
from orchestrator.reconcile_queue import ReconcileJob, ReconcileQueue
from orchestrator.zoom_api import AccessRefused, ZoomApi, ZoomApiError

log = logging.getLogger(__name__)

REFUSED_MAXLEN = 10_000
HINTS_MAX = 10_000  # beyond this, new hints are dropped (an unsigned flood cannot grow Redis)
FIRST_LOOK_S = 60.0  # Zoom answers for an instance once it has ended
LOOK_AGAIN_S = 15 * 60.0  # then 30, 60 … minutes, at most six hours apart
HINT_TTL_S = 2 * 86400.0
LEASE_S = 300.0  # a hint being looked at is not handed to another process meanwhile

_UUID = re.compile(r"[A-Za-z0-9+/=_-]{1,64}")
_MEETING_ID = re.compile(r"[0-9]{1,20}")
_EVENT = re.compile(r"[a-z_]{1,32}(\.[a-z_]{1,48}){1,2}")
_TRACKING = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Refusal:
    reason: str  # too_large | bad_length | unsigned | bad_signature | stale | not_json | not_event | no_plain_token
    status: int  # the HTTP answer
    verified: bool  # the signature held (the body is Zoom's, if perhaps old)
    event: str | None = None  # as the body claims
    meeting_uuid: str | None = None
    meeting_id: str | None = None
    tracking_id: str | None = None  # x-zm-trackingid, for Zoom's support


def _text(value: Any, pattern: re.Pattern[str]) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def refusal(reason: str, status: int, *, verified: bool, body: bytes = b"", tracking_id: str | None = None) -> Refusal:
    """What may be read from a refused request: the event and meeting its body names, each only if it has
    the form Zoom gives it (never anything else from the body)."""
    try:
        envelope = _mapping(json.loads(body)) if body else {}
    except (ValueError, RecursionError):
        envelope = {}
    payload = _mapping(envelope.get("payload"))
    obj = _mapping(payload.get("object"))
    uuid = _text(obj.get("uuid"), _UUID) or _text(payload.get("meeting_uuid", obj.get("meeting_uuid")), _UUID)
    meeting_id = _text(obj.get("id"), _MEETING_ID) or _text(payload.get("meeting_id", obj.get("meeting_id")),
                                                           _MEETING_ID)
    return Refusal(reason, status, verified, _text(envelope.get("event"), _EVENT), uuid, meeting_id,
                   _text(tracking_id, _TRACKING))


# KEYS: hints, seen. ARGV: uuid, next look, max hints, now. Adds a hint, or brings an existing one's next
# look forward (its backoff starts again); returns 1 added, 0 known, -1 dropped (full).
_HINT = """
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if cur then
  if tonumber(ARGV[2]) < tonumber(cur) then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
    local seen = cjson.decode(redis.call('HGET', KEYS[2], ARGV[1]) or '{}')
    redis.call('HSET', KEYS[2], ARGV[1], cjson.encode({first = seen.first or tonumber(ARGV[4]), looks = 0}))
  end
  return 0
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode({first = tonumber(ARGV[4]), looks = 0}))
return 1
"""

# KEYS: hints. ARGV: now, lease end, limit. The due hints, each leased so no other process takes it.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, u in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], u) end
return due
"""


def record(r: redis.Redis, refused: Refusal, now: float) -> None:
    """Keep the refusal, and its meeting instance as a hint."""
    fields = {"at": f"{now:.3f}", "reason": refused.reason, "status": str(refused.status),
              "verified": "1" if refused.verified else "0"}
    fields |= {k: v for k, v in (("event", refused.event), ("meeting_uuid", refused.meeting_uuid),
                                 ("meeting_id", refused.meeting_id), ("tracking_id", refused.tracking_id)) if v}
    r.xadd(keys.WEBHOOK_REFUSED, fields, maxlen=REFUSED_MAXLEN, approximate=True)
    if refused.meeting_uuid and r.eval(_HINT, 2, keys.WEBHOOK_HINTS, keys.WEBHOOK_HINTS_SEEN, refused.meeting_uuid,
                                       now + FIRST_LOOK_S, HINTS_MAX, now) == -1:
        log.warning("webhook refusal hints are full (%d); meeting %s not followed up", HINTS_MAX, refused.meeting_uuid)


def record_quietly(r: redis.Redis, refused: Refusal, now: float) -> None:
    """``record``, for the receiver: a Redis error must not turn a refusal into a 500."""
    try:
        record(r, refused, now)
    except redis.RedisError as exc:
        log.warning("webhook refusal (%s) not recorded: %s", refused.reason, type(exc).__name__)


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
