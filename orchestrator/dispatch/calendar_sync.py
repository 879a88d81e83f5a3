"""Training calendar sync: bots for the trainings on configured Zoom users' (trainers') calendars.

``sync_once`` lists each trainer's upcoming meetings (Medium, paged) and keeps one schedule per training
occurrence in the horizon, joining ``lead`` seconds before the start. A training is a meeting whose topic
matches ``ROLLCALL_TRAINING_TOPIC`` (a case-insensitive regex) *or* that carries the tracking field
``ROLLCALL_TRAINING_FIELD`` (``Field=Value``, both compared case-insensitively); with neither set, every
meeting of a trainer is one. Zoom's list shows a recurring meeting (type 8) as its next occurrence only and
never shows tracking fields, so one details call (``GET /meetings/{id}``, Light) is made per recurring
training in the horizon, and, when a tracking field is configured, per meeting in the horizon whose topic
alone does not select it. Meetings without a fixed time (type 3) cannot be scheduled ahead: their bot goes
when ``meeting.started`` arrives.

What the calendar scheduled before (``source="calendar"``, that trainer as ``owner``) and no longer finds
is cancelled while it is still ``scheduled``; a moved occurrence is a new schedule (the id is meeting and
start) and the old one cancelled. A bot already sent is never recalled. Where a person is involved, the
calendar gives way: a schedule added by hand for the same occurrence is left as it is, and one cancelled by
hand is not brought back (the calendar marks its own cancellations, ``CALENDAR_CANCELLED``). A meeting that
cannot be read (a field Zoom sent that does not parse, a failed details call) is logged by meeting id and
counted as skipped, and its schedules are kept as they are until it can be read again.

A sync and a webhook's change run one at a time, across processes (a Redis lock, ``SYNC_LOCK``): a sync
that listed a calendar before a ``meeting.updated`` was applied would otherwise undo the move.

The Zoom calls go through the governor at ``Priority.LIVE`` (the scheduler's calls go before backfill):
build the client with ``open_zoom(settings, r, priority=Priority.LIVE)``; a client built otherwise is used
through a live twin that shares its connection, token and governor.
"""
from __future__ import annotations

import contextlib
import json
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import redis
from pydantic import ValidationError
import structlog

from orchestrator import keys
from orchestrator.zoom.rate_limits import Category, DailyCapReached, Priority
from orchestrator.dispatch.schedule_store import Schedule, ScheduleStore
from orchestrator.settings import CalendarSettings  # the `calendar` section of Settings
from orchestrator.zoom.api import NotFound, ZoomApi, ZoomApiError
from orchestrator.zoom.models import ScheduledMeeting
from orchestrator.zoom.oauth import OAuthError

log = structlog.get_logger(__name__)

NO_FIXED_TIME = 3  # recurring without a fixed time: only meeting.started tells when
RECURRING = 8  # recurring with a fixed time: the list shows the next occurrence only
DEFAULT_DURATION_MIN = 60  # Zoom's default, for a meeting that gives none
CALENDAR_CANCELLED = "calendar_cancelled"  # field of a schedule's hash: the calendar (not a person) cancelled it
SYNC_LOCK = keys.CALENDAR_LOCK
LOCK_TTL_S = 600.0  # a sync holding the lock longer than this (it died) loses it
ZOOM_ERRORS = (ZoomApiError, DailyCapReached, OAuthError)  # Zoom could not be asked; worth trying again later


@dataclass
class SyncResult:
    """What a sync (or one webhook) changed. ``moved`` pairs an added with a cancelled schedule of the
    same meeting; ``updated``: the same occurrence with other details (duration, topic, passcode, lead)."""

    added: int = 0
    moved: int = 0
    cancelled: int = 0
    unchanged: int = 0
    updated: int = 0
    kept_cancelled: int = 0  # cancelled by a person: not brought back
    skipped: int = 0  # meetings that could not be read (logged by id); their schedules kept
    failed_trainers: list[str] = field(default_factory=list)  # listing failed: nothing of theirs changed


@dataclass(frozen=True)
class _Occurrence:
    start: datetime
    duration_min: int


def _who(trainer: str) -> str:
    """A trainer as logs may show them: a Zoom user id as it is, an e-mail address only as a short hash."""
    if "@" not in trainer:
        return trainer
    return "trainer-" + hashlib.sha256(trainer.lower().encode()).hexdigest()[:8]


