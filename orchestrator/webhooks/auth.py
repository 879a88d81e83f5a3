"""Zoom webhook authenticity: the ``x-zm-signature`` check, the ``endpoint.url_validation`` answer, and the
key that recognises a redelivered event (``../shared/reference/zoom-rest-webhooks.md`` §3.2).

The signature is an HMAC-SHA256 with the app's secret token over ``v0:{x-zm-request-timestamp}:{raw body}``,
checked on the raw bytes (re-serialised JSON need not match them) with a constant-time compare. Requests
whose timestamp is more than five minutes from now are refused (a captured request cannot be replayed
later); the signature is checked first, so such a refusal says whether the body is Zoom's. An event's own
``event_ts`` is not checked, since Zoom's retries carry the original one for up to about 85 minutes.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re

TOLERANCE_S = 300
# Zoom sends epoch seconds; anything longer (a 400-digit number overflows float arithmetic) is not a time
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class WebhookRejected(Exception):
    """The request is not from Zoom (or not now): answer 401 with this reason. ``kind`` is ``unsigned``
    (headers missing or malformed), ``bad_signature``, or ``stale`` (signed by Zoom, but not now)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def verify(secret: str, headers: dict[str, str], body: bytes, now: float, tolerance_s: float = TOLERANCE_S) -> None:
    """Raise WebhookRejected unless ``body`` was signed with ``secret`` within ``tolerance_s`` of ``now``.
    ``headers`` keys are lower case."""
    timestamp, given = headers.get("x-zm-request-timestamp"), headers.get("x-zm-signature")
    if not timestamp or not given:
        raise WebhookRejected("unsigned", "missing x-zm-request-timestamp or x-zm-signature")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise WebhookRejected("unsigned", "x-zm-request-timestamp is not a number of seconds")
    sent = int(timestamp)
    if not given.isascii() or not hmac.compare_digest(signature(secret, timestamp, body), given):
        raise WebhookRejected("bad_signature", "signature does not match")
    if abs(now - sent) > tolerance_s:
        raise WebhookRejected("stale", f"timestamp {abs(now - sent):.0f} s away from now (more than "
                                       f"{tolerance_s:.0f} s)")


def url_validation_reply(secret: str, plain_token: str) -> dict[str, str]:
    """The answer to ``endpoint.url_validation``: the token, and its HMAC-SHA256 with the secret, in hex."""
    encrypted = hmac.new(secret.encode(), plain_token.encode(), hashlib.sha256).hexdigest()
    return {"plainToken": plain_token, "encryptedToken": encrypted}


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def delivery_key(envelope: dict) -> str:
    """The same event delivered again (a retry, or the event in two subscriptions) has the same key; two
    different events have different ones. Built from the event type, the meeting instance, the
    participant and its join/leave time, and ``event_ts``; for RTMS events, whose identifiers sit in
    ``payload`` itself (or, in some samples, in ``object``), also the meeting UUID, the stream and its
    servers (a repeated ``rtms_started`` with new servers is a failover, not a duplicate)."""
    payload = _mapping(envelope.get("payload"))
    obj = _mapping(payload.get("object"))
    participant = _mapping(obj.get("participant"))
    parts = [envelope.get("event"), obj.get("uuid"), obj.get("id"),
             participant.get("participant_uuid") or participant.get("user_id") or participant.get("id"),
             participant.get("join_time") or participant.get("leave_time") or participant.get("date_time"),
             envelope.get("event_ts")]
    stream = [payload.get(k, obj.get(k)) for k in ("meeting_uuid", "rtms_stream_id", "server_urls")]
    if any(v is not None for v in stream):
        parts += stream
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()
