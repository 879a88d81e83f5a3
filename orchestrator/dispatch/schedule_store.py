"""Schedules: when a bot should be in which meeting, in Redis (key names in ``orchestrator/keys.py``).

A schedule is one meeting instance: its id is the meeting number and the instance's start, so adding
the same occurrence again (a calendar resync, a repeated command) changes it rather than adding a
second. Due schedules sit in a sorted set by join time; ``take_due`` moves them atomically into the job
stream, so with several orchestrators each due schedule becomes exactly one job.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

import redis
from pydantic import BaseModel, field_validator

from orchestrator import keys

Kind = Literal["zoom", "scenario", "rtms"]
Status = Literal["scheduled", "dispatched", "cancelled", "ended", "duplicate"]  # duplicate: its meeting had a bot

# What a schedule from outside (the API, the command line) may ask for. A start in the past would send a
# bot at once to a meeting long over, and lists (a week back) would not show it; the minute's grace is for
# "+0" and clock skew. Years ahead or a length over a day is a typo, and its date arithmetic can overflow.
PAST_GRACE = timedelta(minutes=1)
MAX_AHEAD = timedelta(days=731)
MAX_LENGTH_S = 86_400.0  # a meeting's expected length, and a bot's lead before the start


def start_problem(start: datetime, now: datetime) -> str | None:
    """Why a bot cannot be scheduled for a meeting starting at ``start`` (with a time zone), or None."""
    if start < now - PAST_GRACE:
        return (f"{start.isoformat()} is in the past; for a meeting under way give the time now (+0) and "
                "what is left of it as the duration")
    if start > now + MAX_AHEAD:
        return f"{start:%Y-%m-%d} is more than {MAX_AHEAD.days} days ahead"
    return None


# KEYS: due set, job stream, active set. ARGV: now, limit, stream max length, schedule key prefix. Every
# due schedule becomes a job.
_TAKE_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #ids, 2 do
  local id, due = ids[i], ids[i + 1]
  redis.call('ZREM', KEYS[1], id)
  redis.call('HSET', ARGV[4] .. id, 'status', 'dispatched')
  redis.call('SADD', KEYS[3], id)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'schedule', id, 'due', due, 'queued', ARGV[1], 'attempt', '1')
  table.insert(out, id)
end
return out
"""


# KEYS: state hash, spec, due set, all set. ARGV: id, spec JSON, meeting id, join at, start at.
# Returns 0 left as it was (dispatched, ended, duplicate), 1 new (or re-enabled after a cancel), 2 updated.
_ADD = """
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'dispatched' or st == 'ended' or st == 'duplicate' then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'status', 'scheduled', 'meeting_id', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
if (not st) or st == 'cancelled' then return 1 end
return 2
"""


class RtmsTarget(BaseModel):
    """The stream an RTMS worker opens (``meeting.rtms_started``); ``started_ms`` is its media time 0."""

    meeting_uuid: str
    stream_id: str
    server_urls: str
    started_ms: int


class Schedule(BaseModel):
    meeting_id: str
    start_at: datetime
    join_at: datetime
    end_at: datetime  # expected end: how long a replacement bot is worth sending
    kind: Kind = "zoom"
    topic: str = ""
    scenario: str | None = None  # absolute path, for kind "scenario"
    passcode: str | None = None
    asr: bool = True
    policy: str | None = None  # a training (Zoom): "default" or a policy file on the bot's host
    source: str = "manual"  # manual | calendar | webhook
    owner: str | None = None  # the trainer (Zoom user) whose calendar it came from
    status: Status = "scheduled"
    rtms: RtmsTarget | None = None  # for kind "rtms": the stream its worker receives
    # a Zoom meeting observed by a bot ("zoom_sdk") or through the RTMS stream its host starts ("rtms": no bot
    # is sent; the stream's worker takes this schedule's ASR and policy)
    transport: Literal["zoom_sdk", "rtms"] = "zoom_sdk"

    @field_validator("start_at", "join_at", "end_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("times need a time zone")
        return v.astimezone(UTC)

    @property
    def id(self) -> str:
        """One schedule per meeting instance; for a stream, one per stream (Zoom may announce it again)."""
        return f"rtms-{self.rtms.stream_id}" if self.rtms is not None else schedule_id(self.meeting_id, self.start_at)


def schedule_id(meeting_id: str, start_at: datetime) -> str:
    return f"{meeting_id}@{start_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


class ScheduleStore:
    def __init__(self, r: redis.Redis, *, clock: Callable[[], float] = time.time) -> None:
        self.r, self.clock = r, clock
        self._take = r.register_script(_TAKE_DUE)
        self._add = r.register_script(_ADD)

    def add(self, s: Schedule) -> tuple[str, bool]:
        """Store ``s``; returns its id and whether it is new. A schedule not yet dispatched takes the new
        times (a moved session); one already dispatched (or ended, or a duplicate) is left as it is. One
        Lua step, so a dispatch at the same moment cannot be undone by it."""
        sid = s.id
        waits = s.transport == "rtms" and s.rtms is None  # never due: the stream's start sends its worker
        outcome = self._add(keys=[keys.schedule(sid), keys.schedule(sid) + ":spec", keys.SCHEDULES_DUE, keys.SCHEDULES],
                            args=[sid, s.model_dump_json(), s.meeting_id, "+inf" if waits else s.join_at.timestamp(),
                                  s.start_at.timestamp()])
        if waits:
            self.r.set(keys.rtms_meeting(s.meeting_id), sid, exat=int(s.end_at.timestamp()) + 1)
        return sid, outcome == 1

    def get(self, sid: str) -> Schedule | None:
        raw, status = self.r.get(keys.schedule(sid) + ":spec"), self.r.hget(keys.schedule(sid), "status")
        if raw is None:
            return None
        return Schedule.model_validate({**json.loads(raw), "status": status or "scheduled"})

    def cancel(self, sid: str) -> bool:
        """Cancel a schedule; a bot already sent is not recalled (stop it with its job). A schedule that
        chose RTMS for its meeting no longer does."""
        s = self.get(sid)
        if s is None:
            return False
        pipe = self.r.pipeline()
        pipe.zrem(keys.SCHEDULES_DUE, sid)
        pipe.hset(keys.schedule(sid), "status", "cancelled")
        if s.transport == "rtms" and s.rtms is None and self.r.get(keys.rtms_meeting(s.meeting_id)) == sid:
            pipe.delete(keys.rtms_meeting(s.meeting_id))
        pipe.execute()
        return True

    def mark(self, sid: str, status: Status) -> None:
        self.r.hset(keys.schedule(sid), "status", status)

    def take_due(self, limit: int = 500) -> list[str]:
        """Turn every due schedule into a job on the stream (atomically: exactly once across processes)."""
        return self._take(keys=[keys.SCHEDULES_DUE, keys.JOB_STREAM, keys.SCHEDULES_ACTIVE], args=[f"{self.clock():.6f}", limit, 100_000,
                                                                          keys.schedule("")])

    def next_due(self) -> float | None:
        first = self.r.zrange(keys.SCHEDULES_DUE, 0, 0, withscores=True)
        return first[0][1] if first else None

    def all(self, *, since: datetime | None = None) -> list[tuple[str, Schedule]]:
        lo = (since or datetime.now(UTC) - timedelta(days=7)).timestamp()
        out = []
        for sid in self.r.zrangebyscore(keys.SCHEDULES, lo, "+inf"):
            s = self.get(sid)
            if s is not None:
                out.append((sid, s))
        return out
