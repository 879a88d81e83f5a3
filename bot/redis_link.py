"""The bot's line to the orchestrator, through Redis (key names: ``orchestrator/keys.py``).

- a heartbeat: the job's lease key (TTL ``lease_s``) and the meeting's one-bot lock are renewed every
  ``flush_every_s``; when they lapse the orchestrator takes the bot for dead;
- the observation log (every event, final talk turn and transcript line, as in events.jsonl) goes to a
  stream in batches every ``flush_every_s``, so a crash loses at most that much;
- every live snapshot is published on the meeting's channel and kept in its capped stream;
- at the end, the report goes to the report store and the job is marked finished.

Redis may be away for a while (a restart): nothing here raises. Observations wait in memory and go out
when it is back; live snapshots in between are skipped (a newer one follows within a second).
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from analysis.live import LiveSnapshot
from orchestrator import keys

log = logging.getLogger(__name__)
LIVE_STREAM_MAX = 1000

# KEYS: lock. ARGV: job, ttl. Renew the meeting's lock if it is ours (or free again after a Redis restart).
_RENEW = """
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class BotLink:
    def __init__(self, r: redis.Redis, job_id: str, meeting_id: str, *, lease_s: float = 15.0,
                 flush_every_s: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self.r, self.job, self.meeting = r, job_id, meeting_id
        self.lease_s, self.flush_every_s, self.clock = lease_s, flush_every_s, clock
        self._buffer: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bot-link", daemon=True)
        self.media_s = 0.0  # media time of the latest snapshot: the log is complete up to it
        self._flushed_media_s = -1.0
        self.snapshots_skipped = 0

    # ---- the pipeline's sinks --------------------------------------------------------------------------
    def log(self, record: dict) -> None:
        with self._lock:
            self._buffer.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False))

    def snapshot(self, snap: LiveSnapshot) -> None:
        with self._lock:  # everything before this media time has been logged: the next flush covers it
            self.media_s = max(self.media_s, snap.t)
        body = snap.model_dump_json()
        try:
            pipe = self.r.pipeline(transaction=False)
            pipe.publish(keys.live_channel(self.meeting), body)
            pipe.xadd(keys.live_stream(self.meeting), {"job": self.job, "snapshot": body}, maxlen=LIVE_STREAM_MAX,
                      approximate=True)
            pipe.execute()
        except redis.RedisError:
            self.snapshots_skipped += 1

    def note(self, **state: Any) -> None:
        """Record facts about the job (e.g. when it got into the meeting); best effort."""
        try:
            self.r.hset(keys.bot(self.job), mapping=state)
        except redis.RedisError:
            log.warning("could not record %s; Redis unavailable", ", ".join(state))

    # ---- the heartbeat -----------------------------------------------------------------------------------
    def start(self, **state: Any) -> None:
        self._beat(status="running", **state)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_every_s):
            self._beat()
            self.flush()

    def _beat(self, **state: Any) -> bool:
        try:
            pipe = self.r.pipeline(transaction=False)
            pipe.set(keys.bot_lease(self.job), f"{self.clock():.3f}", ex=max(1, round(self.lease_s)))
            pipe.eval(_RENEW, 1, keys.meeting_lock(self.meeting), self.job, max(1, round(self.lease_s)))
            pipe.hset(keys.bot(self.job), mapping={"heartbeat_at": f"{self.clock():.3f}", **state})
            pipe.execute()
            return True
        except redis.RedisError as exc:
            log.warning("heartbeat failed (%s); will retry", type(exc).__name__)
            return False

    def flush(self) -> bool:
        """Send what was logged since the last flush; True when nothing is left waiting."""
        with self._lock:
            batch, self._buffer = self._buffer, []
            media_s = self.media_s
        if not batch and media_s == self._flushed_media_s:
            return True
        try:
            pipe = self.r.pipeline(transaction=False)
            for line in batch:
                pipe.xadd(keys.bot_observations(self.job), {"r": line})
            pipe.hset(keys.bot(self.job), "flushed_media_s", f"{media_s:.3f}")  # the log is complete up to here
            pipe.execute()
            self._flushed_media_s = media_s
            return True
        except redis.RedisError:
            # a pipeline is not atomic: some entries may be in; resending them is harmless because
            # readers take events and turns by their media time, and a duplicate line is the same line
            with self._lock:
                self._buffer = batch + self._buffer
            return False

    # ---- the end -------------------------------------------------------------------------------------
    def finish(self, report: dict | None, *, status: str, exit_code: int, reason: str = "",
               give_up_after_s: float = 60.0) -> bool:
        """Stop the heartbeat, send the rest (retrying while Redis is away, up to ``give_up_after_s``),
        store the report, mark the job ended and free the meeting. False if Redis never came back.
        ``status``: "finished" (the meeting ended, or the bot left as it should) or "exited" (it failed with
        ``exit_code``; the orchestrator decides whether another bot is worth sending)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        deadline = time.monotonic() + give_up_after_s
        while True:
            try:
                if self.flush():
                    pipe = self.r.pipeline(transaction=False)
                    if report is not None:
                        field = f"{report['meeting']['started_at']}|{self.job}"
                        pipe.hset(keys.bot_reports(str(report["meeting"]["id"])), field,
                                  json.dumps(report, separators=(",", ":"), ensure_ascii=False))
                    pipe.hset(keys.bot(self.job), mapping={"status": status, "exit_code": exit_code, "reason": reason,
                                                           "ended_at": f"{self.clock():.3f}"})
                    pipe.delete(keys.bot_lease(self.job))
                    pipe.eval(_RELEASE, 1, keys.meeting_lock(self.meeting), self.job)
                    pipe.execute()
                    return True
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                log.error("Redis did not come back within %.0f s; the report is only on disk", give_up_after_s)
                return False
            time.sleep(0.5)


def link_from_env(job_id: str, meeting_id: str) -> BotLink | None:
    """A BotLink when REDIS_URL says where the orchestrator's Redis is; None for a standalone run."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    return BotLink(redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5),
                   job_id, meeting_id)
