"""The shared reconciliation queue and the reconciler's handling of what goes wrong: one worker per
meeting, retries with backoff and a limit, stops that lose nothing, outbound deliveries that wait."""
from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import redis as redis_lib

from orchestrator import keys
from orchestrator.outbound import OutboundWebhooks
from orchestrator.reconciliation.queue import ReconcileJob, ReconcileQueue
from orchestrator.reconciliation.reconciler import MAX_ATTEMPTS, Reconciler
from orchestrator.report_store import ReportStore
from orchestrator.webhooks.events import process_pending_once
from orchestrator.settings import Settings
from orchestrator.zoom.api import ZoomApiError
from orchestrator.zoom.models import PastMeeting, ReportParticipant
from orchestrator.zoom.oauth import OAuthError

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_a_job_added_while_it_runs_is_not_claimed_twice_but_runs_again_after(redis_client):
    clock = Clock()
    a, b = ReconcileQueue(redis_client, clock=clock), ReconcileQueue(redis_client, clock=clock)
    a.add(ReconcileJob(uuid="m=="))
    assert a.claim().uuid == "m=="
    assert b.add(ReconcileJob(uuid="m=="), force=True)  # `rollcall reconcile --force` while it runs
    assert b.claim() is None
    a.complete("m==", {"participants": 3})
    again = b.claim()
    assert again is not None and again.uuid == "m==" and again.attempts == 1
    b.complete("m==", {"participants": 3})
    assert a.claim() is None and not a.add(ReconcileJob(uuid="m=="))  # done: not queued again


def test_a_crashed_workers_job_comes_back_when_its_lease_ends(redis_client):
    clock = Clock()
    q = ReconcileQueue(redis_client, clock=clock, lease_s=600)
    q.add_many(["x==", "y=="])
    first = q.claim()
    clock.t += 601
    assert {q.claim().uuid, q.claim().uuid} == {"x==", "y=="}
    assert first is not None


