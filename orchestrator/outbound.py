"""Signed outbound webhooks: the final record (and later, compliance exceptions) to configured receivers.

Each delivery is a JSON POST with ``x-rollcall-timestamp`` (Unix seconds) and ``x-rollcall-signature:
v1=<hex HMAC-SHA256 over "v1:{timestamp}:{raw body}">`` with the shared secret, the same scheme as Zoom's,
so a receiver can check it in three lines. Failures (a 5xx, a 429, a timeout) are retried with backoff;
a delivery still failing after that waits in an outbox in Redis and ``retry_due`` (called by every
reconciler run) tries it again, with growing pauses, for a day before giving up. Every attempt is recorded
in a Redis stream with its outcome. Receivers' URLs may carry credentials, so only their host is recorded
or logged.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Sequence
from itertools import count
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

import httpx
import redis
import structlog
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential

from orchestrator import keys

if TYPE_CHECKING:
    from orchestrator.settings import Settings

log = structlog.get_logger(__name__)
OUTBOX_GIVE_UP_S = 86400.0


def _host(url: str) -> str:
    return urlsplit(url).netloc.rsplit("@", 1)[-1]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), b"v1:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


class _Attempt(NamedTuple):
    number: int  # 1 for the first
    outcome: str  # "HTTP 200", "ConnectTimeout" …
    ok: bool
    retry: bool  # worth another attempt: a 5xx, a 429, a network error


class OutboundWebhooks:
    def __init__(self, urls: Sequence[str], secret: str | None, r: redis.Redis, http: httpx.Client, *,
                 attempts: int = 4, backoff_s: float = 1.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        if urls and not secret:
            raise ValueError("outbound webhooks need ROLLCALL_OUTBOUND_WEBHOOK_SECRET to sign them")
        self.urls, self.secret, self.r, self.http = list(urls), secret, r, http
        self.attempts, self.backoff_s, self.sleep, self.clock = attempts, backoff_s, sleep, clock

    @classmethod
    def from_settings(cls, settings: Settings, r: redis.Redis, http: httpx.Client) -> OutboundWebhooks:
        """The receivers and signing secret the orchestrator is configured with."""
        secret = settings.outbound_webhook_secret
        return cls(settings.outbound_webhook_urls, secret.get_secret_value() if secret else None, r, http)

    def emit(self, event: str, data: dict[str, Any]) -> dict[str, bool]:
        """Deliver to every receiver; returns whether each (by host) got it."""
        if not self.urls:
            return {}
        delivery = uuid.uuid4().hex
        body = json.dumps({"event": event, "delivery_id": delivery, "sent_at": int(self.clock()), "data": data},
                          separators=(",", ":"), ensure_ascii=False).encode()
        return {_host(url): self._deliver(url, event, delivery, body) for url in self.urls}

    def retry_due(self) -> int:
        """Try again every outbox delivery that is due; returns how many got through."""
        now = self.clock()
        sent = 0
        for item in self.r.zrangebyscore(keys.OUTBOUND_OUTBOX, "-inf", now):
            if not self.r.zrem(keys.OUTBOUND_OUTBOX, item):
                continue  # another process took it
            entry = self.r.hgetall(keys.outbound_pending(item))
            if not entry:
                continue
            if self._deliver(entry["url"], entry["event"], entry["delivery"], entry["body"].encode(), attempts=1,
                             outbox=False):
                self.r.delete(keys.outbound_pending(item))
                sent += 1
                continue
            tries = int(entry.get("tries", 1)) + 1
            if now - float(entry["first_at"]) > OUTBOX_GIVE_UP_S:
                self.r.delete(keys.outbound_pending(item))
                self._record(entry["delivery"], entry["event"], _host(entry["url"]), tries, "gave up after a day", False)
                log.error("outbound webhook %s to %s given up after a day", entry["event"], _host(entry["url"]))
                continue
            self.r.hset(keys.outbound_pending(item), "tries", tries)
            self.r.zadd(keys.OUTBOUND_OUTBOX, {item: now + min(3600.0, 60.0 * 2 ** tries)})
        return sent

    def _record(self, delivery: str, event: str, host: str, attempt: int, outcome: str, ok: bool) -> None:
        self.r.xadd(keys.OUTBOUND_DELIVERIES, {"delivery": delivery, "event": event, "host": host, "attempt": attempt,
                                               "outcome": outcome, "ok": int(ok), "at": f"{self.clock():.3f}"},
                    maxlen=100_000, approximate=True)

    def _deliver(self, url: str, event: str, delivery: str, body: bytes, *, attempts: int | None = None,
                 outbox: bool = True) -> bool:
        """Post with retries (backoff ×4 from ``backoff_s``) while the answer is worth another attempt; a
        delivery that still fails goes to the outbox when it may yet succeed."""
        host, tries = _host(url), count(1)
        last = Retrying(stop=stop_after_attempt(attempts or self.attempts),
                        wait=wait_exponential(multiplier=self.backoff_s, exp_base=4),
                        retry=retry_if_result(lambda a: a.retry), sleep=self.sleep,
                        retry_error_callback=lambda state: state.outcome.result())(
            lambda: self._post(url, event, delivery, body, next(tries)))
        if last.ok:
            return True
        log.warning("outbound webhook %s to %s failed: %s (attempt %d)", event, host, last.outcome, last.number)
        if last.retry and outbox:
            item = f"{delivery}:{host}"
            self.r.hset(keys.outbound_pending(item), mapping={
                "url": url, "event": event, "delivery": delivery, "body": body.decode(), "tries": last.number,
                "first_at": f"{self.clock():.3f}"})
            self.r.zadd(keys.OUTBOUND_OUTBOX, {item: self.clock() + 60.0})
        return False

    def _post(self, url: str, event: str, delivery: str, body: bytes, attempt: int) -> _Attempt:
        """One signed POST, recorded with its outcome."""
        assert self.secret is not None
        ts = str(int(self.clock()))
        headers = {"content-type": "application/json", "x-rollcall-timestamp": ts,
                   "x-rollcall-signature": sign(self.secret, ts, body), "x-rollcall-delivery": delivery}
        try:
            resp = self.http.post(url, content=body, headers=headers, timeout=10.0)
            ok = 200 <= resp.status_code < 300
            result = _Attempt(attempt, f"HTTP {resp.status_code}", ok,
                              not ok and (resp.status_code >= 500 or resp.status_code == 429))
        except httpx.HTTPError as exc:
            result = _Attempt(attempt, type(exc).__name__, False, True)
        self._record(delivery, event, _host(url), attempt, result.outcome, result.ok)
        return result
