"""The bot's line to the orchestrator, through Redis (keys, statuses and records: ``analysis/contract.py``).

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
import threading
import time
from collections.abc import Callable, Mapping

import redis
import structlog

from analysis import contract as c
from analysis.contract import BotField, BotStatus
from analysis.live import LiveSnapshot
from analysis.observations import Decided, Observation, encode
from analysis.report import Report
from bot.lifecycle import Lifecycle
from bot.settings import BotSettings

log = structlog.get_logger(__name__)
LIVE_STREAM_MAX = 1000
OBSERVATIONS_MAX = 500_000  # lines per bot: far more than a long meeting logs

# KEYS: lease, lock, bot hash. ARGV: job, ttl, now. A heartbeat: renew the lease and the meeting's lock
# (taking it again if a Redis restart lost it), mark the job running. -1 when this bot has been given up
# on (the orchestrator declared it dead, or another bot holds the meeting): it must leave.
_BEAT = c.lua("""
local st = redis.call('HGET', KEYS[3], '$f_status')
if st == '$died' or st == '$failed' then return -1 end
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[2])
redis.call('HSET', KEYS[3], '$f_heartbeat_at', ARGV[3])
if (not st) or st == '$launching' then redis.call('HSET', KEYS[3], '$f_status', '$running') end
return 1
""")
# KEYS: bot hash, lease, lock. ARGV: job, status, exit code, reason, now. The end: the status only if
# nobody gave up on this bot meanwhile (else kept as it is, the bot's own ending noted beside it).
_FINISH = c.lua("""
local st = redis.call('HGET', KEYS[1], '$f_status')
if (not st) or st == '$launching' or st == '$running' then
  redis.call('HSET', KEYS[1], '$f_status', ARGV[2], '$f_exit_code', ARGV[3], '$f_reason', ARGV[4], '$f_ended_at', ARGV[5])
else
  redis.call('HSET', KEYS[1], '$f_late_status', ARGV[2], '$f_late_exit_code', ARGV[3], '$f_ended_at', ARGV[5])
end
redis.call('DEL', KEYS[2])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
""")


class BotLink:
    def __init__(self, r: redis.Redis, job_id: str, meeting_id: str, *, lease_s: float = 15.0,
                 flush_every_s: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self.r, self.job, self.meeting = r, job_id, meeting_id
        self.lease_s, self.flush_every_s, self.clock = lease_s, flush_every_s, clock
        self._buffer: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bot-link", daemon=True)
        self._beat_script = r.register_script(_BEAT)
        self._finish_script = r.register_script(_FINISH)
        self.media_s = 0.0  # media time the log is complete up to (the pipeline's "decided" records)
        self._flushed_media_s = -1.0
        self.snapshots_skipped = 0
        self._seq = 0
        self.superseded = False  # given up on by the orchestrator, or another bot holds the meeting: leave

    # ---- the pipeline's sinks --------------------------------------------------------------------------
    def log(self, record: Observation) -> None:
        line = encode(record)
        with self._lock:
            self._seq += 1  # a line sent twice (a flush retried after a half-done pipeline) is read once
            self._buffer.append(json.dumps({**line, "seq": self._seq}, separators=(",", ":"), ensure_ascii=False))
            if isinstance(record, Decided):  # everything up to here, open turns included, is logged
                self.media_s = max(self.media_s, record.t)

    def snapshot(self, snap: LiveSnapshot) -> None:
        if self.superseded:
            return  # the meeting's live channel belongs to its bot now
        body = snap.model_dump_json()
        try:
            pipe = self.r.pipeline(transaction=False)
            pipe.publish(c.live_channel(self.meeting), body)
            pipe.xadd(c.live_stream(self.meeting), c.LiveEntry(self.job, body).fields(), maxlen=LIVE_STREAM_MAX,
                      approximate=True)
            pipe.execute()
        except redis.RedisError:
            self.snapshots_skipped += 1

    def note(self, state: Mapping[BotField, str]) -> None:
        """Record facts about the job (e.g. when it got into the meeting); best effort."""
        if not state:
            return
        try:
            self.r.hset(c.bot(self.job), mapping=dict(state))
        except redis.RedisError:
            log.warning("could not record %s; Redis unavailable", ", ".join(state))

    # ---- the heartbeat -----------------------------------------------------------------------------------
    def start(self, state: Mapping[BotField, str] | None = None) -> None:
        self.note({BotField.MEETING_ID: self.meeting, **(state or {})})
        self._beat()
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_every_s):
            self._beat()
            self.flush()

    def _beat(self) -> bool:
        try:
            ttl = max(1, round(self.lease_s))
            if self._beat_script(keys=[c.bot_lease(self.job), c.meeting_lock(self.meeting), c.bot(self.job)],
                                 args=[self.job, ttl, f"{self.clock():.3f}"]) == -1:
                if not self.superseded:
                    log.warning("the orchestrator gave up on this bot, or another holds the meeting: leaving")
                self.superseded = True
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
                pipe.xadd(c.bot_observations(self.job), c.observation_entry(line), maxlen=OBSERVATIONS_MAX,
                          approximate=True)
            pipe.hset(c.bot(self.job), BotField.FLUSHED_MEDIA_S, f"{media_s:.3f}")  # the log is complete up to here
            pipe.execute()
            self._flushed_media_s = media_s
            return True
        except redis.RedisError:
            # a pipeline is not atomic: some lines may be in already; they go again, and readers drop a
            # line whose sequence number they have seen
            with self._lock:
                self._buffer = batch + self._buffer
            return False

    # ---- the end -------------------------------------------------------------------------------------
    def finish_run(self, report: Report | None, lifecycle: Lifecycle) -> bool:
        """:meth:`finish` for a run in a meeting: FINISHED after one of its normal endings, else EXITED."""
        return self.finish(report.model_dump(mode="json") if report is not None else None,
                           status=BotStatus.FINISHED if lifecycle.normal else BotStatus.EXITED,
                           exit_code=lifecycle.exit_code, reason=lifecycle.summary())

    def finish(self, report: dict | None, *, status: BotStatus, exit_code: int, reason: str = "",
               give_up_after_s: float = 60.0) -> bool:
        """Stop the heartbeat, send the rest (retrying while Redis is away, up to ``give_up_after_s``),
        store the report, mark the job ended and free the meeting. False if Redis never came back.
        ``status``: FINISHED (the meeting ended, or the bot left as it should) or EXITED (it failed with
        ``exit_code``; the orchestrator decides whether another bot is worth sending)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        deadline = time.monotonic() + give_up_after_s
        while True:
            try:
                if self.flush():
                    if report is not None:  # a full report replaces the one rebuilt from the log, if any
                        field = c.report_field(report["meeting"]["started_at"], self.job)
                        self.r.hset(c.bot_reports(str(report["meeting"]["id"])), field,
                                    json.dumps(report, separators=(",", ":"), ensure_ascii=False))
                    self._finish_script(keys=[c.bot(self.job), c.bot_lease(self.job), c.meeting_lock(self.meeting)],
                                        args=[self.job, status, exit_code, reason, f"{self.clock():.3f}"])
                    return True
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                log.error("Redis did not come back within %.0f s; the report is only on disk", give_up_after_s)
                return False
            time.sleep(0.5)


def link_from_env(job_id: str, meeting_id: str) -> BotLink | None:
    """A BotLink when REDIS_URL (``BotSettings.redis_url``) says where the orchestrator's Redis is; None for
    a standalone run."""
    url = BotSettings().redis_url
    if not url:
        return None
    return BotLink(redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5),
                   job_id, meeting_id)
