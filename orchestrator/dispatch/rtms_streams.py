"""RTMS streams: one worker per stream, started by ``meeting.rtms_started``, ended by ``rtms_stopped``.

Zoom starts a stream and says so by webhook; its worker is a bot job like any other (a local process or
a Kubernetes Job; the same heartbeat, replacement and report path) whose schedule is keyed by the stream.
A repeated event (Zoom retries; the receiver deduplicates deliveries, not events) changes nothing, and with
several orchestrators one Lua step decides. An ``rtms_started`` for a known stream with other server URLs
is Zoom's failover: the schedule takes the new URLs, and the replacement that the dropped worker's exit
(30) brings connects to them. ``rtms_stopped`` ends the schedule: no replacement after it, and a worker
still receiving after a grace period (Zoom's servers end the stream themselves) is told to leave by the
dispatcher.

Which meetings are observed this way is configuration: ``ROLLCALL_RTMS_ACCOUNTS`` (Zoom account ids, or
``*``), or a schedule with ``transport: rtms`` for the meeting (its worker takes that schedule's ASR and
policy); a stream of any other meeting is logged and left alone.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

import redis
import structlog

from orchestrator import keys
from orchestrator.paths import InvalidIdentifier, check_id
from orchestrator.dispatch.schedule_store import MAX_LENGTH_S, RtmsTarget, Schedule, ScheduleStore
from orchestrator.webhooks.events import RtmsEvent, parse_event

log = structlog.get_logger(__name__)

STREAM_TTL_S = 7 * 86400

Outcome = Literal["started", "duplicate", "failover", "stopped", "ignored"]

RESTART_REASONS = {*range(10, 18), 19, 24}  # a stream stopped by these is to be reconnected (Zoom's rules; not
#   18, a refused handshake, which another connection cannot fix)
MAX_UUID, MAX_URLS = 256, 2048
MAX_STREAM_AGE_S = 86_400.0  # an event_ts further than this from now is not the stream's start

# KEYS: stream hash. ARGV: server URLs, meeting uuid, meeting id, started (ms), TTL.
# Returns 1 new, 0 already known with these URLs or stopped (a stop may arrive first), 2 known with other
# URLs (failover), 3 known for another meeting (refused: a stream's servers change only with its meeting).
_STARTED = """
if redis.call('HGET', KEYS[1], 'status') == 'stopped' then return 0 end
local urls = redis.call('HGET', KEYS[1], 'server_urls')
if not urls then
  redis.call('HSET', KEYS[1], 'server_urls', ARGV[1], 'meeting_uuid', ARGV[2], 'meeting_id', ARGV[3],
             'started_ms', ARGV[4], 'status', 'started')
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
  return 1
