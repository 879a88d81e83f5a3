"""The Zoom webhook receiver end to end on a real Redis: only signed, fresh, well-formed, first-time
deliveries reach the stream; the consumer turns them into meeting logs and reconciliation jobs,
whatever the order, however often, and past poison entries."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time

import httpx
import pytest
import redis
import uvicorn
from fastapi.testclient import TestClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from orchestrator import keys
from orchestrator.server.app import create_app
from orchestrator.reconciliation.queue import ReconcileQueue
from orchestrator.redis_conn import free_port
from orchestrator.settings import Settings
from orchestrator.webhooks.auth import delivery_key, signature
from orchestrator.webhooks.events import (
    LOG_TTL_S,
    ParticipantEvent,
    RecordingEvent,
    RtmsEvent,
    consume,
    handle_event,
    parse_event,
    process_pending_once,
)
from orchestrator.webhooks.receiver import MAX_BODY_BYTES

SECRET = "whsec-receiver-test"
NOW = 1_800_000_000.0
UUID = "4444AAAiAAAAAiAiAiiAii=="
MEETING_ID = "85012345678"
DELAY = 60.0


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def compact(envelope: dict) -> bytes:
    return json.dumps(envelope, separators=(",", ":")).encode()


def signed(body: bytes, ts: float = NOW) -> dict[str, str]:
    return {"content-type": "application/json", "x-zm-request-timestamp": str(int(ts)),
            "x-zm-signature": signature(SECRET, str(int(ts)), body)}


def meeting_event(event: str, event_ts: int, **extra) -> dict:
    return {"event": event, "event_ts": event_ts, "payload": {"account_id": "acc", "object": {
        "id": MEETING_ID, "uuid": UUID, "host_id": "h1", "topic": "Standup", "type": 2,
        "start_time": "2026-11-21T10:00:00Z", **extra}}}


def participant_event(event: str, event_ts: int, participant: dict, **obj) -> dict:
    return {"event": event, "event_ts": event_ts, "payload": {"account_id": "acc", "object": {
        "id": MEETING_ID, "uuid": UUID, "host_id": "h1", "topic": "Standup", **obj, "participant": participant}}}


ENDED = meeting_event("meeting.ended", 1_800_000_000_000, end_time="2026-11-21T10:45:00Z")
LEFT_AFTER_END = participant_event("meeting.participant_left", 1_800_000_002_400, {
    "user_id": "16778240", "user_name": "Ana Ruiz", "id": "", "participant_uuid": "pu-1", "email": "ana@example.org",
    "leave_time": "2026-11-21T10:45:02Z", "leave_reason": "left the meeting. Reason : Host ended the meeting."})


@pytest.fixture()
def settings() -> Settings:
    return Settings(ZOOM_WEBHOOK_SECRET_TOKEN=SECRET, ROLLCALL_RECONCILE_DELAY_S=DELAY)


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def client(settings, redis_client, clock) -> TestClient:
    return TestClient(create_app(settings, redis_client, clock=clock))


def post(client: TestClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return client.post("/webhooks/zoom", content=body, headers=headers)


def stream_len(r: redis.Redis) -> int:
    return r.xlen(keys.WEBHOOK_STREAM)


def refusals(r: redis.Redis) -> list[dict]:
    return [fields for _, fields in r.xrange(keys.WEBHOOK_REFUSED)]


def webhook_log(r: redis.Redis, uuid: str = UUID) -> list[dict]:
    return [json.loads(e) for e in r.lrange(keys.meeting_webhook_log(uuid), 0, -1)]


# --- the request: what gets in --------------------------------------------------------------------------

def test_url_validation_answers_the_hmac_of_the_plain_token_and_queues_nothing(client, redis_client):
    body = compact({"event": "endpoint.url_validation", "event_ts": 1_800_000_000_000,
                    "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}})
    response = post(client, body, signed(body))
    assert response.status_code == 200
    expected = hmac.new(SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert response.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert stream_len(redis_client) == 0


def test_url_validation_is_verified_too_and_needs_a_plain_token(client, redis_client):
    body = compact({"event": "endpoint.url_validation", "payload": {"plainToken": "tok"}})
    forged = {**signed(body), "x-zm-signature": signature("not-the-secret", str(int(NOW)), body)}
    assert post(client, body, forged).status_code == 401
    empty = compact({"event": "endpoint.url_validation", "payload": {}})
    assert post(client, empty, signed(empty)).status_code == 400
    assert stream_len(redis_client) == 0


@pytest.mark.parametrize("tamper, reason", [
    (lambda b: (b.replace(b"Standup", b"Takeover"), signed(b)), "does not match"),  # body altered after signing
    (lambda b: (b, {**signed(b), "x-zm-signature": signature("guess", str(int(NOW)), b)}), "does not match"),
    (lambda b: (b, signed(b, NOW - 301)), "more than 300"),  # a captured request replayed later
    (lambda b: (b, signed(b, NOW + 400)), "more than 300"),
    (lambda b: (b, {"content-type": "application/json"}), "missing"),
])
def test_unsigned_altered_or_stale_requests_are_refused_and_not_queued(client, redis_client, tamper, reason):
    body, headers = tamper(compact(ENDED))
    response = post(client, body, headers)
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert stream_len(redis_client) == 0
    (refused,) = refusals(redis_client)  # Zoom never retries a 4xx: what was lost is on record
    assert refused["status"] == "401" and refused["meeting_uuid"] == UUID


def test_a_timestamp_just_inside_the_window_is_accepted(client, redis_client):
    body = compact(ENDED)
    assert post(client, body, signed(body, NOW - 299)).json() == {"status": "accepted"}
    assert stream_len(redis_client) == 1


def test_unsigned_garbage_is_a_401_not_a_400(client, redis_client):
    assert post(client, b"{not json", {"content-type": "application/json"}).status_code == 401
    assert stream_len(redis_client) == 0


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"meeting.ended"', b'{"payload": {}}',
                                  b'{"event": 5}', b'{"event": "meeting.ended", "x": "\xff"}'])
def test_signed_but_malformed_bodies_are_a_400_and_not_queued(client, redis_client, body):
    assert post(client, body, signed(body)).status_code == 400
    assert stream_len(redis_client) == 0
    assert [(r["status"], r["verified"]) for r in refusals(redis_client)] == [("400", "1")]


def test_nesting_too_deep_for_the_parser_is_a_400_not_a_500(client, redis_client):
    deep = b'{"event": "meeting.ended", "payload": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    assert post(client, deep, signed(deep)).status_code == 400
    assert post(client, deep, {"content-type": "application/json"}).status_code == 401
    assert [r["reason"] for r in refusals(redis_client)] == ["not_json", "unsigned"]


def test_a_signed_event_over_64_kib_is_accepted_not_lost(client, redis_client):
    envelope = meeting_event("recording.completed", 1_800_000_000_000, topic="x" * 70_000)
    body = compact(envelope)
    assert post(client, body, signed(body)).json() == {"status": "accepted"}
    assert stream_len(redis_client) == 1 and refusals(redis_client) == []


def test_a_body_over_1_mib_is_a_413_recorded_and_not_queued(client, redis_client):
    envelope = meeting_event("meeting.started", 1_800_000_000_000, topic="x" * MAX_BODY_BYTES)
    body = compact(envelope)
    assert post(client, body, signed(body)).status_code == 413  # refused on Content-Length
    chunks = iter([body[:40_000], body[40_000:]])  # chunked: no Content-Length, so counted while read
    response = client.post("/webhooks/zoom", content=chunks, headers={**signed(body), "x-zm-trackingid": "trk-1"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert stream_len(redis_client) == 0
    first, second = refusals(redis_client)
    assert (first["reason"], first["status"], first["verified"]) == ("too_large", "413", "0")
    assert "meeting_uuid" not in first and second["tracking_id"] == "trk-1"  # nothing read from an unread body


def test_a_declared_oversized_body_is_refused_without_reading_it(settings, redis_client):
    """Content-Length is checked first: a client announcing a huge body is not read from at all."""
    sent: list[dict] = []

    async def receive() -> dict:
        raise AssertionError("the body was read")

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/webhooks/zoom", "raw_path": b"/webhooks/zoom", "root_path": "", "query_string": b"",
             "headers": [(b"content-length", str(MAX_BODY_BYTES + 1).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(create_app(settings, redis_client, clock=Clock())(scope, receive, send))
    assert sent[0]["status"] == 413


def test_a_body_of_exactly_the_limit_is_accepted(client, redis_client):
    envelope = meeting_event("meeting.started", 1_800_000_000_000, topic="")
    padding = MAX_BODY_BYTES - len(compact(envelope))
    envelope["payload"]["object"]["topic"] = "x" * padding
    body = compact(envelope)
    assert len(body) == MAX_BODY_BYTES
    assert post(client, body, signed(body)).json() == {"status": "accepted"}


def test_a_redelivery_is_answered_as_a_duplicate_and_queued_once(client, redis_client, clock):
    body = compact(ENDED)
    assert post(client, body, signed(body)).json() == {"status": "accepted"}
    clock.t = NOW + 300  # Zoom's retry 5 minutes later, freshly signed
    second = post(client, body, signed(body, clock.t))
    assert second.status_code == 200 and second.json() == {"status": "duplicate"}
    entries = redis_client.xrange(keys.WEBHOOK_STREAM)
    assert len(entries) == 1
    fields = entries[0][1]
    assert fields["event"] == "meeting.ended"
    assert fields["delivery"] == delivery_key(ENDED)
    assert fields["body"] == body.decode()
    assert float(fields["received_at"]) == NOW
    assert 0 < redis_client.ttl(keys.webhook_seen(delivery_key(ENDED))) <= 172_800


def test_without_a_secret_token_the_receiver_says_so_with_503(redis_client):
    client = TestClient(create_app(Settings(ZOOM_WEBHOOK_SECRET_TOKEN=None), redis_client, clock=Clock()))
    body = compact(ENDED)
    response = post(client, body, signed(body))
    assert response.status_code == 503
    assert "ZOOM_WEBHOOK_SECRET_TOKEN" in response.json()["detail"]
    assert stream_len(redis_client) == 0
    assert refusals(redis_client) == []  # a 5xx: Zoom retries it, nothing is lost yet


def test_a_refusal_records_what_and_why_and_only_a_well_formed_meeting_from_an_unverified_body(
        client, redis_client, caplog):
    forged = {"event": "meeting.ended", "payload": {"object": {
        "uuid": "ana@example.org", "id": "85012345678", "participant": {"email": "ana@example.org"}}}}
    body = compact(forged)
    with caplog.at_level(logging.DEBUG, logger="orchestrator"):
        assert post(client, body, {**signed(body), "x-zm-signature": "v0=00"}).status_code == 401
    (refused,) = refusals(redis_client)
    assert refused == {"at": f"{NOW:.3f}", "reason": "bad_signature", "status": "401", "verified": "0",
                       "event": "meeting.ended", "meeting_id": "85012345678"}  # not an e-mail for a UUID
    assert "ana@example.org" not in caplog.text and redis_client.zcard(keys.WEBHOOK_HINTS) == 0


def test_a_stale_but_signed_meeting_ended_becomes_a_hint_to_look_at_its_meeting(client, redis_client):
    body = compact(ENDED)
    assert post(client, body, signed(body, NOW - 600)).status_code == 401  # our clock, or a replay
    (refused,) = refusals(redis_client)
    assert (refused["reason"], refused["verified"], refused["meeting_uuid"]) == ("stale", "1", UUID)
    assert redis_client.zscore(keys.WEBHOOK_HINTS, UUID) == NOW + 60
    assert stream_len(redis_client) == 0 and redis_client.zcard(keys.RECONCILE_PENDING) == 0


def test_health_and_openapi(client, settings, redis_client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/openapi.json").status_code == 503  # no admin token configured: closed
    admin = TestClient(create_app(Settings(ZOOM_WEBHOOK_SECRET_TOKEN=SECRET, ROLLCALL_ADMIN_TOKEN="t"), redis_client))
    schema = admin.get("/openapi.json", headers={"Authorization": "Bearer t"}).json()
    assert schema["info"]["title"] == "Rollcall"
    assert "post" in schema["paths"]["/webhooks/zoom"]
    down = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))  # nothing listens there
    assert TestClient(create_app(settings, down)).get("/healthz").status_code == 503


# --- the consumer: what it makes of what got in -----------------------------------------------------------

def queue_at(r: redis.Redis, t: float) -> ReconcileQueue:
    return ReconcileQueue(r, clock=Clock(t))


def test_meeting_ended_becomes_a_reconciliation_job_due_after_the_delay(client, redis_client, settings):
    body = compact(ENDED)
    post(client, body, signed(body))
    assert process_pending_once(redis_client, queue_at(redis_client, NOW), settings).handled == 1
    assert queue_at(redis_client, NOW + DELAY - 1).claim() is None  # not yet: Zoom's reports fill in later
    job = queue_at(redis_client, NOW + DELAY).claim()
    assert job is not None
    assert (job.uuid, job.meeting_id, job.source) == (UUID, MEETING_ID, "webhook")
    assert (job.start_time, job.end_time) == ("2026-11-21T10:00:00Z", "2026-11-21T10:45:00Z")
    assert redis_client.xpending(keys.WEBHOOK_STREAM, keys.WEBHOOK_GROUP)["pending"] == 0


def test_participant_left_after_meeting_ended_is_still_logged(client, redis_client, settings):
    for envelope in (ENDED, LEFT_AFTER_END):
        body = compact(envelope)
        assert post(client, body, signed(body)).json() == {"status": "accepted"}
    process_pending_once(redis_client, queue_at(redis_client, NOW), settings)
    ended, left = webhook_log(redis_client)
    assert ended["event"] == "meeting.ended" and ended["end_time"] == "2026-11-21T10:45:00Z"
    assert 0 < redis_client.ttl(keys.meeting_webhook_log(UUID)) <= LOG_TTL_S  # the log does not live forever
    assert left == {"event": "meeting.participant_left", "event_ts": 1_800_000_002_400, "status": "in_meeting",
                    "edge": "leave", "user_id": "16778240", "participant_uuid": "pu-1", "email": "ana@example.org",
                    "user_name": "Ana Ruiz", "leave_time": "2026-11-21T10:45:02Z",
                    "leave_reason": "left the meeting. Reason : Host ended the meeting."}  # blank id left out


def test_handling_an_event_again_changes_nothing(redis_client):
    queue = queue_at(redis_client, NOW)
    for envelope in (LEFT_AFTER_END, ENDED, LEFT_AFTER_END, ENDED):
        handle_event(envelope, redis_client, queue, reconcile_delay_s=DELAY)
    assert [e["event"] for e in webhook_log(redis_client)] == ["meeting.participant_left", "meeting.ended"]
    assert redis_client.zrange(keys.RECONCILE_PENDING, 0, -1, withscores=True) == [(UUID, NOW + DELAY)]
    assert queue_at(redis_client, NOW + DELAY).claim().uuid == UUID
    queue.complete(UUID, {"participants": 1})
    handle_event(ENDED, redis_client, queue_at(redis_client, NOW + 3600), reconcile_delay_s=DELAY)
    assert redis_client.zcard(keys.RECONCILE_PENDING) == 0  # a late redelivery does not reconcile again


def test_e_mail_addresses_and_names_never_reach_python_logging(redis_client, caplog):
    joined = participant_event("meeting.participant_joined", 1_800_000_000_500, {
        "user_id": "1", "user_name": "Ana Ruiz", "email": "ana@example.org", "join_time": "2026-11-21T10:00:05Z"})
    with caplog.at_level(logging.DEBUG, logger="orchestrator"):
        handle_event(joined, redis_client, queue_at(redis_client, NOW), reconcile_delay_s=DELAY)
        redis_client.xadd(keys.WEBHOOK_STREAM, {"body": json.dumps({**joined, "payload": "ana@example.org"})})
        result = process_pending_once(redis_client, queue_at(redis_client, NOW), Settings())
    assert len(result.poison) == 1 and caplog.records
    assert "ana@example.org" not in caplog.text and "Ana Ruiz" not in caplog.text
    assert webhook_log(redis_client)[0]["email"] == "ana@example.org"  # kept in Redis for reconciliation


def test_breakout_and_waiting_room_events_parse_and_are_logged(redis_client):
    breakout = participant_event("meeting.participant_joined_breakout_room", 1_800_000_100_000, {
        "user_id": "33554432", "parent_user_id": "16778240", "user_name": "Ana Ruiz", "participant_uuid": "pu-1",
        "join_time": "2026-11-21T10:10:00Z", "id": 123}, breakout_room_uuid="bo-uuid-1")
    waiting = participant_event("meeting.participant_joined_waiting_room", 1_800_000_000_100, {
        "user_id": "", "user_name": "Guest", "date_time": "2026-11-21T09:59:00Z", "email": "",
        "registrant_id": "reg-9"})
    parsed = parse_event(breakout)
    assert isinstance(parsed, ParticipantEvent)
    assert parsed.payload.object.breakout_room_uuid == "bo-uuid-1"
    assert parsed.participant.parent_user_id == "16778240"
    assert parsed.participant.id == "123"  # a number where Zoom usually sends text
    w = parse_event(waiting)
    assert isinstance(w, ParticipantEvent)
    assert (w.participant.date_time, w.participant.user_id, w.participant.email) == ("2026-11-21T09:59:00Z", None, None)
    for envelope in (breakout, waiting):
        handle_event(envelope, redis_client, queue_at(redis_client, NOW), reconcile_delay_s=DELAY)
    bo, wr = webhook_log(redis_client)
    assert (bo["status"], bo["edge"], bo["breakout_room_uuid"], bo["parent_user_id"]) == (
        "in_breakout_room", "join", "bo-uuid-1", "16778240")
    assert (wr["status"], wr["edge"], wr["date_time"], wr["registrant_id"]) == (
        "in_waiting_room", "join", "2026-11-21T09:59:00Z", "reg-9")
    assert "user_id" not in wr and "email" not in wr
    assert redis_client.zcard(keys.RECONCILE_PENDING) == 0  # only meeting.ended queues work


def test_recording_completed_with_a_numeric_meeting_id(redis_client):
    recording = {"event": "recording.completed", "event_ts": 1_800_000_900_000, "download_token": "tok-secret",
                 "payload": {"account_id": "acc", "object": {
                     "id": 85012345678, "uuid": UUID, "host_id": "h1", "topic": "Standup",
                     "start_time": "2026-11-21T10:00:00Z", "recording_count": 1, "recording_files": [{
                         "id": "f1", "recording_start": "2026-11-21T10:00:03Z",
                         "recording_end": "2026-11-21T10:44:58Z", "file_type": "MP4", "file_size": 1234,
                         "recording_type": "shared_screen_with_speaker_view",
                         "download_url": "https://zoom.us/rec/download/f1"}]}}}
    parsed = parse_event(recording)
    assert isinstance(parsed, RecordingEvent)
    assert parsed.payload.object.id == 85012345678
    assert parsed.token == "tok-secret"
    assert parsed.payload.object.recording_files[0].file_type == "MP4"
    handle_event(recording, redis_client, queue_at(redis_client, NOW), reconcile_delay_s=DELAY)
    (entry,) = webhook_log(redis_client)
    assert entry["meeting_id"] == "85012345678"
    assert entry["files"] == [{"recording_start": "2026-11-21T10:00:03Z", "recording_end": "2026-11-21T10:44:58Z",
                               "file_type": "MP4", "recording_type": "shared_screen_with_speaker_view"}]
    assert "tok-secret" not in json.dumps(entry)


def test_unknown_events_are_kept_in_the_stream_but_ignored(client, redis_client, settings, caplog):
    other = {"event": "meeting.participant_role_changed", "event_ts": 1,
             "payload": {"object": {"uuid": UUID, "participant": {"email": "ana@example.org"}}}}
    body = compact(other)
    assert post(client, body, signed(body)).json() == {"status": "accepted"}
    with caplog.at_level(logging.DEBUG, logger="orchestrator.webhooks.events"):
        assert process_pending_once(redis_client, queue_at(redis_client, NOW), settings).handled == 1
    assert "meeting.participant_role_changed" in caplog.text and "ana@example.org" not in caplog.text
    assert stream_len(redis_client) == 1
    assert webhook_log(redis_client) == []


def test_an_entry_read_but_never_acknowledged_is_handled_on_restart(client, redis_client, settings):
    body = compact(ENDED)
    post(client, body, signed(body))
    process_pending_once(redis_client, queue_at(redis_client, NOW), settings, consumer_name="c1")  # makes the group
    again = compact({**ENDED, "event_ts": ENDED["event_ts"] + 1})  # another delivery, not a redelivery
    assert post(client, again, signed(again)).json() == {"status": "accepted"}
    redis_client.delete(keys.RECONCILE_PENDING)
    redis_client.xreadgroup(keys.WEBHOOK_GROUP, "c1", {keys.WEBHOOK_STREAM: ">"})  # read, then "crashed"
    assert redis_client.xpending(keys.WEBHOOK_STREAM, keys.WEBHOOK_GROUP)["pending"] == 1
    assert process_pending_once(redis_client, queue_at(redis_client, NOW), settings, consumer_name="c1").handled == 1
    assert redis_client.xpending(keys.WEBHOOK_STREAM, keys.WEBHOOK_GROUP)["pending"] == 0
    assert redis_client.zscore(keys.RECONCILE_PENDING, UUID) == NOW + DELAY


def test_a_poison_entry_is_acknowledged_and_the_consumer_goes_on(redis_client, settings):
    redis_client.xadd(keys.WEBHOOK_STREAM, {"event": "meeting.ended", "body": "{truncated"})
    redis_client.xadd(keys.WEBHOOK_STREAM, {"event": "x"})  # no body at all
    redis_client.xadd(keys.WEBHOOK_STREAM, {"event": "meeting.ended", "body": json.dumps(ENDED)})
    stop = threading.Event()
    worker = threading.Thread(target=consume, args=(redis_client, queue_at(redis_client, NOW), settings),
                              kwargs={"consumer_name": "t", "block_ms": 50, "stop": stop})
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while redis_client.zscore(keys.RECONCILE_PENDING, UUID) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert redis_client.zscore(keys.RECONCILE_PENDING, UUID) == NOW + DELAY
        assert worker.is_alive()
    finally:
        stop.set()
        worker.join(5)
    assert not worker.is_alive()
    assert redis_client.xpending(keys.WEBHOOK_STREAM, keys.WEBHOOK_GROUP)["pending"] == 0
    result = process_pending_once(redis_client, queue_at(redis_client, NOW), settings, consumer_name="t")
    assert result.handled == 0 and result.poison == []  # acknowledged, not retried


def test_entries_a_dead_consumer_left_unacknowledged_are_taken_over(client, redis_client, settings):
    body = compact(ENDED)
    post(client, body, signed(body))
    process_pending_once(redis_client, queue_at(redis_client, NOW), settings, consumer_name="old-host")
    again = compact({**ENDED, "event_ts": ENDED["event_ts"] + 1})
    post(client, again, signed(again))
    redis_client.delete(keys.RECONCILE_PENDING)
    redis_client.xreadgroup(keys.WEBHOOK_GROUP, "old-host", {keys.WEBHOOK_STREAM: ">"})  # and never came back
    stop = threading.Event()
    worker = threading.Thread(target=consume, args=(redis_client, queue_at(redis_client, NOW), settings),
                              kwargs={"consumer_name": "new-host", "block_ms": 50, "stop": stop, "claim_idle_ms": 0})
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while redis_client.zscore(keys.RECONCILE_PENDING, UUID) is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        worker.join(5)
    assert redis_client.zscore(keys.RECONCILE_PENDING, UUID) == NOW + DELAY
    assert redis_client.xpending(keys.WEBHOOK_STREAM, keys.WEBHOOK_GROUP)["pending"] == 0


def test_a_real_server_answers_a_signed_event_within_zoom_s_3_seconds(settings, redis_client):
    config = uvicorn.Config(create_app(settings, redis_client), host="127.0.0.1", port=free_port(),
                            log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started
        body = compact(meeting_event("meeting.started", int(time.time() * 1000)))
        started = time.monotonic()
        response = httpx.post(f"http://127.0.0.1:{config.port}/webhooks/zoom", content=body,
                              headers=signed(body, time.time()), timeout=3)
        elapsed = time.monotonic() - started
    finally:
        server.should_exit = True
        thread.join(10)
    assert response.status_code == 200 and response.json() == {"status": "accepted"}
    assert elapsed < 3
    (entry,) = redis_client.xrange(keys.WEBHOOK_STREAM)
    assert entry[1]["event"] == "meeting.started"


def rtms_started(meeting_uuid: str, stream: str) -> dict:
    """Zoom's RTMS webhook: the fields in ``payload`` itself, no ``object``."""
    return {"event": "meeting.rtms_started", "event_ts": 1_800_000_000_000, "payload": {
        "meeting_uuid": meeting_uuid, "rtms_stream_id": stream, "server_urls": "wss://rtms-sjc1.zoom.us/x",
        "operator_id": "op-1", "account_id": "acc", "meeting_id": 85012345678, "is_original_host": True}}


def test_rtms_started_of_two_meetings_in_the_same_millisecond_are_two_events(client, redis_client, settings):
    for envelope in (rtms_started(UUID, "s-1"), rtms_started("OTHERAiAAAAAiAiAiiAii==", "s-2")):
        body = compact(envelope)
        assert post(client, body, signed(body)).json() == {"status": "accepted"}
    assert process_pending_once(redis_client, queue_at(redis_client, NOW), settings).handled == 2
    (entry,) = webhook_log(redis_client)
    assert entry == {"event": "meeting.rtms_started", "event_ts": 1_800_000_000_000, "meeting_id": "85012345678",
                     "rtms_stream_id": "s-1", "operator_id": "op-1"}
    assert webhook_log(redis_client, "OTHERAiAAAAAiAiAiiAii==")[0]["rtms_stream_id"] == "s-2"
    parsed = parse_event({**rtms_started(UUID, "s-3"), "payload": {"object": rtms_started(UUID, "s-3")["payload"]}})
    assert isinstance(parsed, RtmsEvent) and (parsed.payload.meeting_uuid, parsed.payload.rtms_stream_id) == (
        UUID, "s-3")  # nested in ``object``, as some samples show it, reads the same
