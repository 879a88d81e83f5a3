"""Signed outbound webhooks: the final record (and later, compliance exceptions) to configured receivers.

Each delivery is a JSON POST with ``x-rollcall-timestamp`` (Unix seconds) and ``x-rollcall-signature:
v1=<hex HMAC-SHA256 over "v1:{timestamp}:{raw body}">`` with the shared secret, the same scheme as Zoom's,
so a receiver can check it in three lines. Failures (a 5xx, a timeout) are retried with backoff; every
attempt is recorded in a Redis stream with its outcome. Receivers' URLs may carry credentials, so only
their host is recorded or logged.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis

from orchestrator import keys

log = logging.getLogger(__name__)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), b"v1:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


class OutboundWebhooks:
    def __init__(self, urls: Sequence[str], secret: str | None, r: redis.Redis, http: httpx.Client, *,
                 attempts: int = 4, backoff_s: float = 1.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        if urls and not secret:
            raise ValueError("outbound webhooks need ROLLCALL_OUTBOUND_WEBHOOK_SECRET to sign them")
        self.urls, self.secret, self.r, self.http = list(urls), secret, r, http
        self.attempts, self.backoff_s, self.sleep, self.clock = attempts, backoff_s, sleep, clock

    def emit(self, event: str, data: dict[str, Any]) -> dict[str, bool]:
        """Deliver to every receiver; returns whether each (by host) got it."""
        if not self.urls:
            return {}
        delivery = uuid.uuid4().hex
        body = json.dumps({"event": event, "delivery_id": delivery, "sent_at": int(self.clock()), "data": data},
                          separators=(",", ":"), ensure_ascii=False).encode()
        return {urlsplit(url).netloc.rsplit("@", 1)[-1]: self._deliver(url, event, delivery, body) for url in self.urls}

    def _deliver(self, url: str, event: str, delivery: str, body: bytes) -> bool:
        host = urlsplit(url).netloc.rsplit("@", 1)[-1]
        assert self.secret is not None
        for attempt in range(1, self.attempts + 1):
            ts = str(int(self.clock()))
            headers = {"content-type": "application/json", "x-rollcall-timestamp": ts,
                       "x-rollcall-signature": sign(self.secret, ts, body), "x-rollcall-delivery": delivery}
            try:
                resp = self.http.post(url, content=body, headers=headers, timeout=10.0)
                outcome, ok = f"HTTP {resp.status_code}", 200 <= resp.status_code < 300
                retry = resp.status_code >= 500 or resp.status_code == 429
            except httpx.HTTPError as exc:
                outcome, ok, retry = type(exc).__name__, False, True
            self.r.xadd(keys.OUTBOUND_DELIVERIES, {"delivery": delivery, "event": event, "host": host,
                                                   "attempt": attempt, "outcome": outcome, "ok": int(ok),
                                                   "at": f"{self.clock():.3f}"}, maxlen=100_000, approximate=True)
            if ok:
                return True
            if not retry or attempt == self.attempts:
                log.warning("outbound webhook %s to %s failed: %s (attempt %d)", event, host, outcome, attempt)
                return False
            self.sleep(self.backoff_s * 4 ** (attempt - 1))
        return False
