"""The orchestrator's loop: due schedules become jobs, jobs become bots (one live bot per meeting),
bots are watched, replaced when they die while their meeting runs, and a simulated meeting's bots'
observations become its final record.

Everything shared lives in Redis, so any number of orchestrator processes can run this loop at once:

- **Due → job**: ``ScheduleStore.take_due`` moves due schedules to the job stream in one Lua step.
- **Job → bot**: dispatchers read the stream through a consumer group (at least once; entries a dead
  orchestrator read but never acknowledged are claimed after ``claim_idle_s``). The job id is derived
  from the stream entry, so handling an entry twice launches nothing twice. A bot is launched only by
  whoever takes the meeting's lock (``SET NX``); a replacement takes it over from the bot it replaces.
- **Watch**: a bot that exits without finishing, or whose heartbeat lease lapses, is dead. Whoever
  flips its state first (one Lua step) decides: a replacement if the failure is retryable and the
  meeting still runs (bounded attempts, with backoff after the first), else failed with an alert.
- **Finish**: when a simulated meeting is over and none of its bots is live, its record is built from
  every bot's report, or, for a bot that died, from its observation log up to its last flush; the
  stretches no bot saw are the record's ``observer.gaps``.
"""
from __future__ import annotations

import json
from collections import deque
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
import structlog

from analysis.contract import (LIVE, NOT_OBSERVED_BY, BotField, BotStatus, lua, observation_line, report_field,
                               report_job)
from analysis.observations import BotLog, report_from_log, session_compliance
from analysis.report import MeetingInfo
from orchestrator import keys
from orchestrator.reconciliation.attendance import MeetingWindow, reconcile
from orchestrator.reconciliation.hr_payload import compliance_payload
from orchestrator.dispatch.launchers import BotJob, Launcher
from orchestrator.outbound import OutboundWebhooks
from orchestrator.report_store import ReportStore
from orchestrator.dispatch.schedule_store import Schedule, ScheduleStore

log = structlog.get_logger(__name__)

# `rollcall bot` exit codes that another attempt cannot fix (docs/architecture.md, the exit code table):
# a configuration error (2: bad arguments, the Meeting SDK credentials missing: the next bot gets the same
# configuration), bad credentials, wrong passcode, meeting not started in time, waiting room, app not
# approved or no OBF/ZAK (63, 504, 501), removed by the host, a webinar, another refusal (a bot without
# audio, 23, is replaced: a fresh process may get it)
EXIT_CONFIG = 2
RTMS_LOCK_WAIT_S = 120.0  # how long a new stream's worker waits for the meeting's previous one to leave
NOT_RETRYABLE = {EXIT_CONFIG, 10, 12, 13, 14, 15, 16, 17, 18, 20, 21, 31, 32, 33}  # 30 (a dropped stream) is retried

# KEYS: lock. ARGV: job, ttl, replaces ("" = none). Take a free lock, take it over from the bot replaced,
# or keep it (a redelivered job whose first handling was cut short already holds it).
_TAKE_LOCK = """
local owner = redis.call('GET', KEYS[1])
if (not owner) or owner == ARGV[1] or (ARGV[3] ~= '' and owner == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""
# A bot's end, once: only a live bot (or one that reported its own failure: "exited") can end, and in the
# same step what follows: a replacement job now (stream) or later (delayed set), or an alert; else the
# meeting's lock freed. KEYS: bot hash, running set, job stream, delayed set, alerts, lock. ARGV: job,
# status, reason, exit code, action (now|later|alert|free), delay-until or now, job (JSON, with its
# schedule), alert reason. An orchestrator that dies midway can no longer lose the replacement.
_DIE = lua("""
local st = redis.call('HGET', KEYS[1], '$f_status')
if st ~= '$launching' and st ~= '$running' and st ~= '$exited' then return 0 end
redis.call('HSET', KEYS[1], '$f_status', ARGV[2], '$f_reason', ARGV[3], '$f_exit_code', ARGV[4])
redis.call('SREM', KEYS[2], ARGV[1])
local action = ARGV[5]
if action == 'now' then
  local job = cjson.decode(ARGV[7])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'schedule', job.schedule, 'attempt', job.attempt,
             'replaces', job.replaces, 'due', job.due, 'queued', job.queued)
elseif action == 'later' then
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7])
else
  if redis.call('GET', KEYS[6]) == ARGV[1] then redis.call('DEL', KEYS[6]) end
  if action == 'alert' then
    redis.call('XADD', KEYS[5], 'MAXLEN', '~', 10000, '*', 'job', ARGV[1], 'schedule', cjson.decode(ARGV[7]).schedule,
               'reason', ARGV[8], 'at', ARGV[6])
  end
