"""The Zoom REST client: the endpoints Rollcall needs, each call cleared by the rate-limit governor.

Every call waits for the governor (the endpoint's rate-limit category, this client's priority), then goes
out with the cached Server-to-Server token. What comes back:

- 401: the token is fetched again, once;
- 429: the governor pauses what Zoom says is exhausted (for every process), then the call is retried;
  a ``Daily-limit`` 429 raises ``DailyCapReached`` at once;
- 5xx, timeouts, dropped connections: retried with exponential backoff;
- a missing scope (code 4700) or an endpoint the plan lacks (400 with code 200): ``AccessRefused``, which
  no retry mends until an admin changes the app or the plan;
- anything else: ``ZoomApiError`` with Zoom's code and message (``NotFound`` for 404).

Lists are paged with ``next_page_token``, 300 rows a page unless configured lower per category (Zoom's
pagination guide allows Heavy lists as few as 30, 50 or 100); when Zoom answers with a smaller
``page_size`` than asked, that is the size from then on, so ``pages_needed`` counts what calls will
really cost. A page token that expired (Zoom's code 300, after 15 minutes) restarts the listing once.
Meeting UUIDs are encoded as Zoom's routing needs.
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from orchestrator.zoom.rate_limits import Category, DailyCapReached, Governor, Priority
from orchestrator.zoom.models import (MeetingInstance, PastMeeting, Registrant, Registration, ReportParticipant,
                                      ScheduledMeeting, encode_meeting_uuid)
from orchestrator.zoom.oauth import ServerToServerToken

log = structlog.get_logger(__name__)
MAX_PAGE_SIZE = 300  # the most any list endpoint Rollcall uses allows
EXPIRED_PAGE_TOKEN = 300
MISSING_SCOPE = 4700  # "Invalid access token, does not contain scopes:[…]"
NO_PERMISSION = 200  # with HTTP 400: the plan (or the role) does not include the endpoint


class ZoomApiError(RuntimeError):
    def __init__(self, status: int, code: int | None, message: str, path: str) -> None:
        super().__init__(f"Zoom API {path}: HTTP {status}" + (f" code {code}" if code is not None else "")
                         + f": {message}")
        self.status, self.code, self.message, self.path = status, code, message, path


class NotFound(ZoomApiError):
    """The meeting (or user) is unknown to Zoom, too old, or has not ended (code 3001; 12702 after a year
    is a 400)."""


class AccessRefused(ZoomApiError):
    """The app lacks the endpoint's scope (4700), or the account's plan lacks the endpoint (400, code 200)."""


@dataclass
class CallStats:
    """What this client sent, for progress lines and benchmarks."""

    calls: dict[str, int] = field(default_factory=dict)  # per category
    rate_limited: int = 0  # 429 answers received
    retried: int = 0  # 5xx, timeouts, refused connections

    def count(self, category: Category) -> None:
        self.calls[category.value] = self.calls.get(category.value, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def _meeting_path(meeting: str) -> str:
    """A meeting number stays as it is; a UUID is encoded (twice when Zoom needs it)."""
    return meeting if meeting.isdigit() else encode_meeting_uuid(meeting)


class ZoomApi:
    def __init__(self, http: httpx.Client, base_url: str, token: ServerToServerToken, governor: Governor, *,
                 priority: Priority = Priority.BACKFILL, retries: int = 5, backoff_s: float = 0.5,
                 page_sizes: Mapping[Category, int] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.http, self.base = http, base_url.rstrip("/")
        self.token, self.governor, self.priority = token, governor, priority
        self.retries, self.backoff_s, self.sleep = retries, backoff_s, sleep
        self._page_sizes = {c: min(MAX_PAGE_SIZE, max(1, n)) for c, n in (page_sizes or {}).items()}
        self.stats = CallStats()

    def page_size(self, category: Category) -> int:
        """Rows per page asked for in ``category``: as configured, or less once Zoom gave less."""
        return self._page_sizes.get(category, MAX_PAGE_SIZE)

    def pages_needed(self, category: Category, rows: int) -> int:
        """The calls a listing of ``rows`` rows costs (an empty list still takes one)."""
        return max(1, math.ceil(rows / self.page_size(category)))

    # ---- one call ------------------------------------------------------------------------------------
    def request(self, method: str, path: str, category: Category, *, params: dict | None = None,
                json: dict | None = None) -> dict[str, Any]:
        refreshed = False
        attempt = 0
        while True:
            self.governor.acquire(category, self.priority)
            token = self.token.get()
            self.stats.count(category)
            try:
                resp = self.http.request(method, self.base + path, params=params, json=json,
                                         headers={"Authorization": f"Bearer {token}"})
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                if method != "GET" and sent:  # it may have been done: a POST is not repeated blindly
                    raise ZoomApiError(0, None, f"no answer ({type(exc).__name__}); it may or may not have been "
                                                "done", path) from None
                attempt = self._retry(attempt, path, type(exc).__name__)
                continue
            if resp.status_code == 401 and not refreshed:
                self.token.invalidate(token)
                refreshed = True
                continue
            if resp.status_code == 429:
                self.stats.rate_limited += 1
                daily = self.governor.account_wide_daily(category, resp.headers)
                if daily is False:  # one user's or one resource's daily limit: this call alone fails
                    raise self._error(resp, path)
                pause = self.governor.on_429(category, resp.headers)
                if daily:
                    group = self.governor.limits.daily_of(category)
                    raise DailyCapReached(group.name if group else category.value,
                                          datetime.fromtimestamp(self.governor.clock() + pause, UTC))
                log.warning("Zoom answered 429 (%s) on %s; %s calls paused %.1f s",
                            resp.headers.get("x-ratelimit-type", "no type"), path, category.value, pause)
                attempt = self._retry(attempt, path, "429", wait=False)
                continue
            if resp.status_code >= 500:
                attempt = self._retry(attempt, path, f"HTTP {resp.status_code}")
                continue
            if not 200 <= resp.status_code < 300:  # 4xx, and Zoom's 300 for a bad or expired page token
                raise self._error(resp, path)
            if resp.status_code == 204 or not resp.content:
                return {}
            return resp.json()

    def _retry(self, attempt: int, path: str, what: str, *, wait: bool = True) -> int:
        attempt += 1
        if attempt > self.retries:
            raise ZoomApiError(0, None, f"gave up after {self.retries} retries ({what})", path)
        self.stats.retried += 1
        if wait:
            delay = self.backoff_s * 2 ** (attempt - 1)
            log.info("Zoom API %s: %s; retry %d of %d in %.1f s", path, what, attempt, self.retries, delay)
            self.sleep(delay)
        return attempt

    @staticmethod
    def _error(resp: httpx.Response, path: str) -> ZoomApiError:
        try:
            body = resp.json()
        except ValueError:
            body = {}
        code, message = body.get("code"), body.get("message") or resp.text[:200]
        cls = ZoomApiError
        if resp.status_code == 404:
            cls = NotFound
        elif code == MISSING_SCOPE or (resp.status_code == 400 and code == NO_PERMISSION):
            cls = AccessRefused
        return cls(resp.status_code, code, message, path)

    def pages(self, path: str, category: Category, item_key: str, params: dict | None = None) -> list[dict]:
        """Every item of a paged list. An expired page token (after 15 minutes) restarts the list once, so
        what is returned is always one complete listing."""
        for restart in (False, True):
            items: list[dict] = []
            token = None
            try:
                while True:
                    asked = self.page_size(category)
                    page = {**(params or {}), "page_size": asked, **({"next_page_token": token} if token else {})}
                    body = self.request("GET", path, category, params=page)
                    items.extend(body.get(item_key) or [])
                    token = body.get("next_page_token")
                    if not token:
                        return items
                    self._note_page_size(category, asked, body.get("page_size"), path)
            except ZoomApiError as exc:
                if EXPIRED_PAGE_TOKEN not in (exc.code, exc.status) or restart:
                    raise
                log.info("Zoom API %s: page token expired; listing again", path)
        raise AssertionError("unreachable")

    def _note_page_size(self, category: Category, asked: int, got: Any, path: str) -> None:
        """A full page (more follow) of fewer rows than asked is Zoom's limit for the list: ask for that
        many from now on, and say so once."""
        if isinstance(got, int) and 0 < got < asked:
            self._page_sizes[category] = got
            log.warning("Zoom answered %s with %d rows a page, not %d: %s lists are asked for and counted at %d "
                        "from now on (ZOOM_HEAVY_PAGE_SIZE sets it for Heavy lists)", path, got, asked,
                        category.value, got)

    # ---- endpoints -----------------------------------------------------------------------------------
    def report_participants(self, meeting: str) -> list[ReportParticipant]:
        """Every join of every participant of an instance (Heavy; needs Pro or higher)."""
        return [ReportParticipant.model_validate(p) for p in self.pages(
            f"/report/meetings/{_meeting_path(meeting)}/participants", Category.HEAVY, "participants",
            {"include_fields": "registrant_id"})]

    def past_meeting_participants(self, meeting: str) -> list[ReportParticipant]:
        """The lighter list (Medium; needs a paid plan): no breakout room or customer key, but
        ``internal_user``; ``registrant_id`` only when asked for, as in the report."""
        return [ReportParticipant.model_validate(p) for p in self.pages(
            f"/past_meetings/{_meeting_path(meeting)}/participants", Category.MEDIUM, "participants",
            {"include_fields": "registrant_id"})]

    def past_meeting(self, meeting: str) -> PastMeeting:
        return PastMeeting.model_validate(self.request("GET", f"/past_meetings/{_meeting_path(meeting)}", Category.LIGHT))

    def report_meeting(self, meeting: str) -> PastMeeting:
        return PastMeeting.model_validate(self.request("GET", f"/report/meetings/{_meeting_path(meeting)}", Category.HEAVY))

    def past_instances(self, meeting_id: str) -> list[MeetingInstance]:
        body = self.request("GET", f"/past_meetings/{meeting_id}/instances", Category.MEDIUM)
        return [MeetingInstance.model_validate(m) for m in body.get("meetings") or []]

    def registrants(self, meeting_id: str, status: str = "approved") -> list[Registrant]:
        return [Registrant.model_validate(r) for r in self.pages(
            f"/meetings/{meeting_id}/registrants", Category.MEDIUM, "registrants", {"status": status})]

    def add_registrant(self, meeting_id: str, first_name: str, email: str, last_name: str | None = None) -> Registration:
        """Register a person: the answer's personal join link makes their report rows carry ``registrant_id``."""
        body = {"first_name": first_name[:64], "email": email[:128], **({"last_name": last_name} if last_name else {})}
        return Registration.model_validate(self.request("POST", f"/meetings/{meeting_id}/registrants",
                                                        Category.LIGHT, json=body))

    def upcoming_meetings(self, user_id: str) -> list[ScheduledMeeting]:
        return [ScheduledMeeting.model_validate(m) for m in self.pages(
            f"/users/{user_id}/meetings", Category.MEDIUM, "meetings", {"type": "upcoming"})]

    def user_token(self, user_id: str, kind: str, meeting_id: str | None = None) -> str:
        """A ZAK (``kind="zak"``) or an on-behalf token (``kind="onbehalf"``) for the bot to join with."""
        if kind not in ("zak", "onbehalf"):
            raise ValueError("kind must be 'zak' or 'onbehalf'")
        params = {"type": kind, **({"meeting_id": meeting_id} if meeting_id else {})}
        return self.request("GET", f"/users/{user_id}/token", Category.LIGHT, params=params)["token"]
