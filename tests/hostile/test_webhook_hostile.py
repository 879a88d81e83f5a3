"""Hostile input at the webhook door (issue 15): a blank secret is no secret, and whatever arrives (forged,
malformed, absurdly long or deep, or signed but not an event the consumer can handle) gets a short 4xx,
never a 500, and is never stored. Ends with property-based fuzzing of body and headers."""
from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
import redis
import typer
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import cli, keys
from orchestrator.server.app import create_app
from orchestrator.live.access import issue
from orchestrator.reconciliation.queue import ReconcileQueue
from orchestrator.settings import Settings
from orchestrator.webhooks.auth import signature
from orchestrator.webhooks.events import MAX_DEPTH, MODELS, process_pending_once

SECRET = "whsec-hostile-test"
NOW = 1_800_000_000.0
TS = str(int(NOW))
UUID = "4444AAAiAAAAAiAiAiiAii=="
ENDED = {"event": "meeting.ended", "event_ts": 1_800_000_000_000, "payload": {"account_id": "acc", "object": {
    "id": "85012345678", "uuid": UUID, "start_time": "2026-11-21T10:00:00Z", "end_time": "2026-11-21T10:45:00Z"}}}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def signed(body: bytes, ts: str = TS, secret: str = SECRET) -> dict[str, str]:
    return {"content-type": "application/json", "x-zm-request-timestamp": ts,
            "x-zm-signature": signature(secret, ts, body)}


def app_client(redis_client: redis.Redis, **env: str | None) -> TestClient:
    """Unhandled exceptions are raised into the test, so "never raises" is checked by every request."""
    return TestClient(create_app(Settings(**env), redis_client, clock=lambda: NOW))


@pytest.fixture()
def client(redis_client) -> TestClient:
    return app_client(redis_client, ZOOM_WEBHOOK_SECRET_TOKEN=SECRET)


def post(client: TestClient, body: bytes, headers: dict) -> httpx.Response:
    return client.post("/webhooks/zoom", content=body, headers=headers)


def assert_short_json_error(response: httpx.Response, status: int | tuple[int, ...]) -> None:
    assert response.status_code in ((status,) if isinstance(status, int) else status)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and 0 < len(detail) <= 200


def stored(r: redis.Redis) -> int:
    return r.xlen(keys.WEBHOOK_STREAM)


def refusals(r: redis.Redis) -> list[dict]:
    return [fields for _, fields in r.xrange(keys.WEBHOOK_REFUSED)]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- (2) an empty or blank secret is not configured ------------------------------------------------------

BLANK = ["", "   ", "\t\n"]


@pytest.mark.parametrize("blank", BLANK)
def test_a_blank_webhook_secret_refuses_events_signed_with_the_blank_key(redis_client, blank):
    client = app_client(redis_client, ZOOM_WEBHOOK_SECRET_TOKEN=blank)
    body = compact(ENDED)
    response = post(client, body, signed(body, secret=blank))  # anyone can compute this signature
    assert_short_json_error(response, 503)
    assert "ZOOM_WEBHOOK_SECRET_TOKEN" in response.json()["detail"]
    assert stored(redis_client) == 0


@pytest.mark.parametrize("var, field", [
    ("ZOOM_WEBHOOK_SECRET_TOKEN", "webhook_secret_token"), ("ROLLCALL_LIVE_SECRET", "live_secret"),
    ("ROLLCALL_ADMIN_TOKEN", "admin_token"), ("ZOOM_CLIENT_SECRET", "zoom_client_secret"),
    ("ROLLCALL_OUTBOUND_WEBHOOK_SECRET", "outbound_webhook_secret")])
@pytest.mark.parametrize("blank", BLANK)
def test_every_blank_secret_in_the_environment_is_unset_and_says_so(monkeypatch, caplog, var, field, blank):
    monkeypatch.setenv(var, blank)
    with caplog.at_level(logging.WARNING, logger="orchestrator.settings"):
        s = Settings()
    assert getattr(s, field) is None and s.secrets() == []
    assert f"{var} is set but blank" in caplog.text
    monkeypatch.setenv(var, " real-secret ")  # a secret with spaces around it is still a secret, unchanged
    assert getattr(Settings(), field).get_secret_value() == " real-secret "


def test_serve_warns_when_the_webhook_secret_is_empty(monkeypatch, capsys):
    served = []
    monkeypatch.setenv("ZOOM_WEBHOOK_SECRET_TOKEN", "")
    monkeypatch.setattr("orchestrator.server.app.serve", lambda settings, host, port: served.append(settings))
    cli.serve(host="127.0.0.1", port=8080, data_dir=None)
    assert "ZOOM_WEBHOOK_SECRET_TOKEN is not set" in capsys.readouterr().err
    assert served[0].webhook_secret_token is None