end
return 1
""")
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class DispatchConfig:
    capacity: int = 50  # live bots at once, per deployment
    launch_grace_s: float = 45.0  # a launched bot has this long to send its first heartbeat
    max_attempts: int = 5  # bots per schedule, the first included
    claim_idle_s: float = 30.0  # a job read by an orchestrator that died is taken over after this
    retry_backoff_s: float = 2.0  # before the third attempt; doubles each time (the second goes at once)
    watch_every_s: float = 1.0  # how often bots are checked and ended meetings finished
    stream_stop_grace_s: float = 30.0  # an RTMS worker still there this long after rtms_stopped is told to leave


class Dispatcher:
    def __init__(self, r: redis.Redis, launcher: Launcher, config: DispatchConfig | None = None, *,
                 consumer: str | None = None, clock: Callable[[], float] = time.time,
                 outbound: OutboundWebhooks | None = None) -> None:
        self.r, self.launcher, self.config, self.clock = r, launcher, config or DispatchConfig(), clock
        self.outbound = outbound  # a training's compliance goes to the HR system when it ends
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.schedules = ScheduleStore(r, clock=clock)
        self.store = ReportStore(r)
        self._take_lock = r.register_script(_TAKE_LOCK)
        self._die = r.register_script(_DIE)
        self._release = r.register_script(_RELEASE)
        self._group_ready = False
        self._next_watch = 0.0
        self.lateness: deque[float] = deque(maxlen=100_000)  # launch − due, per launched job (benchmark)

    # ---- the loop ------------------------------------------------------------------------------------
    def tick(self, block_ms: int = 0) -> None:
        self.schedules.take_due()
        self._release_delayed()
        self.dispatch(block_ms)
        if self.clock() >= self._next_watch:
            self._next_watch = self.clock() + self.config.watch_every_s
            self.monitor()
            self.finalize()

    def run(self, stop: Callable[[], bool], *, period_s: float = 0.1) -> None:
        """Tick until ``stop()``; a Redis outage is waited out (the bots keep running meanwhile)."""
        while not stop():
            try:
                due = self.schedules.next_due()  # wait for jobs no longer than until the next schedule is due
                wait = period_s if due is None else min(period_s, max(0.001, due - self.clock()))
                self.tick(block_ms=max(1, int(wait * 1000)))
            except redis.RedisError as exc:
                log.warning("Redis unavailable (%s); retrying", type(exc).__name__)
                self._group_ready = False
                time.sleep(1.0)
            except Exception:  # one bad schedule or job must not stop every bot's orchestrator
                log.exception("orchestrator tick failed; going on")
                time.sleep(1.0)

    # ---- jobs → bots ---------------------------------------------------------------------------------
    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.r.xgroup_create(keys.JOB_STREAM, keys.JOB_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def dispatch(self, block_ms: int = 0) -> int:
        """Handle the jobs waiting on the stream (and any a dead orchestrator left); returns how many."""
        self._ensure_group()
        entries = []
        claimed = self.r.xautoclaim(keys.JOB_STREAM, keys.JOB_GROUP, self.consumer,
                                    min_idle_time=int(self.config.claim_idle_s * 1000), start_id="0-0", count=100)
        entries += claimed[1] if claimed else []
        got = self.r.xreadgroup(keys.JOB_GROUP, self.consumer, {keys.JOB_STREAM: ">"}, count=200,
                                block=block_ms or None)
        for _stream, items in got or []:
            entries += items
        for entry_id, fields in entries:
            if fields:
                self._handle(entry_id, fields)
            self.r.xack(keys.JOB_STREAM, keys.JOB_GROUP, entry_id)
        return len(entries)

    def _handle(self, entry_id: str, f: dict) -> None:
        sid, attempt, replaces = f["schedule"], int(f.get("attempt", 1)), f.get("replaces", "")
        job_id = f"{sid.replace('@', '-')}-{entry_id.replace('-', '')}"
        if self.r.exists(keys.bot(job_id)):
            return  # handled before (a redelivery)
        s = self.schedules.get(sid)
        if s is None or s.status in ("cancelled", "ended") or (replaces and self.clock() >= s.end_at.timestamp()):
            return
        lock = keys.meeting_lock(s.meeting_id)
        if not self._take_lock(keys=[lock], args=[job_id, round(self.config.launch_grace_s), replaces]):
            owner = self.r.get(lock)
            if s.rtms is not None and not replaces and self.clock() < s.join_at.timestamp() + RTMS_LOCK_WAIT_S:
                # a restarted stream of the meeting: its predecessor's worker leaves within seconds
                self.r.zadd(keys.SCHEDULES_DUE, {sid: self.clock() + 2.0})
                self.schedules.mark(sid, "scheduled")
                return
            self.r.hset(keys.bot(job_id), mapping={
                BotField.STATUS: BotStatus.DUPLICATE, BotField.SCHEDULE: sid, BotField.MEETING_ID: s.meeting_id,
                BotField.REASON: f"bot {owner} is already in meeting {s.meeting_id}"})
            log.info("schedule %s: a bot is already in meeting %s; no second one", sid, s.meeting_id)
            if not replaces:
                self.schedules.mark(sid, "duplicate")
                self.r.srem(keys.SCHEDULES_ACTIVE, sid)
            return
        if not replaces and self.r.scard(keys.BOTS_RUNNING) >= self.config.capacity:
            self._release(keys=[lock], args=[job_id])
            self.r.zadd(keys.SCHEDULES_DUE, {sid: self.clock() + 1.0})
            self.schedules.mark(sid, "scheduled")
            log.warning("at capacity (%d bots): schedule %s waits", self.config.capacity, sid)
            return
        now = self.clock()
        resumes = bool(replaces) and any(self.r.hget(keys.bot(j), BotField.JOINED_AT)
                                         for j in self.r.lrange(keys.schedule_jobs(sid), 0, -1))
        pipe = self.r.pipeline()
        pipe.hset(keys.bot(job_id), mapping={
            BotField.STATUS: BotStatus.LAUNCHING, BotField.SCHEDULE: sid, BotField.MEETING_ID: s.meeting_id,
            BotField.ATTEMPT: attempt, BotField.REPLACES: replaces, BotField.LAUNCHER: self.launcher.name,
            BotField.LAUNCHED_AT: f"{now:.3f}", BotField.DUE: f.get("due", f"{now:.3f}")})
        pipe.set(keys.bot_lease(job_id), BotStatus.LAUNCHING, ex=round(self.config.launch_grace_s))
        pipe.sadd(keys.BOTS_RUNNING, job_id)
        pipe.rpush(keys.schedule_jobs(sid), job_id)
        pipe.execute()
        try:
            handle = self.launcher.launch(BotJob(job_id, sid, s, attempt, resumes=resumes))
        except Exception as exc:  # the launcher's own failure: record it, free the meeting, alert
            why = f"launch failed: {exc!r}"[:300]
            self._end(job_id, s.meeting_id, BotStatus.FAILED, repr(exc)[:300], -1, "alert", now, {"schedule": sid}, why)
            log.error("schedule %s, bot %s: %s", sid, job_id, why)
            return
        self.r.hset(keys.bot(job_id), BotField.HANDLE, handle)
        self.lateness.append(self.clock() - float(f.get("due", now)))
        log.info("schedule %s: bot %s launched (%s, attempt %d, handle %s)", sid, job_id, self.launcher.name, attempt,
                 handle)

    # ---- watching ------------------------------------------------------------------------------------
    def monitor(self) -> None:
        now = self.clock()
        for job_id in self.r.smembers(keys.BOTS_RUNNING):
            h = self.r.hgetall(keys.bot(job_id))
            status = h.get(BotField.STATUS)
            if status == BotStatus.EXITED:  # the bot said how it failed (it may run where no launcher can poll it)
                self._died(job_id, h, h.get(BotField.REASON) or "exited", int(h.get(BotField.EXIT_CODE, 1)), now)
                continue
            if status not in LIVE:
                if self.r.srem(keys.BOTS_RUNNING, job_id):
                    log.info("bot %s %s: %s", job_id, status, h.get(BotField.REASON) or "-")
                continue
            self._leave_stopped_stream(job_id, h, now)
            code = self.launcher.poll(h[BotField.HANDLE]) if h.get(BotField.HANDLE) else None
            if code == 0:  # ended normally without a word (a bot without Redis, or a no-op launch)
                self._end(job_id, h[BotField.MEETING_ID], BotStatus.FINISHED, "exited 0", 0, "free", now,
                          {"schedule": h[BotField.SCHEDULE]})
            elif code == EXIT_CONFIG:  # it never got as far as reporting: say why here
                self._died(job_id, h, "exited with 2: a configuration error (bad arguments, or the Meeting SDK "
                                      "credentials missing; see the bot's log)", code, now)
            elif code is not None:
                self._died(job_id, h, f"exited with {code} without finishing", code, now)
            elif not self.r.exists(keys.bot_lease(job_id)):
                self._died(job_id, h, "heartbeat lost", -1, now)

    def _leave_stopped_stream(self, job_id: str, h: dict, now: float) -> None:
        """An RTMS worker whose stream Zoom stopped a while ago: ask it to leave, once (it ends normally)."""
        stream = h.get(BotField.RTMS_STREAM)
        if not stream or not h.get(BotField.HANDLE) or h.get(BotField.STOP_REQUESTED):
            return
        status, stopped_at = self.r.hmget(keys.rtms_stream(stream), "status", "stopped_at")
        if status == "stopped" and stopped_at and now - float(stopped_at) >= self.config.stream_stop_grace_s:
            if self.r.hsetnx(keys.bot(job_id), BotField.STOP_REQUESTED, f"{now:.3f}"):
                log.info("bot %s: its RTMS stream was stopped; asking it to leave", job_id)
                self.launcher.stop(h[BotField.HANDLE])

    def _died(self, job_id: str, h: dict, reason: str, code: int, now: float) -> None:
        sid, attempt = h[BotField.SCHEDULE], int(h.get(BotField.ATTEMPT, 1))
        s = self.schedules.get(sid)
        retryable = code not in NOT_RETRYABLE
        delay = 0.0 if attempt == 1 else self.config.retry_backoff_s * 2 ** (attempt - 2)
        job = {"schedule": sid, "attempt": str(attempt + 1), "replaces": job_id, "due": f"{now + delay:.3f}",
               "queued": f"{now:.3f}"}
        if s is None or s.status == "cancelled" or now >= s.end_at.timestamp():
            status, action, why = BotStatus.DIED, "free", f"{reason}, after its meeting's end"
        elif not retryable or attempt >= self.config.max_attempts:
            status, action = BotStatus.FAILED, "alert"
            why = f"{reason}; not retried" + ("" if retryable else " (another attempt cannot fix it)")
        else:
            status, action, why = BotStatus.DIED, "now" if delay == 0 else "later", reason
        if not self._end(job_id, h[BotField.MEETING_ID], status, reason, code, action,
                         now + delay if action == "later" else now, job, why):
            return  # another orchestrator saw it first, or it finished just now
        if action == "alert":
            log.error("schedule %s, bot %s: %s", sid, job_id, why)
        elif action in ("now", "later"):
            log.warning("bot %s died (%s); replacement %d of %d in %.0f s", job_id, reason, attempt + 1,
                        self.config.max_attempts, delay)
        if reason == "heartbeat lost" and h.get(BotField.HANDLE):
            # it may be alive but cut off: it must not stay beside its replacement
            self.launcher.stop(h[BotField.HANDLE])
        if s is not None and h.get(BotField.JOINED_AT):
            try:
                self._keep_partial_report(job_id, s)
            except Exception:
                log.exception("could not rebuild the report of bot %s from its log", job_id)

    def _release_delayed(self) -> None:
        for item in self.r.zrangebyscore(keys.JOBS_DELAYED, "-inf", self.clock()):
            if self.r.zrem(keys.JOBS_DELAYED, item):
                self.r.xadd(keys.JOB_STREAM, json.loads(item), maxlen=100_000, approximate=True)

    def _end(self, job_id: str, meeting_id: str, status: BotStatus, reason: str, code: int, action: str, at: float,
             job: dict, why: str = "") -> bool:
        """Run the _DIE step; False when the bot had already ended (another orchestrator saw it first)."""
        return bool(self._die(keys=[keys.bot(job_id), keys.BOTS_RUNNING, keys.JOB_STREAM, keys.JOBS_DELAYED,
                                    keys.ALERTS, keys.meeting_lock(meeting_id)],
                              args=[job_id, status, reason, code, action, f"{at:.3f}", json.dumps(job, sort_keys=True),
                                    why]))

    # ---- simulated meetings' records -----------------------------------------------------------------
    def finalize(self) -> None:
        """Meetings that are over with no live bot end here (once each); a simulated one gets its record."""
        now = self.clock()
        for sid in self.r.smembers(keys.SCHEDULES_ACTIVE):
            s = self.schedules.get(sid)
            if s is None or s.status != "dispatched":
                self.r.srem(keys.SCHEDULES_ACTIVE, sid)
                continue
            if s.end_at.timestamp() > now:
                continue
            jobs = self.r.lrange(keys.schedule_jobs(sid), 0, -1)
            if any(self.r.hget(keys.bot(j), BotField.STATUS) in LIVE for j in jobs):
                continue
            # a lease, not a one-time claim: if this process dies midway, another finishes the job later
            if not self.r.set(keys.schedule(sid) + ":finishing", self.consumer, nx=True, ex=60):
                continue
            if s.kind == "scenario":  # idempotent: the record is keyed by the schedule
                record = self.merged_record(sid, s, jobs)
                self.store.save_record(record)
                log.info("schedule %s: meeting over; record built from %d bot(s)", sid, len(jobs))
                payload = compliance_payload(record)
                if payload is not None and self.outbound is not None:
                    self.outbound.emit("training.compliance", payload)
                    log.info("schedule %s: training outcome sent (%d passed, %d failed)", sid, payload["passed"],
                             payload["failed"])
            else:
                log.info("schedule %s: meeting over (%d bot(s))", sid, len(jobs))
            pipe = self.r.pipeline()
            pipe.hset(keys.schedule(sid), "status", "ended")
            pipe.srem(keys.SCHEDULES_ACTIVE, sid)
            for j in jobs:  # the bots' working state is not kept forever; records and reports are
                pipe.expire(keys.bot(j), 30 * 86400)
                pipe.expire(keys.bot_observations(j), 7 * 86400)
            pipe.expire(keys.live_stream(s.meeting_id), 86400)
            pipe.execute()

    def merged_record(self, sid: str, s: Schedule, jobs: list[str]) -> dict:
        stored = self.r.hgetall(keys.bot_reports(s.meeting_id))
        reports = [json.loads(v) for job in jobs for k, v in stored.items() if report_job(k) == job]
        window = MeetingWindow(uuid=sid, meeting_id=s.meeting_id, topic=s.topic, start=s.start_at, end=s.end_at,
                               end_source="schedule")
        record = reconcile(window, [], reports, now=datetime.fromtimestamp(self.clock(), UTC), rows_from=None)
        record["meeting"]["source"]["start"] = "schedule"
        shown = (BotField.STATUS, BotField.ATTEMPT, BotField.REASON, BotField.EXIT_CODE, BotField.JOIN_S,
                 BotField.FLUSHED_MEDIA_S, BotField.TRANSPORT)
        states = [self.r.hgetall(keys.bot(j)) for j in jobs]
        record["bots"] = [{"job": j, **{k: v for k, v in h.items() if k in shown}} for j, h in zip(jobs, states)]
        self._judge_session(record, [(j, h) for j, h in zip(jobs, states) if h.get(BotField.JOINED_AT)])
        return record

    def _judge_session(self, record: dict, bots: list[tuple[str, dict]]) -> None:
        """A training's compliance over all its bots' logs, in the record (a bot that died and its
        replacement each saw part of the session; no report of theirs judges the whole of it)."""
        if len(bots) == 1 and bots[0][1].get(BotField.STATUS) == BotStatus.FINISHED:
            return  # one bot saw it all: its own report judged it
        judged = session_compliance([BotLog(self._log_lines(j), float(h.get(BotField.FLUSHED_MEDIA_S, 0.0)),
                                            float(h.get(BotField.JOIN_S, 0.0))) for j, h in bots])
        if judged is None:
            return  # not a training
        for p in record["participants"]:
            c = judged.compliance.get(p.get("key"))
            p["compliance"] = c.model_dump(mode="json") if c is not None else None
        record["compliance_exceptions"] = judged.exceptions

    def _log_lines(self, job: str) -> list[dict]:
        """A bot's observation log, as it sent it."""
        return [json.loads(observation_line(f)) for _, f in self.r.xrange(keys.bot_observations(job))]

    def _keep_partial_report(self, job: str, s: Schedule) -> None:
        """A dead bot's report, rebuilt from its observation log up to its last flush, stored where its own
        report would have gone: the simulated meeting's record and Zoom reconciliation both find it."""
        h = self.r.hgetall(keys.bot(job))
        lines = self._log_lines(job)
        joined = datetime.fromtimestamp(float(h[BotField.JOINED_AT]), UTC)
        flushed = float(h.get(BotField.FLUSHED_MEDIA_S, 0.0))
        transport = h.get(BotField.TRANSPORT) or "zoom_sdk"
        info = MeetingInfo(id=s.meeting_id, topic=s.topic, start=joined, not_observed=NOT_OBSERVED_BY[transport])
        report = report_from_log(info, lines, flushed)
        report.observer = report.observer.model_copy(update={"customer_key": h.get(BotField.CUSTOMER_KEY),
                                                             "transport": transport})
        data = report.model_dump(mode="json")
        data["partial"] = {"reason": h.get(BotField.REASON, ""), "flushed_media_s": flushed}
        self.r.hset(keys.bot_reports(s.meeting_id), report_field(data["meeting"]["started_at"], job),
                    json.dumps(data, separators=(",", ":"), ensure_ascii=False))