end
if redis.call('HGET', KEYS[1], 'meeting_uuid') ~= ARGV[2] then return 3 end
if urls == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'server_urls', ARGV[1])
return 2
"""


class RtmsStreams:
    def __init__(self, r: redis.Redis, *, accounts: Sequence[str], asr: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self.r, self.accounts, self.asr, self.clock = r, set(accounts), asr, clock
        self.schedules = ScheduleStore(r, clock=clock)
        self._started = r.register_script(_STARTED)

    def on_webhook(self, envelope: dict) -> Outcome:
        """The consumer's hook for ``RTMS_EVENTS`` (idempotent, order-tolerant)."""
        event = parse_event(envelope)
        if not isinstance(event, RtmsEvent):
            return "ignored"
        p = event.payload
        if not (p.meeting_uuid and p.rtms_stream_id):
            log.warning("rtms webhook without a meeting uuid or stream id; ignored", webhook=event.event)
            return "ignored"
        try:  # the stream names its schedule, its worker's job and its folder
            check_id(p.rtms_stream_id, "rtms_stream_id")
            if p.meeting_id is not None:
                check_id(p.meeting_id, "meeting_id")
        except InvalidIdentifier as exc:
            log.warning("rtms webhook refused: %s", exc)
            return "ignored"
        if event.event == "meeting.rtms_stopped":
            return self._stopped(p.rtms_stream_id, p.stop_reason)
        meeting_id = p.meeting_id or f"uuid:{p.meeting_uuid}"  # payloads before 2026-05 carry no number
        planned = self._planned(meeting_id)
        if planned is None and "*" not in self.accounts and p.account_id not in self.accounts:
            log.info("rtms stream of a meeting not observed through RTMS (no schedule chose it, the account is not "
                     "in ROLLCALL_RTMS_ACCOUNTS); ignored", stream=p.rtms_stream_id)
            return "ignored"
        if not p.server_urls or not p.server_urls.startswith("wss://") or len(p.server_urls) > MAX_URLS \
                or len(p.meeting_uuid) > MAX_UUID:
            log.warning("rtms_started without usable server_urls or meeting uuid; ignored", stream=p.rtms_stream_id)
            return "ignored"
        now_ms = round(self.clock() * 1000)
        started_ms = event.event_ts if event.event_ts and abs(event.event_ts - now_ms) <= MAX_STREAM_AGE_S * 1000 \
            else now_ms
        outcome = int(self._started(keys=[keys.rtms_stream(p.rtms_stream_id)],
                                    args=[p.server_urls, p.meeting_uuid, meeting_id, started_ms, STREAM_TTL_S]))
        if outcome == 1:
            target = RtmsTarget(meeting_uuid=p.meeting_uuid, stream_id=p.rtms_stream_id, server_urls=p.server_urls,
                                started_ms=started_ms)
            start = datetime.fromtimestamp(started_ms / 1000, UTC)
            now = datetime.fromtimestamp(self.clock(), UTC)
            end = planned.end_at if planned and planned.end_at > now else start + timedelta(seconds=MAX_LENGTH_S)
            sid, _ = self.schedules.add(Schedule(
                meeting_id=meeting_id, start_at=start, join_at=now, end_at=end,
                kind="rtms", source="webhook", rtms=target, transport="rtms",
                asr=planned.asr if planned else self.asr, policy=planned.policy if planned else None,
                topic=planned.topic if planned else ""))
            log.info("rtms stream started: a worker is due", schedule=sid)
            return "started"
        if outcome == 2:  # the stream (and its media time 0) goes on, from other servers
            self._update(f"rtms-{p.rtms_stream_id}", lambda s: {"rtms": s.rtms.model_copy(
                update={"server_urls": p.server_urls})} if s.rtms is not None else {})
            log.warning("rtms stream announced again with new servers (failover)", stream=p.rtms_stream_id)
            return "failover"
        if outcome == 3:
            log.warning("rtms_started names a known stream of another meeting; ignored", stream=p.rtms_stream_id)
            return "ignored"
        log.info("rtms stream already known; nothing to do", stream=p.rtms_stream_id)
        return "duplicate"

    def _planned(self, meeting_id: str) -> Schedule | None:
        """The schedule that chose RTMS for this meeting, if one did."""
        sid = self.r.get(keys.rtms_meeting(meeting_id))
        s = self.schedules.get(sid) if sid else None
        return s if s is not None and s.status == "scheduled" else None

    def _stopped(self, stream_id: str, reason: int | None) -> Outcome:
        if reason in RESTART_REASONS:  # the worker's own exit (30) brings a replacement that reconnects
            log.warning("rtms stream interrupted; its worker is replaced", stream=stream_id, stop_reason=reason)
            return "ignored"
        self.r.hset(keys.rtms_stream(stream_id), mapping={"status": "stopped", "stop_reason": reason or 0,
                                                          "stopped_at": f"{self.clock():.3f}"})
        self.r.expire(keys.rtms_stream(stream_id), STREAM_TTL_S)
        self._update(f"rtms-{stream_id}", lambda s: {"end_at": datetime.fromtimestamp(self.clock(), UTC)})
        log.info("rtms stream stopped: no replacement after this", stream=stream_id, stop_reason=reason)
        return "stopped"

    def _update(self, sid: str, changes: Callable[[Schedule], dict[str, object]]) -> None:
        """A stream's schedule, changed in place whatever its status (it is usually dispatched)."""
        s = self.schedules.get(sid)
        if s is not None:
            self.r.set(keys.schedule(sid) + ":spec", s.model_copy(update=changes(s)).model_dump_json())