def meeting_details(api: ZoomApi, meeting_id: str) -> ScheduledMeeting:
    """``GET /meetings/{id}`` (Light): topic, host, passcode, tracking fields and, for a recurring meeting,
    its upcoming occurrences. Raises ``NotFound`` for a deleted meeting."""
    return ScheduledMeeting.model_validate(api.request("GET", f"/meetings/{meeting_id}", Category.LIGHT))


def live_api(api: ZoomApi) -> ZoomApi:
    """``api`` itself when it calls at ``Priority.LIVE``, else a twin that does (same connection, token,
    governor)."""
    if api.priority is Priority.LIVE:
        return api
    return ZoomApi(api.http, api.base, api.token, api.governor, priority=Priority.LIVE, retries=api.retries,
                   backoff_s=api.backoff_s, sleep=api.sleep)


def _passcode(m: ScheduledMeeting) -> str | None:
    """The passcode from the details, else the ``pwd`` of the join link (what ``rollcall bot`` takes from a
    link too)."""
    if m.password:
        return m.password
    if m.join_url:
        pwd = parse_qs(urlsplit(m.join_url).query).get("pwd")
        return pwd[0] if pwd else None
    return None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def _occurrence_start(occ: dict) -> datetime | None:
    """An occurrence named in a webhook: its ``start_time``, else its ``occurrence_id`` (epoch ms)."""
    start = _parse_time(occ.get("start_time"))
    if start is None and str(occ.get("occurrence_id") or "").isdigit():
        start = datetime.fromtimestamp(int(occ["occurrence_id"]) / 1000, UTC)
    return start


