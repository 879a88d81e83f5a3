"""``POST /webhooks/zoom``: the door Zoom's events come in through.

Zoom waits 3 s for an answer and retries a failed delivery (5xx or no answer) three times over about 85
minutes, then drops the event; a 4xx it never retries. So the request only checks and stores: size, then
the signature over the raw bytes (before any parsing, so unsigned garbage is a 401), then the JSON (the
event's shape, its nesting and its strings, ``webhook_events.check_envelope``: a 400, never a 500); a
redelivery is recognised by its delivery key and answered without storing it again. Bodies up to 1 MiB
are read and verified (a large signed event is accepted, not lost); a refusal (413, 401, 400) is recorded
with the meeting it names, for reconciliation to follow up through Zoom's API
(``orchestrator.webhooks.refusals``). Everything else (reconciliation included) happens later, in
``orchestrator.webhooks.events``, reading the stream. The Redis client, settings and clock come from
``app.state`` (see ``orchestrator.server.app.create_app``).
"""
from __future__ import annotations

import json
import logging

import redis
from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool
import structlog

from orchestrator import keys
from orchestrator.webhooks import auth as webhook_auth
from orchestrator.webhooks import events as webhook_events
from orchestrator.webhooks import refusals as webhook_refusals

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # read and verified whole up to here; Zoom's events are a few KiB
SEEN_TTL_S = 172_800  # two days: far beyond Zoom's ~85 minutes of retries
STREAM_MAXLEN = 100_000

router = APIRouter()

# Mark the delivery as seen and queue it in one step: a request that fails halfway must not leave the
# delivery marked, or Zoom's retry of it would be answered "duplicate" and the event lost.
_ENQUEUE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return false end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
                  'event', ARGV[3], 'delivery', ARGV[4], 'body', ARGV[5], 'received_at', ARGV[6])
"""


def enqueue(r: redis.Redis, event: str, delivery: str, body: str, received_at: float) -> str | None:
    """Add a verified event to the stream; None when this delivery was queued before (a redelivery)."""
    entry_id = r.eval(_ENQUEUE, 2, keys.webhook_seen(delivery), keys.WEBHOOK_STREAM, SEEN_TTL_S, STREAM_MAXLEN,
                      event, delivery, body, f"{received_at:.3f}")
    return None if entry_id is None else str(entry_id)


class _Refused(Exception):
    """A request answered with a 4xx, which Zoom never retries: recorded, then answered."""

    def __init__(self, status: int, reason: str, detail: str, *, verified: bool = False, body: bytes = b"") -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.verified, self.body = status, reason, detail, verified, body


async def _read_body(request: Request) -> bytes:
    """The raw body, refused with 413 (before reading, when Content-Length says so) above the limit."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):  # "²" is a digit to isdigit(), not to int()
            raise _Refused(400, "bad_length", "invalid Content-Length")
        if len(declared) > 16 or int(declared) > MAX_BODY_BYTES:  # int() refuses 4,300 digits and more
            raise _Refused(413, "too_large", f"body larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _Refused(413, "too_large", f"body larger than {MAX_BODY_BYTES} bytes")
    return bytes(body)


@router.post("/webhooks/zoom")
async def zoom_webhook(request: Request) -> dict:
    """Receive one Zoom event: 200 once it is stored (or was already), or the URL validation answer. A 4xx
    refusal is recorded first (``orchestrator.webhooks.refusals``), since Zoom will not send the event again."""
    state = request.app.state
    now = state.clock()
    try:
        return await _receive(request, now)
    except _Refused as exc:
        refused = webhook_refusals.refusal(exc.reason, exc.status, verified=exc.verified, body=exc.body,
                                           tracking_id=request.headers.get("x-zm-trackingid"))
        await run_in_threadpool(webhook_refusals.record_quietly, state.redis, refused, now)
        # Zoom's own event refused (our clock off by minutes, say) is worth a warning; a stranger's is not
        log.log(logging.WARNING if exc.verified else logging.INFO, "webhook refused (%s, %d): %s", exc.reason,
                exc.status, exc.detail)
        raise HTTPException(exc.status, exc.detail) from None


def _event(body: bytes) -> tuple[str, dict]:
    """The verified body's text and event, or a 400: what is stored must be what the consumer can handle,
    since an entry it drops as poison is lost, while a refusal is recorded and followed up."""
    try:
        text = body.decode("utf-8")
        envelope = json.loads(text)
    except (ValueError, RecursionError):
        raise _Refused(400, "not_json", "body is not UTF-8 JSON", verified=True) from None
    try:
        webhook_events.check_envelope(envelope)
    except webhook_events.InvalidEnvelope as exc:
        raise _Refused(400, "not_event", f"body is not a Zoom event: {exc}", verified=True, body=body) from None
    return text, envelope


async def _receive(request: Request, now: float) -> dict:
    state = request.app.state
    body = await _read_body(request)
    secret = state.settings.webhook_secret_token
    if secret is None:
        raise HTTPException(503, "webhook receiver not configured: set ZOOM_WEBHOOK_SECRET_TOKEN")
    secret = secret.get_secret_value()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        webhook_auth.verify(secret, headers, body, now=now)
    except webhook_auth.WebhookRejected as exc:
        raise _Refused(401, exc.kind, str(exc), verified=exc.kind == "stale", body=body) from None

    text, envelope = _event(body)
    event = envelope["event"]

    if event == "endpoint.url_validation":
        payload = envelope.get("payload")
        plain = payload.get("plainToken") if isinstance(payload, dict) else None
        if not isinstance(plain, str) or not plain:
            raise _Refused(400, "no_plain_token", "endpoint.url_validation without payload.plainToken",
                           verified=True)
        return webhook_auth.url_validation_reply(secret, plain)

    delivery = webhook_auth.delivery_key(envelope)
    try:
        entry_id = await run_in_threadpool(enqueue, state.redis, event, delivery, text, now)
    except redis.RedisError as exc:
        log.error("webhook %r not stored: %s", event, type(exc).__name__)
        raise HTTPException(503, "cannot store the event now; Zoom will retry") from None
    if entry_id is None:
        log.debug("webhook %r redelivered; already queued", event)
        return {"status": "duplicate"}
    log.debug("webhook %r queued as %s", event, entry_id)
    return {"status": "accepted"}
