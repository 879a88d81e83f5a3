"""Webhook deliveries the receiver refused, kept so reconciliation can make up for them
(``orchestrator/reconciliation/hints.py``).

Zoom retries a delivery only after a 5xx or a network error, never after a 4xx: a refused event is lost
for good. So every refusal is recorded (``webhooks:refused``, a capped stream: why, the answer, whether
the signature held, the event and meeting the body claims, Zoom's tracking id; never the body), and a
meeting instance UUID the body names becomes a hint: "look at this meeting later". An unverified body is
used for nothing else, and a verified but stale one (possibly a replay) no more: the truth comes from
Zoom's API. A new refusal naming a hinted meeting brings its next look forward, so a refused
``meeting.ended`` is followed up at once even after refusals during the meeting.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import redis
import structlog

from orchestrator import keys

log = structlog.get_logger(__name__)

REFUSED_MAXLEN = 10_000
HINTS_MAX = 10_000  # beyond this, new hints are dropped (an unsigned flood cannot grow Redis)
FIRST_LOOK_S = 60.0  # Zoom answers for an instance once it has ended

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
