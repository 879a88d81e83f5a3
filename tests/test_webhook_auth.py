"""Zoom webhook authenticity: signed requests pass, anything altered, stale or unsigned does not; URL
validation; redeliveries recognised."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from orchestrator.webhooks.auth import WebhookRejected, delivery_key, signature, url_validation_reply, verify

SECRET = "whsec-test-token-123"
BODY = json.dumps({"event": "meeting.participant_joined", "event_ts": 1732100000123, "payload": {
    "account_id": "acc", "object": {"id": "85012345678", "uuid": "abc/==", "participant": {
        "user_id": "16778240", "participant_uuid": "pu-1", "user_name": "Ana", "join_time": "2026-11-21T10:00:05Z"}}}},
    separators=(",", ":")).encode()
NOW = 1_732_100_010


def headers(body: bytes = BODY, ts: int = NOW) -> dict[str, str]:
    return {"x-zm-request-timestamp": str(ts), "x-zm-signature": signature(SECRET, str(ts), body)}


def test_signature_is_hmac_sha256_over_v0_timestamp_and_raw_body():
    expected = hmac.new(SECRET.encode(), b"v0:%d:" % NOW + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, str(NOW), BODY) == "v0=" + expected
    verify(SECRET, headers(), BODY, now=NOW + 4)  # passes


@pytest.mark.parametrize("change, kind, reason", [
    (lambda h, b: (h, b.replace(b"Ana", b"Eve")), "bad_signature", "does not match"),  # body altered
    (lambda h, b: ({**h, "x-zm-signature": signature("other", h["x-zm-request-timestamp"], b)}, b), "bad_signature",
     "does not match"),
    (lambda h, b: (headers(b, NOW - 301), b), "stale", "more than 300"),  # Zoom's, but replayed later
    (lambda h, b: (headers(b, NOW + 400), b), "stale", "more than 300"),
    (lambda h, b: ({**headers(b, NOW - 301), "x-zm-signature": h["x-zm-signature"]}, b), "bad_signature",
     "does not match"),  # old and not Zoom's: the signature is checked first
    (lambda h, b: ({"x-zm-signature": h["x-zm-signature"]}, b), "unsigned", "missing"),
    (lambda h, b: ({**h, "x-zm-request-timestamp": "soon"}, b), "unsigned", "not a number"),
    (lambda h, b: ({**h, "x-zm-signature": "v0=é"}, b), "bad_signature", "does not match"),  # not a 500
])
def test_anything_not_signed_by_zoom_now_is_rejected(change, kind, reason):
    h, b = change(headers(), BODY)
    with pytest.raises(WebhookRejected, match=reason) as rejected:
        verify(SECRET, h, b, now=NOW)
    assert rejected.value.kind == kind


def test_url_validation_reply():
    reply = url_validation_reply(SECRET, "qgg8vlvZRS6UYooatFL8Aw")
    assert reply == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": hmac.new(
        SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()}


def test_a_redelivery_has_the_same_key_and_other_events_do_not():
    event = json.loads(BODY)
    assert delivery_key(event) == delivery_key(json.loads(BODY))  # a retry: same envelope
    left = json.loads(BODY)
    left["event"] = "meeting.participant_left"
    other = json.loads(BODY)
    other["payload"]["object"]["participant"]["participant_uuid"] = "pu-2"
    later = json.loads(BODY)
    later["payload"]["object"]["participant"]["join_time"] = "2026-11-21T10:09:00Z"
    keys = {delivery_key(e) for e in (event, left, other, later)}
    assert len(keys) == 4


def rtms_started(meeting_uuid: str, stream: str, servers: str = "wss://rtms-sjc1.zoom.us/a") -> dict:
    """As Zoom's RTMS reference shows it: the fields in ``payload`` itself, no ``object``."""
    return {"event": "meeting.rtms_started", "event_ts": 1732100000123, "payload": {
        "meeting_uuid": meeting_uuid, "rtms_stream_id": stream, "server_urls": servers, "operator_id": "op-1"}}


def test_rtms_started_events_of_different_meetings_or_servers_have_different_keys():
    first = rtms_started("m1==", "s1")
    assert delivery_key(first) == delivery_key(rtms_started("m1==", "s1"))  # a retry
    others = [rtms_started("m2==", "s2"), rtms_started("m1==", "s1", "wss://rtms-iad1.zoom.us/b")]  # a failover
    nested = {**first, "payload": {"object": first["payload"]}}  # as some of Zoom's samples nest it
    assert len({delivery_key(e) for e in (first, *others)}) == 3
    assert delivery_key(nested) == delivery_key(first)


def test_a_payload_or_object_that_is_not_an_object_still_has_a_key_not_an_exception():
    for envelope in ({"event": "meeting.ended", "payload": [1, 2]}, {"event": "x.y", "payload": {"object": "o"}},
                     {"event": "x.y", "payload": {"object": {"participant": 5}}}):
        assert len(delivery_key(envelope)) == 64
