"""``POST /webhooks/zoom``: the door Zoom's events come in through.

Zoom waits 3 s for an answer and retries a failed delivery three times over about 85 minutes, then drops
the event, so the request only checks and stores: size, then the signature over the raw bytes (before any
parsing, so unsigned garbage is a 401), then the JSON; a redelivery is recognised by its delivery key and
answered without storing it again. Everything else (reconciliation included) happens later, in
``orchestrator.webhook_events``, reading the stream. The Redis client, settings and clock come from
``app.state`` (see ``orchestrator.api.create_app``).
"""
from __future__ import annotations

import json
import logging

import redis
from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from orchestrator import keys, webhook_auth

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
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


async def _read_body(request: Request) -> bytes:
    """The raw body, refused with 413 (before reading, when Content-Length says so) above the limit."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(400, "invalid Content-Length")
        if int(declared) > MAX_BODY_BYTES:
            raise HTTPException(413, f"body larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"body larger than {MAX_BODY_BYTES} bytes")
    return bytes(body)


@router.post("/webhooks/zoom")
async def zoom_webhook(request: Request) -> dict:
    """Receive one Zoom event: 200 once it is stored (or was already), or the URL validation answer."""
    body = await _read_body(request)
    state = request.app.state
    secret = state.settings.webhook_secret_token
    if secret is None:
        raise HTTPException(503, "webhook receiver not configured: set ZOOM_WEBHOOK_SECRET_TOKEN")
    secret = secret.get_secret_value()
    headers = {k.lower(): v for k, v in request.headers.items()}
    now = state.clock()
    try:
        webhook_auth.verify(secret, headers, body, now=now)
    except webhook_auth.WebhookRejected as exc:
        log.info("webhook refused: %s", exc)
        raise HTTPException(401, str(exc)) from None

    try:
        text = body.decode("utf-8")
        envelope = json.loads(text)
    except ValueError:
        raise HTTPException(400, "body is not UTF-8 JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("event"), str):
        raise HTTPException(400, "body is not an event: a JSON object with an \"event\" string")
    event = envelope["event"]

    if event == "endpoint.url_validation":
        payload = envelope.get("payload")
        plain = payload.get("plainToken") if isinstance(payload, dict) else None
        if not isinstance(plain, str) or not plain:
            raise HTTPException(400, "endpoint.url_validation without payload.plainToken")
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