class FlakyApi:
    """Stands in for the REST client: answers details and one report row, or fails as told."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.calls = 0
        self.http = None

    def past_meeting(self, uuid):
        self.calls += 1
        if self.fail:
            raise self.fail
        return PastMeeting(uuid=uuid, id="85000000001", start_time=datetime.fromtimestamp(NOW - 7200, UTC),
                           end_time=datetime.fromtimestamp(NOW - 3600, UTC))

    def report_participants(self, uuid):
        self.calls += 1
        return [ReportParticipant(id="u1", name="Ana", user_id="1", join_time=datetime.fromtimestamp(NOW - 7000, UTC))]


def run_with(redis_client, api, clock, job=ReconcileJob(uuid="m==")):
    queue = ReconcileQueue(redis_client, clock=clock)
    queue.add(job)
    return Reconciler(api, ReportStore(redis_client), queue, clock=clock), queue


def test_an_unexpected_failure_is_retried_with_backoff_then_kept_as_failed(redis_client):
    clock = Clock()
    reconciler, queue = run_with(redis_client, FlakyApi(ValueError("not JSON")), clock)
    delays = []
    for _ in range(MAX_ATTEMPTS):
        summary = reconciler.run()
        if summary.failed:
            break
        assert summary.retried == 1 and summary.later == 1
        delays.append(queue.next_due() - clock.t)
        clock.t = queue.next_due()
    assert delays == [300, 600, 1200, 2400, 4800]
    assert summary.failed == 1 and "ValueError" in redis_client.hget(keys.RECONCILE_FAILED, "m==")


def test_refused_credentials_stop_the_run_and_lose_nothing(redis_client):
    clock = Clock()
    reconciler, queue = run_with(redis_client, FlakyApi(OAuthError("Zoom refused the credentials")), clock)
    summary = reconciler.run()
    assert summary.stopped_by == "zoom credentials" and summary.left == 1 and summary.failed == 0
    assert queue.claim().attempts == 1  # back in the queue, the refused attempt not counted


def test_a_meeting_zoom_does_not_know_yet_is_retried_if_it_just_ended(redis_client):
    clock = Clock()
    missing = ZoomApiError(404, 3001, "Meeting does not exist", "/past_meetings/m==")
    fresh = ReconcileJob(uuid="m==", meeting_id="85000000001", start_time="2026-11-21T10:00:00Z",
                         end_time="2026-11-21T11:00:00Z", source="webhook")
    reconciler, _ = run_with(redis_client, FlakyApi(missing), clock, fresh)
    reconciler.api.report_participants = lambda uuid: (_ for _ in ()).throw(missing)
    assert reconciler.run().retried == 1
    clock.t += 3 * 86400  # still unknown days later: it really does not exist
    while not (summary := reconciler.run()).failed:
        clock.t = reconciler.queue.next_due()
    assert summary.failures[0][0] == "m=="


def test_leave_times_missing_from_the_report_come_from_the_webhooks(redis_client):
    clock = Clock()
    redis_client.rpush(keys.meeting_webhook_log("m=="), *[
        '{"event":"meeting.participant_left","status":"in_meeting","edge":"leave","user_id":"1",'
        '"leave_time":"2026-11-21T11:00:00Z"}'])
    reconciler, _ = run_with(redis_client, FlakyApi(), clock)
    assert reconciler.run().done == 1
    record = ReportStore(redis_client).record("m==")
    assert record["meeting"]["source"]["leave_times_from_webhooks"] == 1
    assert record["participants"][0]["presence"] == [{"join_s": 200.0, "leave_s": 3600.0}]


def test_a_failed_outbound_delivery_waits_in_the_outbox_and_is_sent_later(redis_client):
    clock = Clock()
    up = {"ok": False}
    got = []

    def receiver(request: httpx.Request) -> httpx.Response:
        if not up["ok"]:
            return httpx.Response(503)
        got.append(request)
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(receiver)) as http:
        out = OutboundWebhooks(["https://user:pw@hr.example/hook"], "s3cret", redis_client, http, attempts=2,
                               sleep=lambda s: None, clock=clock)
        assert out.emit("meeting.reconciled", {"n": 1}) == {"hr.example": False}
        assert out.retry_due() == 0  # not due yet
        clock.t += 61
        assert out.retry_due() == 0  # still down: tried once more, later again
        up["ok"] = True
        clock.t += 3600
        assert out.retry_due() == 1 and len(got) == 1
    outcomes = [(f["host"], f["outcome"], f["ok"]) for _, f in redis_client.xrange(keys.OUTBOUND_DELIVERIES)]
    assert outcomes == [("hr.example", "HTTP 503", "0")] * 3 + [("hr.example", "HTTP 204", "1")]
    assert redis_client.zcard(keys.OUTBOUND_OUTBOX) == 0
    assert not any("pw" in h for h, _, _ in outcomes)  # credentials in the URL are never recorded


def test_an_outbound_delivery_is_retried_with_backoff_only_when_another_attempt_may_succeed(redis_client):
    answers = [503, 429, 204, 400]
    slept: list[float] = []

    with httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(answers.pop(0)))) as http:
        out = OutboundWebhooks(["https://hr.example/hook"], "s3cret", redis_client, http, attempts=4, backoff_s=1.0,
                               sleep=slept.append, clock=Clock())
        assert out.emit("training.compliance", {"n": 1}) == {"hr.example": True}  # 503, 429, then 204
        assert out.emit("training.compliance", {"n": 2}) == {"hr.example": False}  # a 400 is not tried again
    assert slept == [1.0, 4.0]  # backoff ×4 between attempts, none after a refusal
    attempts = [(f["attempt"], f["outcome"]) for _, f in redis_client.xrange(keys.OUTBOUND_DELIVERIES)]
    assert attempts == [("1", "HTTP 503"), ("2", "HTTP 429"), ("3", "HTTP 204"), ("1", "HTTP 400")]
    assert redis_client.zcard(keys.OUTBOUND_OUTBOX) == 0  # a refused delivery does not wait for later


def test_a_temporary_redis_error_keeps_the_webhook_entry_for_later(redis_client, monkeypatch):
    import orchestrator.webhooks.events as events

    redis_client.xadd(keys.WEBHOOK_STREAM, {"event": "meeting.ended", "delivery": "d", "received_at": "0", "body": (
        '{"event":"meeting.ended","event_ts":1,"payload":{"account_id":"a","object":{"id":"1","uuid":"m==",'
        '"start_time":"2026-11-21T10:00:00Z","end_time":"2026-11-21T11:00:00Z"}}}')})
    settings = Settings(ROLLCALL_RECONCILE_DELAY_S=0)
    queue = ReconcileQueue(redis_client)
    real = events.handle_event

    def read_only(*a, **kw):
        raise redis_lib.ReadOnlyError("You can't write against a read only replica.")

    monkeypatch.setattr(events, "handle_event", read_only)
    with pytest.raises(redis_lib.ReadOnlyError):
        process_pending_once(redis_client, queue, settings)
    monkeypatch.setattr(events, "handle_event", real)
    process_pending_once(redis_client, queue, settings)
    assert queue.claim().uuid == "m=="
