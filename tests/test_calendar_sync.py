"""The training calendar sync against the Zoom emulator on loopback (real HTTP, a real Redis, the governor):
which meetings become schedules, that a resync changes nothing, that webhooks move, cancel and add bots,
and that the calls made stay few (one list call per page, one details call per recurring meeting)."""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
from pydantic import SecretStr, ValidationError

from orchestrator import keys
from orchestrator.dispatch.calendar_sync import SYNC_LOCK, CalendarSettings, CalendarSync, SyncResult
from orchestrator.zoom.rate_limits import Category, Governor, Priority, plan_limits
from orchestrator.reconciliation.queue import ReconcileQueue
from orchestrator.dispatch.schedule_store import Schedule, ScheduleStore, schedule_id
from orchestrator.settings import Settings
from orchestrator.webhooks.events import MeetingChangeEvent, handle_event, parse_event, process_pending_once
from orchestrator.zoom.api import ZoomApi
from orchestrator.emulator.server import EmulatorServer, ZoomEmulator
from orchestrator.zoom.oauth import ServerToServerToken

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
LEAD = timedelta(seconds=60)
TRAINER, COACH, OTHER = "trainer-1", "coach@example.com", "someone-else"
ONE_OFF, LUNCH, WEEKLY, ONBOARDING, CLINIC, LATER, COACHING, SALES, QUARTERLY = (
    "85000000001", "85000000002", "85000000003", "85000000004", "85000000005", "85000000006", "85000000007",
    "85000000008", "85000000009")
LIST_PAGES = 4 + 1  # the trainer's seven meetings at two a page, the coach's one


def at(days: int, hour: int, minute: int = 0) -> datetime:
    return NOW.replace(hour=hour, minute=minute) + timedelta(days=days)