@pytest.mark.parametrize("blank", BLANK)
def test_live_link_refuses_to_sign_with_a_blank_live_secret(monkeypatch, capsys, blank):
    monkeypatch.setenv("ROLLCALL_LIVE_SECRET", blank)
    with pytest.raises(typer.Exit) as exited:
        cli.live_link(meeting="85012345678", base_url="http://127.0.0.1:8080", hours=1.0, manager=None)
    assert exited.value.exit_code == 2
    captured = capsys.readouterr()
    assert "set ROLLCALL_LIVE_SECRET" in captured.err and "token=" not in captured.out


def test_a_live_link_signed_with_a_blank_secret_opens_nothing(redis_client):
    client = app_client(redis_client, ROLLCALL_LIVE_SECRET=" ")
    forged = issue(" ", "85012345678", "host", 3600, now=NOW)
    assert client.get(f"/live/85012345678?token={forged}").status_code == 401


# --- (7) malformed input is a short 4xx, never a 500 ------------------------------------------------------

def test_a_400_digit_timestamp_is_a_401_signed_or_not(client, redis_client):
    body, ts = compact(ENDED), "9" * 400
    for headers in ({**signed(body, ts), "x-zm-signature": "v0=00"}, signed(body, ts)):
        response = post(client, body, headers)
        assert_short_json_error(response, 401)
        assert "not a number of seconds" in response.json()["detail"]
    assert stored(redis_client) == 0
    assert [r["reason"] for r in refusals(redis_client)] == ["unsigned", "unsigned"]


@pytest.mark.parametrize("envelope", [
    {"event": "meeting.ended", "payload": [1, 2]},
    {"event": "meeting.ended", "payload": "ana@example.org"},
    {"event": "meeting.ended", "payload": None},
    {"event": "meeting.ended", "payload": {"object": "x"}},
    {"event": "meeting.ended", "payload": {"object": None}},
    {"event": "meeting.participant_joined", "payload": {"object": {"uuid": UUID, "participant": [1]}}},
    {"event": "meeting.rtms_started", "payload": 5},
    {"event": "phone.unknown_to_rollcall", "payload": {"object": [UUID]}},
    {"event": "meeting.ended", "event_ts": "soon", "payload": {"object": {"uuid": UUID}}},
])
def test_a_signed_event_whose_payload_or_object_is_not_an_object_is_a_400_not_stored(client, redis_client, envelope):
    body = compact(envelope)
    response = post(client, body, signed(body))
    assert_short_json_error(response, 400)
    assert "ana@example.org" not in response.text  # the detail names the field, never quotes the input
    assert stored(redis_client) == 0
    (refused,) = refusals(redis_client)
    assert (refused["reason"], refused["status"], refused["verified"]) == ("not_event", "400", "1")


@pytest.mark.parametrize("body", [
    nested(1000).encode(),
    ('{"event":"meeting.ended","payload":' + nested(1000) + "}").encode(),
    ('{"event":"meeting.ended","event_ts":1,"payload":{"object":{"uuid":"u","x":' + nested(1000) + "}}}").encode(),
    ('{"event":"meeting.ended","payload":{"object":{"uuid":"u","x":' + nested(900) + "}}}").encode(),  # parses
    ('{"event":"meeting.ended","payload":{"object":{"uuid":"u","x":' + nested(MAX_DEPTH) + "}}}").encode(),
])
def test_deep_nesting_is_a_4xx_signed_or_not_and_never_stored(client, redis_client, body):
    assert_short_json_error(post(client, body, signed(body)), 400)
    assert_short_json_error(post(client, body, {"content-type": "application/json"}), 401)
    assert stored(redis_client) == 0


def test_nesting_within_the_limit_is_accepted(client, redis_client):
    envelope = {**ENDED, "payload": {**ENDED["payload"], "x": json.loads(nested(MAX_DEPTH - 2))}}
    body = compact(envelope)
    assert post(client, body, signed(body)).json() == {"status": "accepted"}


@pytest.mark.parametrize("envelope", [
    {"event": "meeting.\ud800"},
    {"event": "meeting.participant_joined", "payload": {"object": {"uuid": UUID, "participant": {
        "user_id": "1", "email": "\udc00@example.org"}}}},
])
def test_a_lone_surrogate_escape_is_a_400_not_a_500_or_a_poison_entry(client, redis_client, envelope):
    body = compact(envelope)  # json.dumps escapes it: "\ud800", valid JSON, but no text Redis can store
    assert_short_json_error(post(client, body, signed(body)), 400)
    assert stored(redis_client) == 0


@pytest.mark.parametrize("declared, status", [(b"9" * 5000, 413), (b"9" * 17, 413), (b"\xb2", 400), (b"-1", 400)])
def test_an_absurd_content_length_is_refused_not_a_500(redis_client, declared, status):
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/webhooks/zoom", "raw_path": b"/webhooks/zoom", "root_path": "", "query_string": b"",
             "headers": [(b"content-length", declared)], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    app = create_app(Settings(ZOOM_WEBHOOK_SECRET_TOKEN=SECRET), redis_client, clock=lambda: NOW)
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == status