class CalendarSync:
    def __init__(self, api: ZoomApi, r: redis.Redis, settings: CalendarSettings, *,
                 clock: Callable[[], float] = time.time, lock_wait_s: float = LOCK_TTL_S) -> None:
        self.api, self.r, self.settings, self.clock = live_api(api), r, settings, clock
        self.store = ScheduleStore(r, clock=clock)
        self.lock_wait_s = lock_wait_s
        self.topic_re, self.field = settings.topic_pattern, settings.field_rule
        self._trainers = {t.casefold(): t for t in settings.trainers}

    # ---- the periodic sync ---------------------------------------------------------------------------
    def sync_once(self) -> SyncResult:
        """Bring every trainer's calendar schedules in line with Zoom. A trainer whose listing fails is
        left as it was (and named in ``failed_trainers``); the others go on. Raises ``redis.LockError``
        when another sync or webhook holds the calendar longer than ``lock_wait_s``."""
        with self._exclusive():
            now, result = self._now(), SyncResult()
            for trainer in self.settings.trainers:
                try:
                    self._sync_trainer(trainer, now, result)
                except ZOOM_ERRORS as exc:
                    log.warning("calendar of %s not synced: %s", _who(trainer), exc)
                    result.failed_trainers.append(trainer)
        log.info("calendar sync: %s", replace(result, failed_trainers=[_who(t) for t in result.failed_trainers]))
        return result

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self.r.lock(SYNC_LOCK, timeout=LOCK_TTL_S, blocking_timeout=self.lock_wait_s):
            yield

    def run(self, stop: threading.Event) -> None:
        """``sync_once`` every ``sync_every_s`` until ``stop`` is set; a failed sync is logged and the next
        one goes at its time (for a daemon thread beside the orchestrator loop)."""
        while not stop.is_set():
            try:
                self.sync_once()
            except Exception:  # Redis away, say: the schedules stay as they were until the next sync
                log.exception("calendar sync failed")
            stop.wait(self.settings.sync_every_s)

    def _sync_trainer(self, trainer: str, now: datetime, result: SyncResult) -> None:
        listed = self.api.pages(f"/users/{quote(trainer, safe='@')}/meetings", Category.MEDIUM, "meetings",
                                {"type": "upcoming"})
        want: dict[str, Schedule] = {}
        unreadable: set[str] = set()
        for item in listed:
            meeting_id = str(item.get("id")) if isinstance(item, dict) and item.get("id") is not None else None
            try:
                m = ScheduledMeeting.model_validate(item)
            except ValidationError as exc:
                log.warning("trainer %s: meeting %s skipped, unreadable fields %s", _who(trainer), meeting_id,
                            [e["loc"] for e in exc.errors()])
                result.skipped += 1
                unreadable.add(meeting_id or "")
                continue
            planned = self._plan_listed(m, trainer, now)
            if planned is None:
                result.skipped += 1
                unreadable.add(m.id)
                continue
            want.update((s.id, s) for s in planned)
        existing = [(sid, s) for sid, s in self._schedules(now) if s.source == "calendar" and s.owner == trainer
                    and s.meeting_id not in unreadable]
        self._apply(want, existing, now, result)

    def _plan_listed(self, m: ScheduledMeeting, trainer: str, now: datetime) -> list[Schedule] | None:
        """The schedules one listed meeting should have; None when it cannot be told (logged)."""
        if m.type == NO_FIXED_TIME:
            return []
        if m.start_time is None:
            log.warning("trainer %s: meeting %s (type %s) skipped, no start time", _who(trainer), m.id, m.type)
            return None
        start = m.start_time.astimezone(UTC)
        if start > self._horizon(now):  # for a recurring meeting the next occurrence, so all are beyond
            return []
        if m.type != RECURRING and start + timedelta(minutes=m.duration or DEFAULT_DURATION_MIN) <= now:
            return []
        selected = self._selected(m, details=False)
        if selected is False:
            return []
        if m.type != RECURRING and selected:
            return self._schedules_for(m, trainer, now)
        try:
            details = meeting_details(self.api, m.id)
        except NotFound:  # deleted since it was listed
            return []
        except (*ZOOM_ERRORS, ValidationError) as exc:
            log.warning("trainer %s: meeting %s skipped, details unavailable: %s", _who(trainer), m.id,
                        type(exc).__name__ if isinstance(exc, ValidationError) else exc)
            return None
        if not self._selected(details, details=True):
            return []
        return self._schedules_for(details, trainer, now)

    # ---- webhooks ------------------------------------------------------------------------------------
    def on_webhook(self, envelope: dict) -> SyncResult | None:
        """The hook for ``handle_event``: ``meeting.updated`` resyncs that meeting from its details,
        ``meeting.deleted`` cancels its calendar schedules (or the occurrences named), ``meeting.started``
        of a tracked meeting without a bot adds one joining now. Idempotent and order-tolerant. A failed
        Zoom call is logged, not raised: the next periodic sync catches up. A Redis error (``LockError``
        included) is raised, so the consumer leaves the event unacknowledged and handles it again."""
        event = envelope.get("event")
        payload = envelope.get("payload")
        obj = payload.get("object") if isinstance(payload, dict) else None
        obj = obj if isinstance(obj, dict) else {}
        meeting_id = str(obj.get("id") or "")
        if not meeting_id.isdigit():
            log.warning("webhook %r without a meeting number; calendar not changed", event)
            return None
        try:
            with self._exclusive():
                if event == "meeting.updated":
                    return self._resync_meeting(meeting_id, host_id=obj.get("host_id"))
                if event == "meeting.deleted":
                    return self._deleted(meeting_id, obj)
                if event == "meeting.started":
                    return self._started(meeting_id, obj)
        except ZOOM_ERRORS as exc:
            log.warning("webhook %s for meeting %s: Zoom call failed (%s); the next sync catches up", event,
                        meeting_id, exc)
        return None

    def _resync_meeting(self, meeting_id: str, *, host_id: str | None = None) -> SyncResult:
        """Bring one meeting's calendar schedules in line with its details (one Light call; none for a
        meeting the calendar does not know whose host is known not to be a trainer)."""
        now, result = self._now(), SyncResult()
        existing = [(sid, s) for sid, s in self._schedules(now) if s.source == "calendar"
                    and s.meeting_id == meeting_id]
        if not existing and not self._may_be_trainer(host_id):
            return result
        try:
            details: ScheduledMeeting | None = meeting_details(self.api, meeting_id)
        except NotFound:
            details = None
        except ValidationError as exc:
            log.warning("meeting %s: details unreadable %s; schedules kept", meeting_id,
                        [e["loc"] for e in exc.errors()])
            result.skipped += 1
            return result
        want: list[Schedule] = []
        if details is not None:
            owner = self._host_trainer(details, fallback=existing[0][1].owner if existing else None)
            if owner is not None and details.type != NO_FIXED_TIME and self._selected(details, details=True):
                want = self._schedules_for(details, owner, now)
        self._apply({s.id: s for s in want}, existing, now, result)
        return result

    def _deleted(self, meeting_id: str, obj: dict) -> SyncResult:
        now, result = self._now(), SyncResult()
        named = obj.get("occurrences") if isinstance(obj.get("occurrences"), list) else []
        starts = {_occurrence_start(o) for o in named if isinstance(o, dict)}
        if None in starts or len(starts) != len(named):  # an occurrence we cannot place: ask Zoom
            log.warning("meeting.deleted for meeting %s names an occurrence without a time; resyncing", meeting_id)
            return self._resync_meeting(meeting_id)
        for sid, s in self._schedules(now):
            if (s.source == "calendar" and s.meeting_id == meeting_id and s.status == "scheduled"
                    and (not starts or s.start_at in starts)):
                self._cancel(sid)
                result.cancelled += 1
        return result

    def _started(self, meeting_id: str, obj: dict) -> SyncResult:
        """A bot for a tracked meeting that started with none on its way (started early, or no fixed
        time). Its schedule is the instance's actual start, so a redelivery adds nothing twice."""
        now, result = self._now(), SyncResult()
        if self._bot_live(meeting_id, now) or self._ended(obj.get("uuid")):
            return result
        start = _parse_time(obj.get("start_time")) or now
        try:
            m = ScheduledMeeting.model_validate({**obj, "id": meeting_id, "start_time": None})
        except ValidationError:
            m = ScheduledMeeting(id=meeting_id)
        known = [s for _, s in self._schedules(now) if s.source == "calendar" and s.meeting_id == meeting_id
                 and s.status != "cancelled"]
        if known:  # the calendar already chose it
            owner = known[0].owner
        else:
            if not self._may_be_trainer(m.host_id):
                return result
            owner = self._trainers.get((m.host_id or "").casefold())
            selected = self._selected(m, details=False) if owner is not None else None
            if selected is False:
                return result
            if selected is None:
                try:
                    m = meeting_details(self.api, meeting_id)
                except NotFound:
                    return result
                except ValidationError as exc:
                    log.warning("meeting.started for meeting %s: details unreadable %s; no bot", meeting_id,
                                [e["loc"] for e in exc.errors()])
                    result.skipped += 1
                    return result
                owner = self._host_trainer(m, fallback=owner)
                if owner is None or not self._selected(m, details=True):
                    return result
        planned = (known[0].end_at - known[0].start_at) if known else timedelta(minutes=DEFAULT_DURATION_MIN)
        end = start + (timedelta(minutes=m.duration) if m.duration else planned)
        if end <= now:
            log.info("meeting.started for meeting %s arrived after its expected end; no bot", meeting_id)
            return result
        s = Schedule(kind="zoom", meeting_id=meeting_id, start_at=start, join_at=now, end_at=end,
                     topic=m.topic or (known[0].topic if known else ""),
                     passcode=_passcode(m) or (known[0].passcode if known else None), source="webhook", owner=owner,
                     policy=self.settings.policy)
        self._count(self._put(s), result)
        log.info("meeting %s started with no bot on its way: bot joins now (%s)", meeting_id, s.id)
        return result

    # ---- selection -----------------------------------------------------------------------------------
    def _selected(self, m: ScheduledMeeting, *, details: bool) -> bool | None:
        """Whether ``m`` is a training; None when only its tracking fields can tell and they are not
        known (``details`` False: a list entry or a webhook object, which carry none)."""
        if self.topic_re is not None and self.topic_re.search(m.topic or ""):
            return True
        if self.field is None:
            return False
        if not details:
            return None
        name, value = self.field
        return any((f.field or "").strip().casefold() == name and (f.value or "").strip().casefold() == value
                   for f in m.tracking_fields)

    def _may_be_trainer(self, host_id: str | None) -> bool:
        """False only when the host is known and cannot be a trainer (no trainer is given by e-mail, which
        a host id cannot be compared with)."""
        if not host_id or host_id.casefold() in self._trainers:
            return True
        return any("@" in t for t in self._trainers)

    def _host_trainer(self, m: ScheduledMeeting, *, fallback: str | None) -> str | None:
        """The configured trainer hosting ``m`` (by id or e-mail); None when its host is known not to be
        one; ``fallback`` when the details cannot tell (no host, or only an id while trainers are given by
        e-mail)."""
        for host in (m.host_id, m.host_email):
            if host and host.casefold() in self._trainers:
                return self._trainers[host.casefold()]
        decisive = bool(m.host_email) or (bool(m.host_id) and not any("@" in t for t in self._trainers))
        return None if decisive else fallback

    # ---- schedules -----------------------------------------------------------------------------------
    def _schedules_for(self, m: ScheduledMeeting, trainer: str, now: datetime) -> list[Schedule]:
        """One schedule per occurrence of ``m`` that has not ended and starts within the horizon."""
        default = m.duration or DEFAULT_DURATION_MIN
        if m.occurrences:
            occurrences = [_Occurrence(o.start_time.astimezone(UTC), o.duration or default) for o in m.occurrences
                           if o.start_time is not None and (o.status or "available") != "deleted"]
        elif m.start_time is not None:
            occurrences = [_Occurrence(m.start_time.astimezone(UTC), default)]
        else:
            occurrences = []
        lead = timedelta(seconds=self.settings.bot_lead_s)
        passcode = _passcode(m)
        return [Schedule(kind="zoom", meeting_id=m.id, start_at=o.start, join_at=o.start - lead,
                         end_at=o.start + timedelta(minutes=o.duration_min), topic=m.topic or "", passcode=passcode,
                         source="calendar", owner=trainer, policy=self.settings.policy)
                for o in occurrences
                if o.start <= self._horizon(now) and o.start + timedelta(minutes=o.duration_min) > now]

    def _schedules(self, now: datetime) -> list[tuple[str, Schedule]]:
        """Every schedule that has not ended by ``now`` (and some that have: the store's index is by start)."""
        return [(sid, s) for sid, s in self.store.all(since=now - timedelta(days=2)) if s.end_at > now]

    def _apply(self, want: dict[str, Schedule], existing: list[tuple[str, Schedule]], now: datetime,
               result: SyncResult) -> None:
        """Add or update what is wanted; cancel what the calendar scheduled in the horizon and no longer
        wants, while it is still only scheduled."""
        added: Counter[str] = Counter()
        cancelled: Counter[str] = Counter()
        for s in want.values():
            outcome = self._put(s)
            self._count(outcome, result)
            if outcome == "added":
                added[s.meeting_id] += 1
        for sid, s in existing:
            if sid not in want and s.status == "scheduled" and s.start_at <= self._horizon(now):
                self._cancel(sid)
                cancelled[s.meeting_id] += 1
        moved = sum(min(added[m], cancelled[m]) for m in added)
        result.added -= moved
        result.moved += moved
        result.cancelled += sum(cancelled.values()) - moved

    def _put(self, s: Schedule) -> str:
        current = self.store.get(s.id)
        if current is None:
            self.store.add(s)
            return "added"
        if current.source != s.source:  # someone else's schedule for this occurrence (a person's, say)
            return "kept_cancelled" if current.status == "cancelled" else "unchanged"
        if current.status == "cancelled":
            if not self.r.hget(keys.schedule(s.id), CALENDAR_CANCELLED):
                return "kept_cancelled"
            self.store.add(s)
            self.r.hdel(keys.schedule(s.id), CALENDAR_CANCELLED)
            return "added"
        if current.status != "scheduled":  # dispatched, ended, a duplicate: its time has come and gone
            return "unchanged"
        if current.model_dump(exclude={"status"}) == s.model_dump(exclude={"status"}):
            return "unchanged"
        self.store.add(s)
        return "updated"

    def _cancel(self, sid: str) -> None:
        self.r.hset(keys.schedule(sid), CALENDAR_CANCELLED, "1")
        self.store.cancel(sid)

    @staticmethod
    def _count(outcome: str, result: SyncResult) -> None:
        setattr(result, outcome, getattr(result, outcome) + 1)

    def _bot_live(self, meeting_id: str, now: datetime) -> bool:
        """A bot is in the meeting (its lock is held), or one is on its way: a schedule due now, or
        dispatched with no bot launched yet."""
        if self.r.exists(keys.meeting_lock(meeting_id)):
            return True
        for sid, s in self._schedules(now):
            if s.meeting_id != meeting_id:
                continue
            if s.status == "scheduled" and s.join_at <= now:
                return True
            if s.status == "dispatched" and not self.r.llen(keys.schedule_jobs(sid)):
                return True
        return False

    def _ended(self, uuid: Any) -> bool:
        """``meeting.ended`` of this instance was seen already (Zoom reorders and redelivers events)."""
        if not isinstance(uuid, str) or not uuid:
            return False
        return any(json.loads(e).get("event") == "meeting.ended"
                   for e in self.r.lrange(keys.meeting_webhook_log(uuid), 0, -1))

    def _horizon(self, now: datetime) -> datetime:
        return now + timedelta(days=self.settings.horizon_days)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)