def z(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def meeting(mid: str, topic: str, kind: int, start: datetime | None = None, duration: int = 60, *,
            host: str = TRAINER, **extra: object) -> dict:
    """A meeting's details as ``GET /meetings/{id}`` gives them."""
    body = {"id": int(mid), "uuid": f"u{mid}==", "host_id": host, "topic": topic, "type": kind, "duration": duration,
            "timezone": "Europe/Madrid", "join_url": f"https://emu.zoom.us/j/{mid}?pwd=enc{mid[-1]}",
            "settings": {"join_before_host": False}, **extra}
    if start is not None:
        body["start_time"] = z(start)
    return body


def occurrences(*starts: datetime, duration: int = 90) -> list[dict]:
    return [{"occurrence_id": str(int(s.timestamp() * 1000)), "start_time": z(s), "duration": duration,
             "status": "available"} for s in starts]


ONBOARDING_FIELDS = [{"field": "Purpose", "value": "training"}, {"field": "Cost centre", "value": "7"}]
WEEKLY_STARTS = (at(1, 17), at(8, 17), at(15, 17), at(22, 17))  # three in the 21-day horizon, one beyond


def calendars() -> dict[str, list[dict]]:
    return {
        TRAINER: [
            meeting(ONE_OFF, "Safety training", 2, at(1, 9)),
            meeting(LUNCH, "Team lunch", 2, at(2, 12)),
            meeting(WEEKLY, "Forklift Training", 8, duration=90, occurrences=occurrences(*WEEKLY_STARTS),
                    recurrence={"type": 2, "repeat_interval": 1, "weekly_days": "3"}, password="fork-pw"),
            meeting(ONBOARDING, "Onboarding session", 2, at(4, 14), 120, tracking_fields=ONBOARDING_FIELDS),
            meeting(CLINIC, "Drop-in training clinic", 3, duration=45),
            meeting(LATER, "Safety training", 2, at(30, 9)),
            meeting(QUARTERLY, "Quarterly training review", 8, occurrences=occurrences(at(40, 9), at(131, 9))),
        ],
        COACH: [meeting(COACHING, "Advanced TRAINING", 2, at(2, 11), 30, host="coach-id", host_email=COACH)],
    }


def publish(emu: ZoomEmulator, data: dict[str, list[dict]]) -> None:
    """What Zoom would show: each user's upcoming list (a recurring meeting as its next occurrence, no
    tracking fields, no passcode) and every meeting's details (except LUNCH: the emulator answers with its
    list entry)."""
    emu.users = {}
    for user, meetings in data.items():
        listed = []
        for d in meetings:
            entry = {k: v for k, v in d.items() if k not in ("occurrences", "tracking_fields", "recurrence",
                                                             "settings", "password", "host_email")}
            if d.get("occurrences"):
                entry["start_time"] = next(o["start_time"] for o in d["occurrences"] if o["status"] == "available")
            listed.append(entry)
        emu.users[user] = listed
    emu.meetings_detail = {str(d["id"]): d for ms in data.values() for d in ms if str(d["id"]) != LUNCH}
    emu.meetings_detail[SALES] = meeting(SALES, "Sales training", 2, at(0, 10), host=OTHER,
                                         host_email="someone@example.com")


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t.timestamp()

    def __call__(self) -> float:
        return self.t

    def advance(self, delta: timedelta) -> datetime:
        self.t += delta.total_seconds()
        return datetime.fromtimestamp(self.t, UTC)


@dataclass
class Calendar:
    emu: ZoomEmulator
    data: dict[str, list[dict]]
    sync: CalendarSync
    store: ScheduleStore
    clock: Clock
    r: redis.Redis
    sent: list[str]  # the path of every request the client sent

    def details_calls(self) -> list[str]:
        return sorted(p.removeprefix("/v2/meetings/") for p in self.sent if p.startswith("/v2/meetings/"))

    def scheduled(self) -> dict[str, Schedule]:
        return {sid: s for sid, s in self.store.all(since=NOW - timedelta(days=1)) if s.status == "scheduled"}

    def status(self, mid: str, start: datetime) -> str | None:
        s = self.store.get(schedule_id(mid, start))
        return None if s is None else s.status

    def webhook(self, envelope: dict) -> None:
        handle_event(envelope, self.r, ReconcileQueue(self.r, clock=self.clock), reconcile_delay_s=60,
                     on_meeting_change=self.sync.on_webhook)


def settings(**overrides: object) -> CalendarSettings:
    values: dict[str, object] = {"ROLLCALL_TRAINERS": f"{TRAINER}, {COACH}", "ROLLCALL_TRAINING_TOPIC": r"\btraining\b",
                                 "ROLLCALL_TRAINING_FIELD": "Purpose=Training", "ROLLCALL_BOT_LEAD_S": 60,
                                 "ROLLCALL_SYNC_HORIZON_DAYS": 21, **overrides}
    return CalendarSettings(**values)  # type: ignore[arg-type]


@pytest.fixture()
def cal(redis_client) -> Iterator[Calendar]:
    data = calendars()
    emu = ZoomEmulator()
    publish(emu, data)
    sent: list[str] = []
    with EmulatorServer(emu) as server, httpx.Client(
            timeout=2.0, event_hooks={"request": [lambda req: sent.append(req.url.path)]}) as http:
        token = ServerToServerToken(http, server.oauth_url, emu.account_id, emu.client_id, SecretStr(emu.client_secret))
        api = ZoomApi(http, server.api_url, token, Governor(redis_client, emu.account_id, plan_limits("business")),
                      priority=Priority.LIVE, backoff_s=0.01,
                      page_sizes={Category.MEDIUM: 2})  # so the trainer's meetings come in four pages
        clock = Clock(NOW)
        store = ScheduleStore(redis_client, clock=clock)
        yield Calendar(emu, data, CalendarSync(api, redis_client, settings(), clock=clock), store, clock, redis_client, sent)


def expected_first_sync() -> dict[str, tuple[datetime, int, str, str | None]]:
    """schedule id → (start, minutes, owner, passcode)"""
    return {schedule_id(ONE_OFF, at(1, 9)): (at(1, 9), 60, TRAINER, "enc1"),
            **{schedule_id(WEEKLY, s): (s, 90, TRAINER, "fork-pw") for s in WEEKLY_STARTS[:3]},
            schedule_id(ONBOARDING, at(4, 14)): (at(4, 14), 120, TRAINER, "enc4"),
            schedule_id(COACHING, at(2, 11)): (at(2, 11), 30, COACH, "enc7")}


def test_sync_schedules_exactly_the_trainings_in_the_horizon_with_few_calls(cal):
    result = cal.sync.sync_once()
    assert result == SyncResult(added=6)
    got = cal.scheduled()
    assert {sid: (s.start_at, round((s.end_at - s.start_at).total_seconds() / 60), s.owner, s.passcode)
            for sid, s in got.items()} == expected_first_sync()
    assert all(s.join_at == s.start_at - LEAD and s.source == "calendar" and s.kind == "zoom" for s in got.values())
    assert got[schedule_id(ONBOARDING, at(4, 14))].topic == "Onboarding session"  # chosen by its tracking field
    # one list call per page; details only for the recurring training in the horizon (not per occurrence,
    # and not for the quarterly one, whose next occurrence is beyond it) and for the meetings in the horizon
    # whose topic alone cannot tell (the list carries no tracking fields)
    assert cal.emu.stats.endpoints["upcoming_meetings"] == LIST_PAGES
    assert cal.details_calls() == sorted([WEEKLY, LUNCH, ONBOARDING])
    assert cal.emu.stats.endpoints["meeting"] == 3


def test_a_second_sync_changes_nothing(cal):
    cal.sync.sync_once()
    before = {sid: s.model_dump() for sid, s in cal.scheduled().items()}
    assert cal.sync.sync_once() == SyncResult(unchanged=6)
    assert {sid: s.model_dump() for sid, s in cal.scheduled().items()} == before
    assert cal.emu.stats.endpoints["upcoming_meetings"] == 2 * LIST_PAGES and cal.emu.stats.endpoints["meeting"] == 6


def test_a_moved_occurrence_moves_its_bot_and_a_redelivery_changes_nothing(cal):
    cal.sync.sync_once()
    old, new = WEEKLY_STARTS[1], at(9, 18, 30)
    weekly = next(d for d in cal.data[TRAINER] if str(d["id"]) == WEEKLY)
    moved = weekly["occurrences"][1]
    moved["start_time"] = z(new)  # Zoom keeps the occurrence id of a moved occurrence
    publish(cal.emu, cal.data)
    envelope = {"event": "meeting.updated", "event_ts": 1_793_000_000_000, "payload": {
        "account_id": cal.emu.account_id, "operator": "admin@example.com",
        "object": {"id": int(WEEKLY), "uuid": f"u{WEEKLY}==", "occurrences": [
            {"occurrence_id": moved["occurrence_id"], "start_time": z(new)}]},
        "old_object": {"id": int(WEEKLY), "uuid": f"u{WEEKLY}==", "occurrences": [
            {"occurrence_id": moved["occurrence_id"], "start_time": z(old)}]}}}
    assert isinstance(parse_event(envelope), MeetingChangeEvent)
    results: list[SyncResult | None] = []
    for _ in range(2):  # through the webhook stream, delivered twice
        cal.r.xadd(keys.WEBHOOK_STREAM, {"event": "meeting.updated", "body": json.dumps(envelope)})
        done = process_pending_once(cal.r, ReconcileQueue(cal.r, clock=cal.clock), Settings(),
                                    on_meeting_change=lambda env: results.append(cal.sync.on_webhook(env)))
        assert done.handled == 1 and done.poison == []
    assert results == [SyncResult(moved=1, unchanged=2), SyncResult(unchanged=3)]
    assert cal.status(WEEKLY, old) == "cancelled"
    s = cal.store.get(schedule_id(WEEKLY, new))
    assert s is not None and s.status == "scheduled" and s.join_at == new - LEAD and s.owner == TRAINER
    assert cal.emu.stats.endpoints["meeting"] == 3 + 2  # one details call per meeting.updated
    assert cal.sync.sync_once() == SyncResult(unchanged=6)  # the periodic sync agrees
    assert cal.status(WEEKLY, old) == "cancelled"


def test_a_moved_one_off_meeting_and_a_whole_meeting_deleted(cal):
    cal.sync.sync_once()
    one_off = next(d for d in cal.data[TRAINER] if str(d["id"]) == ONE_OFF)
    one_off["start_time"] = z(at(1, 15))
    publish(cal.emu, cal.data)
    assert cal.sync.on_webhook({"event": "meeting.updated", "payload": {"object": {
        "id": ONE_OFF, "start_time": z(at(1, 15))}, "old_object": {"id": ONE_OFF, "start_time": z(at(1, 9))}}}
    ) == SyncResult(moved=1)
    assert (cal.status(ONE_OFF, at(1, 9)), cal.status(ONE_OFF, at(1, 15))) == ("cancelled", "scheduled")
    calls = cal.emu.stats.total
    cal.webhook({"event": "meeting.deleted", "event_ts": 1, "payload": {"object": {
        "id": ONE_OFF, "uuid": f"u{ONE_OFF}==", "host_id": TRAINER, "topic": "Safety training"}}})
    assert cal.status(ONE_OFF, at(1, 15)) == "cancelled"
    assert cal.emu.stats.total == calls  # a deletion needs no call
    cal.data[TRAINER] = [d for d in cal.data[TRAINER] if str(d["id"]) != ONE_OFF]
    publish(cal.emu, cal.data)
    assert cal.sync.sync_once() == SyncResult(unchanged=5)


def test_deleting_one_occurrence_cancels_just_it(cal):
    cal.sync.sync_once()
    calls = cal.emu.stats.total
    third = occurrences(WEEKLY_STARTS[2])[0]
    cal.webhook({"event": "meeting.deleted", "event_ts": 2, "payload": {"account_id": "a", "object": {
        "id": WEEKLY, "uuid": f"u{WEEKLY}==", "host_id": TRAINER, "topic": "Forklift Training",
        "occurrences": [{"occurrence_id": third["occurrence_id"], "start_time": third["start_time"]}]}}})
    assert [cal.status(WEEKLY, s) for s in WEEKLY_STARTS[:3]] == ["scheduled", "scheduled", "cancelled"]
    assert len(cal.scheduled()) == 5 and cal.emu.stats.total == calls
    weekly = next(d for d in cal.data[TRAINER] if str(d["id"]) == WEEKLY)
    weekly["occurrences"][2]["status"] = "deleted"  # how Zoom shows it from now on
    publish(cal.emu, cal.data)
    assert cal.sync.sync_once() == SyncResult(unchanged=5)


def test_a_tracked_meeting_without_a_fixed_time_gets_a_bot_when_it_starts(cal):
    cal.sync.sync_once()
    now = cal.clock.advance(timedelta(hours=3))
    started = at(0, 10, 58)
    calls = cal.emu.stats.total
    envelope = {"event": "meeting.started", "event_ts": int(now.timestamp() * 1000), "payload": {
        "account_id": "a", "object": {"id": CLINIC, "uuid": "clinic-instance-1==", "host_id": TRAINER,
                                      "topic": "Drop-in training clinic", "type": 3, "start_time": z(started),
                                      "duration": 45, "timezone": "Europe/Madrid"}}}
    cal.webhook(envelope)
    s = cal.store.get(schedule_id(CLINIC, started))
    assert s is not None and s.status == "scheduled"
    assert (s.join_at, s.end_at, s.source, s.owner, s.topic) == (
        now, started + timedelta(minutes=45), "webhook", TRAINER, "Drop-in training clinic")
    assert cal.emu.stats.total == calls  # the host and the topic decide: no call
    assert cal.store.take_due() == [s.id]  # the bot goes at once
    cal.webhook(envelope)  # a redelivery: that bot is on its way
    assert [sid for sid in cal.scheduled() if sid.startswith(CLINIC)] == []
    assert cal.r.xlen(keys.JOB_STREAM) == 1


def test_a_training_that_starts_early_gets_its_bot_now_but_not_a_second(cal):
    cal.sync.sync_once()
    now = cal.clock.advance(timedelta(days=2, hours=2, minutes=30))  # 10:30, half an hour before 11:00
    assert cal.sync.on_webhook({"event": "meeting.started", "payload": {"object": {
        "id": COACHING, "uuid": "coach-1==", "host_id": "coach-id", "topic": "Advanced TRAINING",
        "start_time": z(now), "duration": 30}}}) == SyncResult(added=1)
    early = cal.store.get(schedule_id(COACHING, now))
    assert early is not None and early.join_at == now and early.owner == COACH
    assert cal.status(COACHING, at(2, 11)) == "scheduled"  # the dispatcher finds a bot there and skips it
    due = cal.store.take_due()  # (with the past days' trainings, long due by now)
    assert early.id in due and schedule_id(COACHING, at(2, 11)) not in due
    cal.r.set(keys.meeting_lock(COACHING), "job-1", ex=60)  # the bot is in
    cal.clock.advance(timedelta(minutes=5))
    assert cal.sync.on_webhook({"event": "meeting.started", "payload": {"object": {
        "id": COACHING, "uuid": "coach-2==", "host_id": "coach-id", "topic": "Advanced TRAINING",
        "start_time": z(now + timedelta(minutes=5)), "duration": 30}}}) == SyncResult()


def test_untracked_meetings_that_start_get_no_bot(cal):
    cal.sync.sync_once()
    before = set(cal.scheduled())
    calls = cal.details_calls()
    for mid, host, topic in ((LUNCH, TRAINER, "Team lunch"), (SALES, OTHER, "Sales training")):
        cal.webhook({"event": "meeting.started", "payload": {"object": {
            "id": mid, "uuid": f"{mid}-now==", "host_id": host, "topic": topic, "start_time": z(NOW), "duration": 60}}})
    assert set(cal.scheduled()) == before
    # the lunch might carry the tracking field, and a trainer given by e-mail might be the sales host
    assert cal.details_calls() == sorted([*calls, LUNCH, SALES])


def test_without_a_tracking_field_no_details_are_needed_for_one_off_meetings(cal):
    sync = CalendarSync(cal.sync.api, cal.r, settings(ROLLCALL_TRAINING_FIELD=""), clock=cal.clock)
    assert sync.sync_once() == SyncResult(added=5)  # the onboarding session is no longer a training
    assert cal.details_calls() == [WEEKLY]
    sync.on_webhook({"event": "meeting.started", "payload": {"object": {
        "id": LUNCH, "uuid": "l==", "host_id": TRAINER, "topic": "Team lunch", "start_time": z(NOW)}}})
    assert cal.details_calls() == [WEEKLY]  # the host is a trainer and the topic says no: no call


def test_an_unreadable_meeting_is_logged_and_skipped_and_its_schedules_kept(cal, caplog):
    cal.sync.sync_once()
    cal.emu.users[TRAINER][0]["start_time"] = "tomorrow morning"  # ONE_OFF
    with caplog.at_level(logging.WARNING, logger="orchestrator.dispatch.calendar_sync"):
        result = cal.sync.sync_once()
    assert result == SyncResult(unchanged=5, skipped=1)
    assert ONE_OFF in caplog.text
    assert cal.status(ONE_OFF, at(1, 9)) == "scheduled"


def test_a_failed_listing_leaves_that_trainers_schedules_alone(cal):
    cal.sync.sync_once()
    del cal.emu.users[COACH]  # Zoom answers 404 "User does not exist"
    result = cal.sync.sync_once()
    assert result.failed_trainers == [COACH] and result.unchanged == 5 and result.cancelled == 0
    assert cal.status(COACHING, at(2, 11)) == "scheduled"


def test_a_schedule_cancelled_by_hand_is_not_brought_back(cal):
    cal.sync.sync_once()
    cal.store.cancel(schedule_id(ONE_OFF, at(1, 9)))
    assert cal.sync.sync_once() == SyncResult(unchanged=5, kept_cancelled=1)
    assert cal.status(ONE_OFF, at(1, 9)) == "cancelled"


def test_a_sync_waits_for_a_webhook_being_applied_and_a_webhook_for_a_sync(cal):
    impatient = CalendarSync(cal.sync.api, cal.r, cal.sync.settings, clock=cal.clock, lock_wait_s=0.2)
    with cal.r.lock(SYNC_LOCK, timeout=10):  # another process is changing the calendar
        with pytest.raises(redis.exceptions.LockError):
            impatient.sync_once()
        cal.r.xadd(keys.WEBHOOK_STREAM, {"event": "meeting.deleted", "body": json.dumps(
            {"event": "meeting.deleted", "payload": {"object": {"id": ONE_OFF}}})})
        with pytest.raises(redis.exceptions.LockError):  # the entry stays unacknowledged, for later
            process_pending_once(cal.r, ReconcileQueue(cal.r), Settings(), on_meeting_change=impatient.on_webhook)
    assert cal.emu.stats.total == 0 and cal.scheduled() == {}
    assert cal.r.xpending(keys.WEBHOOK_STREAM, keys.WEBHOOK_GROUP)["pending"] == 1
    assert impatient.sync_once().added == 6


def test_run_syncs_until_stopped(cal):
    cal.sync.settings.sync_every_s = 0.05
    stop = threading.Event()
    worker = threading.Thread(target=cal.sync.run, args=(stop,))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while cal.emu.stats.endpoints["upcoming_meetings"] < 2 * LIST_PAGES and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        worker.join(5)
    assert not worker.is_alive() and len(cal.scheduled()) == 6


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("ROLLCALL_TRAINERS", " trainer-1 , coach@example.com,, ")
    monkeypatch.setenv("ROLLCALL_TRAINING_FIELD", "Purpose = Training ")
    s = Settings().calendar
    assert s.trainers == ["trainer-1", "coach@example.com"]
    assert s.field_rule == ("purpose", "training") and s.topic_pattern is None  # the field alone selects
    assert (s.bot_lead_s, s.sync_every_s, s.horizon_days) == (60, 900, 14)
    monkeypatch.delenv("ROLLCALL_TRAINING_FIELD")
    everything = Settings().calendar.topic_pattern
    assert everything is not None and everything.search("any meeting")
    monkeypatch.setenv("ROLLCALL_TRAINING_TOPIC", "TRAINING|workshop")
    topic = Settings().calendar.topic_pattern
    assert topic is not None and topic.search("Forklift training") and not topic.search("Team lunch")
    for name, value in (("ROLLCALL_TRAINING_TOPIC", "(unclosed"), ("ROLLCALL_TRAINING_FIELD", "Purpose")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ValidationError, match=name):
            Settings()
        monkeypatch.delenv(name)