def test_the_consumer_drops_a_deeply_nested_stored_entry_instead_of_crashing(redis_client):
    """Entries stored before the receiver refused deep nesting must not stop the consumer."""
    entry_id = redis_client.xadd(keys.WEBHOOK_STREAM, {"event": "meeting.ended", "body": nested(100_000)})
    result = process_pending_once(redis_client, ReconcileQueue(redis_client, clock=lambda: NOW), Settings())
    assert result.poison == [entry_id]


# --- fuzzing: random bodies and headers ------------------------------------------------------------------

LEAVES = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70) | st.floats()
          | st.text(max_size=20) | st.sampled_from(["", " ", UUID, "85012345678", "2026-11-21T10:00:00Z",
                                                   "ana@example.org", "a\udfffb"]))
JSON = st.recursive(LEAVES, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                    max_leaves=16)
# the field names the typed models read, so random values reach them
FIELDS = st.sampled_from(["object", "uuid", "id", "participant", "user_id", "email", "join_time", "leave_time",
                          "recording_files", "occurrences", "start_time", "end_time", "meeting_uuid", "meeting_id",
                          "rtms_stream_id", "server_urls", "download_token", "is_original_host", "duration",
                          "plainToken", "old_object", "file_type"]) | st.text(max_size=6)
ZOOMISH = st.recursive(LEAVES, lambda c: st.lists(c, max_size=3) | st.dictionaries(FIELDS, c, max_size=6),
                       max_leaves=24)
OBJECTS = st.dictionaries(FIELDS, ZOOMISH, max_size=6)
EVENTS = (st.sampled_from([*MODELS, "endpoint.url_validation"])
          | st.from_regex(r"[a-z_]{1,12}\.[a-z_]{1,20}", fullmatch=True) | st.text(max_size=40))
ENVELOPES = st.fixed_dictionaries({"event": EVENTS}, optional={
    "event_ts": st.integers(min_value=0, max_value=2 ** 64) | JSON,
    "payload": (st.fixed_dictionaries({}, optional={"object": OBJECTS | ZOOMISH, "account_id": LEAVES})
                | OBJECTS | ZOOMISH),
    "download_token": JSON})
HEADER_NAMES = st.sampled_from(["x-zm-request-timestamp", "x-zm-signature", "x-zm-trackingid", "content-type",
                                "content-length"]) | st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)
TIMESTAMPS = (st.integers(min_value=int(NOW) - 400, max_value=int(NOW) + 400).map(str)
              | st.integers(min_value=0, max_value=10 ** 400).map(str)
              | st.text(st.characters(max_codepoint=255), max_size=50))


@FUZZ
@given(body=st.binary(max_size=300) | ENVELOPES.map(compact),
       headers=st.dictionaries(HEADER_NAMES, st.binary(max_size=60), max_size=6))
def test_fuzz_random_headers_and_bodies_are_refused_with_a_4xx(client, redis_client, body, headers):
    response = post(client, body, headers)
    assert_short_json_error(response, (400, 401, 413))
    assert stored(redis_client) == 0


@FUZZ
@given(envelope=ENVELOPES | JSON)
def test_fuzz_validly_signed_random_bodies_are_accepted_only_when_the_consumer_can_handle_them(
        client, redis_client, envelope):
    body = compact(envelope)
    before = stored(redis_client)
    response = post(client, body, signed(body))
    if response.status_code == 200:
        assert stored(redis_client) <= before + 1  # or a redelivery
        done = process_pending_once(redis_client, ReconcileQueue(redis_client, clock=lambda: NOW), Settings())
        assert done.poison == []  # nothing accepted that the consumer then drops
    else:
        assert_short_json_error(response, 400)
        assert stored(redis_client) == before


@FUZZ
@given(envelope=ENVELOPES, ts=TIMESTAMPS)
def test_fuzz_validly_signed_random_timestamps_are_a_401_unless_within_five_minutes(client, redis_client, envelope,
                                                                                     ts):
    body = compact(envelope)
    response = post(client, body, {**signed(body, ts), "x-zm-request-timestamp": ts.encode("latin-1")})
    if not (ts.isascii() and ts.isdigit() and len(ts) <= 12 and abs(int(ts) - NOW) <= 300):
        assert_short_json_error(response, 401)
    else:
        assert response.status_code == 200 or response.status_code == 400


@FUZZ
@given(body=st.binary(max_size=300) | (ENVELOPES | JSON).map(compact),
       sig=st.text(st.characters(max_codepoint=255), max_size=80))
def test_fuzz_random_signatures_are_a_401(client, redis_client, body, sig):
    response = post(client, body, {"x-zm-request-timestamp": TS.encode(), "x-zm-signature": sig.encode("latin-1")})
    assert_short_json_error(response, 401)
    assert stored(redis_client) == 0
