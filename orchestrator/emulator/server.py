"""A Zoom API emulator on loopback, for tests and local development: the only Zoom part we fake.

It serves the endpoints Rollcall calls (``orchestrator/zoom/api.py``) from ``EmulatedMeeting`` data (users'
upcoming meetings and meeting details from Zoom's JSON as given), and behaves as Zoom's published
definitions say (per endpoint in ``orchestrator/emulator/rules.py``; every behaviour and its source in
``tests/STAND-INS.md``): Server-to-Server OAuth tokens that expire and carry the app's scopes, a call
without its endpoint's scope refused with 400/4700, paid-only endpoints refused on a free plan (400/200);
per-account rate limits per category over a sliding one-second window (a minute for Resource-intensive)
and the plan's daily caps, answered with real 429s and Zoom's headers; ``page_size`` capped per endpoint
(300 unless set lower) with ``next_page_token`` that expires after 15 minutes; ``registrant_id`` only with
``include_fields=registrant_id``; a meeting still running unknown to the past-meeting endpoints (404/3001);
meeting UUIDs that must be double-encoded when they start with ``/`` or contain ``//`` (else 404, as
Zoom's routing fails). Faults can be injected: 5xx answers, stalls longer than a client's timeout, fields
left out, durations as ``hh:mm:ss``. It can also deliver signed webhooks. ``stats`` counts every call, so
a test can check what a client really sent.
"""
from __future__ import annotations

import asyncio
import base64
import collections
import copy
import json
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from orchestrator.emulator.data import EmulatedMeeting, iso
from orchestrator.emulator.rules import ALL_SCOPES, ENDPOINTS, Endpoint, missing_scope_message
from orchestrator.zoom.rate_limits import Category, PlanLimits, plan_limits
from orchestrator.redis_conn import free_port
from orchestrator.webhooks.auth import signature

PAGE_TOKEN_TTL_S = 15 * 60
TOKEN_TTL_S = 3600


@dataclass
class Faults:
    """Injected misbehaviour. Rates are per call, drawn from a seeded generator."""

    error_rate: float = 0.0  # answer 500/502/503
    stall_rate: float = 0.0  # hold the answer for stall_s (longer than the client waits)
    stall_s: float = 3.0
    drop_fields: tuple[str, ...] = ()  # left out of every participant row (e.g. "leave_time")
    clock_durations: bool = False  # participant durations as "hh:mm:ss" strings
    seed: int = 0


@dataclass
class EmulatorStats:
    calls: collections.Counter = field(default_factory=collections.Counter)  # accepted, per category
    endpoints: collections.Counter = field(default_factory=collections.Counter)  # accepted, per route
    page_sizes: list[int] = field(default_factory=list)  # page_size of each list call, as asked
    rate_limited: collections.Counter = field(default_factory=collections.Counter)  # 429s, per category
    faults: int = 0
    tokens_issued: int = 0

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class _Window:
    """Calls accepted in the last ``span_s`` seconds."""

    def __init__(self, limit: int, span_s: float) -> None:
        self.limit, self.span_s = limit, span_s
        self.times: collections.deque[float] = collections.deque()

    def admit(self, now: float) -> bool:
        while self.times and self.times[0] <= now - self.span_s:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True


class ZoomEmulator:
    def __init__(self, meetings: Iterable[EmulatedMeeting] = (), *, plan: str | PlanLimits = "business",
                 account_id: str = "emu-account", client_id: str = "emu-client", client_secret: str = "emu-secret",
                 users: dict[str, list[dict]] | None = None, faults: Faults | None = None,
                 scopes: Iterable[str] = ALL_SCOPES, page_limits: Mapping[str, int] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.limits = plan if isinstance(plan, PlanLimits) else plan_limits(plan)
        self.paid = not (isinstance(plan, str) and plan.lower() == "free")
        self.scopes = frozenset(scopes)  # granted to the app: tokens issued from now on carry them
        self.page_limits = {route: e.max_page_size for route, e in ENDPOINTS.items()} | dict(page_limits or {})
        self.account_id, self.client_id, self.client_secret = account_id, client_id, client_secret
        self.faults = faults or Faults()
        self.clock = clock
        self.stats = EmulatorStats()
        self.users = users or {}  # user id → upcoming meetings (Zoom's JSON shape)
        # meeting number → its details (``GET /meetings/{id}``: occurrences, tracking fields); a meeting not
        # here answers with its entry in a user's upcoming list
        self.meetings_detail: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        self._by_uuid: dict[str, EmulatedMeeting] = {}
        self._by_id: dict[str, list[EmulatedMeeting]] = {}
        for m in meetings:
            self.add_meeting(m)
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}  # access token → expiry, its scopes
        self._page_tokens: dict[str, tuple[str, int, float]] = {}
        self._windows = {c: _Window(max(1, round(r if c is not Category.RESOURCE_INTENSIVE else r * 60)),
                                    1.0 if c is not Category.RESOURCE_INTENSIVE else 60.0)
                         for c, r in self.limits.rate_per_s.items()}
        self._day_offset = 0
        self._daily: collections.Counter = collections.Counter()
        self._registrations: collections.Counter = collections.Counter()  # (meeting, e-mail, day) → additions
        self.app = self._build_app()

    # ---- data ---------------------------------------------------------------------------------------
    def add_meeting(self, m: EmulatedMeeting) -> None:
        with self._lock:
            self._by_uuid[m.uuid] = m
            self._by_id.setdefault(m.id, []).append(m)
            self._by_id[m.id].sort(key=lambda x: x.start_time)

    def meeting(self, uuid: str) -> EmulatedMeeting:
        return self._by_uuid[uuid]

    # ---- account limits -----------------------------------------------------------------------------
    def _now_day(self) -> tuple[float, datetime]:
        now = self.clock()
        return now, datetime.fromtimestamp(now, UTC) + timedelta(days=self._day_offset)

    def next_day(self) -> None:
        """Midnight UTC passes: the daily caps start again."""
        with self._lock:
            self._day_offset += 1
            self._daily.clear()

    def use_daily(self, group: str, calls: int) -> None:
        """Another app on the account spends ``calls`` of a daily cap."""
        with self._lock:
            self._daily[group] += calls

    def _admit(self, category: Category) -> JSONResponse | None:
        now, today = self._now_day()
        group = self.limits.daily_of(category)
        with self._lock:
            if group and self._daily[group.name] >= group.cap:
                self.stats.rate_limited[category.value] += 1
                reset = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
                return self._429(category, "Daily-limit", group.cap, iso(reset - timedelta(days=self._day_offset)),
                                 f"You have reached the maximum daily rate limit for this API ({group.cap}).")
            window = self._windows[category]
            if not window.admit(now):
                self.stats.rate_limited[category.value] += 1
                return self._429(category, "QPS", window.limit, None,
                                 f"You have reached the maximum per-second rate limit for this API ({window.limit}).",
                                 reset=math.ceil(window.times[0] + window.span_s))
            if group:
                self._daily[group.name] += 1
            self.stats.calls[category.value] += 1
        return None

    @staticmethod
    def _429(category: Category, kind: str, limit: int, retry_after: str | None, message: str, *,
             reset: int | None = None) -> JSONResponse:
        """Zoom's 429: a rate (QPS) limit says when the window frees in ``X-RateLimit-Reset`` (epoch
        seconds), a daily limit says when to come back in ``Retry-After`` (an ISO date-time)."""
        headers = {"X-RateLimit-Category": category.value.replace("_", "-").title(), "X-RateLimit-Type": kind,
                   "X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0"}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if reset is not None:
            headers["X-RateLimit-Reset"] = str(reset)
        return JSONResponse({"code": 429, "message": message}, status_code=429, headers=headers)

    # ---- faults -------------------------------------------------------------------------------------
    async def _fault(self) -> JSONResponse | None:
        f = self.faults
        if f.error_rate and self._rng.random() < f.error_rate:
            self.stats.faults += 1
            status = self._rng.choice([500, 502, 503])
            return JSONResponse({"code": status, "message": "Internal error"}, status_code=status)
        if f.stall_rate and self._rng.random() < f.stall_rate:
            self.stats.faults += 1
            await asyncio.sleep(f.stall_s)
        return None

    def _row_out(self, row: dict, *, past: bool, registrant_id: bool) -> dict:
        out = {k: v for k, v in row.items() if not k.startswith("_") and k not in self.faults.drop_fields}
        if not registrant_id:  # only with include_fields=registrant_id
            out.pop("registrant_id", None)
        if past:  # no breakout room, customer key or participant_user_id, but internal_user
            for k in ("bo_mtg_id", "customer_key", "participant_user_id"):
                out.pop(k, None)
            out["internal_user"] = bool(row.get("id"))
        if self.faults.clock_durations and isinstance(out.get("duration"), int):
            d = out["duration"]
            out["duration"] = f"{d // 3600:02d}:{d // 60 % 60:02d}:{d % 60:02d}"
        return out

    # ---- the HTTP side ------------------------------------------------------------------------------
    def _refuse(self, scopes: frozenset[str], rules: Endpoint) -> JSONResponse | None:
        """Zoom's answer when the token lacks the endpoint's scope, or a free plan asks for a paid-only
        endpoint; None when the call may go on."""
        if not scopes & set(rules.scopes):
            return JSONResponse({"code": 4700, "message": missing_scope_message(rules)}, status_code=400)
        if rules.free_plan_refusal and not self.paid:
            return JSONResponse({"code": 200, "message": rules.free_plan_refusal.format(account=self.account_id)},
                                status_code=400)
        return None

    def _token_scopes(self, request: Request) -> frozenset[str] | None:
        """The scopes of the request's unexpired access token; None without one."""
        auth = request.headers.get("authorization", "")
        found = self._tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        return found[1] if found is not None and found[0] > self.clock() else None

    def expire_tokens(self) -> None:
        """Every access token stops working (the app was re-authorised)."""
        with self._lock:
            self._tokens.clear()

    def _find(self, raw_segment: str) -> EmulatedMeeting | None:
        """The instance named by a path segment as it was sent: a number (the latest instance), or a
        UUID, which must arrive encoded twice when it starts with '/' or contains '//'."""
        once = unquote(raw_segment)
        if once.isdigit():
            found = self._by_id.get(once)
            return found[-1] if found else None
        if "%" in once:  # encoded twice
            return self._by_uuid.get(unquote(once))
        if once.startswith("/") or "//" in once:
            return None  # Zoom's routing loses such a UUID unless it is encoded twice
        return self._by_uuid.get(once)

    def _page(self, request: Request, route: str, key: str, items: list[dict]) -> JSONResponse:
        now = self.clock()
        asked = request.query_params.get("page_size", "30")
        if not asked.isdigit():
            return JSONResponse({"code": 300, "message": "Validation Failed.",
                                 "errors": [{"field": "page_size", "message": "Invalid field."}]}, status_code=400)
        self.stats.page_sizes.append(int(asked))
        size = min(self.page_limits[route], max(1, int(asked)))
        token = request.query_params.get("next_page_token")
        offset = 0
        if token:
            found = self._page_tokens.get(token)
            if found is None or found[0] != request.url.path or now - found[2] > PAGE_TOKEN_TTL_S:
                return JSONResponse({"code": 300, "message": "The next page token is invalid or expired."},
                                    status_code=300)  # Zoom's spec lists 300 as the HTTP status
            offset = found[1]
        chunk = items[offset:offset + size]
        nxt = ""
        if offset + size < len(items):
            nxt = secrets.token_urlsafe(24)
            self._page_tokens[nxt] = (request.url.path, offset + size, now)
        return JSONResponse({"page_count": math.ceil(len(items) / size) if items else 0, "page_size": size,
                             "total_records": len(items), "next_page_token": nxt, key: chunk})

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Zoom API emulator", docs_url=None, redoc_url=None)
        emu = self

        @app.post("/oauth/token")
        async def token(request: Request) -> JSONResponse:
            form = dict(x.split("=", 1) for x in (await request.body()).decode().split("&") if "=" in x)
            expected = "Basic " + base64.b64encode(f"{emu.client_id}:{emu.client_secret}".encode()).decode()
            if request.headers.get("authorization") != expected:
                return JSONResponse({"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
                                    status_code=400)
            if form.get("grant_type") != "account_credentials" or form.get("account_id") != emu.account_id:
                return JSONResponse({"reason": "Invalid grant or account", "error": "invalid_request"}, status_code=400)
            value = secrets.token_urlsafe(32)
            with emu._lock:
                emu._tokens[value] = (emu.clock() + TOKEN_TTL_S, emu.scopes)
                emu.stats.tokens_issued += 1
            return JSONResponse({"access_token": value, "token_type": "bearer", "expires_in": TOKEN_TTL_S,
                                 "scope": " ".join(sorted(emu.scopes))})

        def guarded(route: str):
            rules = ENDPOINTS[route]

            def wrap(handler):
                async def endpoint(request: Request) -> JSONResponse:
                    scopes = emu._token_scopes(request)
                    if scopes is None:
                        return JSONResponse({"code": 124, "message": "Invalid access token."}, status_code=401)
                    refused = emu._refuse(scopes, rules) or emu._admit(rules.category)
                    if refused is not None:
                        return refused
                    emu.stats.endpoints[route] += 1
                    fault = await emu._fault()
                    if fault is not None:
                        return fault
                    return handler(request)
                return endpoint
            return wrap

        def segment(request: Request, prefix: str, suffix: str = "") -> str:
            raw = request.scope.get("raw_path", b"").decode().split("?", 1)[0]
            raw = raw.removeprefix("/v2" + prefix)
            return raw[: len(raw) - len(suffix)] if suffix and raw.endswith(suffix) else raw

        def not_found(message: str | None = None) -> JSONResponse:
            return JSONResponse({"code": 3001, "message": message or "Meeting does not exist or has expired."},
                                status_code=404)

        def registrant_ids(request: Request) -> bool:
            return request.query_params.get("include_fields") == "registrant_id"

        @guarded("report_participants")
        def report_participants(request: Request) -> JSONResponse:
            m = emu._find(segment(request, "/report/meetings/", "/participants"))
            if m is None or m.end_time is None:
                return not_found(None if m is None else ENDPOINTS["report_participants"].not_ended)
            rows = [emu._row_out(r, past=False, registrant_id=registrant_ids(request)) for r in m.rows]
            return emu._page(request, "report_participants", "participants", rows)

        @guarded("past_participants")
        def past_participants(request: Request) -> JSONResponse:
            m = emu._find(segment(request, "/past_meetings/", "/participants"))
            if m is None or m.end_time is None:
                return not_found(None if m is None else ENDPOINTS["past_participants"].not_ended)
            rows = [emu._row_out(r, past=True, registrant_id=registrant_ids(request)) for r in m.rows]
            return emu._page(request, "past_participants", "participants", rows)

        def details(m: EmulatedMeeting) -> dict:
            body = {"uuid": m.uuid, "id": int(m.id), "host_id": m.host_id, "topic": m.topic, "type": 2,
                    "start_time": iso(m.start_time), "participants_count": len({r["name"] for r in m.rows})}
            if m.end_time is not None and not m.hide_end_time:
                body["end_time"] = iso(m.end_time)
            if m.end_time is not None:
                body["duration"] = round((m.end_time - m.start_time).total_seconds() / 60)
            return body

        @guarded("past_meeting")
        def past_meeting(request: Request) -> JSONResponse:
            m = emu._find(segment(request, "/past_meetings/"))
            if m is None or m.end_time is None:
                return not_found(None if m is None else ENDPOINTS["past_meeting"].not_ended)
            return JSONResponse(details(m))

        @guarded("report_meeting")
        def report_meeting(request: Request) -> JSONResponse:
            m = emu._find(segment(request, "/report/meetings/"))
            return not_found() if m is None else JSONResponse(details(m))

        @guarded("past_instances")
        def instances(request: Request) -> JSONResponse:
            meeting_id = segment(request, "/past_meetings/", "/instances")
            found = emu._by_id.get(meeting_id)
            if not found:
                return not_found()
            return JSONResponse({"meetings": [{"uuid": m.uuid, "start_time": iso(m.start_time)} for m in found]})

        @guarded("registrants")
        def registrants(request: Request) -> JSONResponse:
            found = emu._by_id.get(segment(request, "/meetings/", "/registrants"))
            if not found:
                return not_found()
            status = request.query_params.get("status", "approved")
            return emu._page(request, "registrants", "registrants",
                             [r for r in found[-1].registrants if r.get("status") == status])

        @guarded("add_registrant")
        def add_registrant(request: Request) -> JSONResponse:
            meeting_id = segment(request, "/meetings/", "/registrants")
            found = emu._by_id.get(meeting_id)
            body = request.state.json
            if not found:
                return not_found()
            if not body.get("first_name") or not body.get("email"):
                return JSONResponse({"code": 300, "message": "first_name and email are required"}, status_code=400)
            key = (meeting_id, str(body["email"]).lower(), emu._now_day()[1].date())
            emu._registrations[key] += 1
            if emu._registrations[key] > 3:  # Zoom: three additions a day per registrant
                reset = datetime.combine(key[2] + timedelta(days=1), datetime.min.time(), UTC)
                return emu._429(Category.LIGHT, "Daily-limit", 3, iso(reset - timedelta(days=emu._day_offset)),
                                "You have reached the maximum daily limit for adding this registrant.")
            reg_id = secrets.token_urlsafe(12)
            join_url = f"https://emu.zoom.us/w/{meeting_id}?tk={secrets.token_urlsafe(16)}"
            found[-1].registrants.append({"id": reg_id, "email": body["email"], "first_name": body["first_name"],
                                          "last_name": body.get("last_name", ""), "status": "approved",
                                          "join_url": join_url})
            return JSONResponse({"registrant_id": reg_id, "id": int(meeting_id), "topic": found[-1].topic,
                                 "start_time": iso(found[-1].start_time), "join_url": join_url}, status_code=201)

        @guarded("upcoming_meetings")
        def upcoming(request: Request) -> JSONResponse:
            user = segment(request, "/users/", "/meetings")
            if user not in emu.users:
                return JSONResponse({"code": 1001, "message": "User does not exist."}, status_code=404)
            return emu._page(request, "upcoming_meetings", "meetings", copy.deepcopy(emu.users[user]))

        @guarded("meeting")
        def meeting(request: Request) -> JSONResponse:
            meeting_id = segment(request, "/meetings/")
            found = emu.meetings_detail.get(meeting_id) or next(
                (m for listed in emu.users.values() for m in listed if str(m.get("id")) == meeting_id), None)
            return not_found() if found is None else JSONResponse(copy.deepcopy(found))

        @guarded("user_token")
        def user_token(request: Request) -> JSONResponse:
            user = segment(request, "/users/", "/token")
            kind = request.query_params.get("type", "token")
            if kind not in ("zak", "onbehalf", "token"):
                return JSONResponse({"code": 300, "message": "Invalid type"}, status_code=400)
            return JSONResponse({"token": f"{kind}-{user}-{secrets.token_urlsafe(8)}"})

        routes = [("GET", "/v2/report/meetings/{m:path}/participants", report_participants),
                  ("GET", "/v2/past_meetings/{m}/instances", instances),
                  ("GET", "/v2/past_meetings/{m:path}/participants", past_participants),
                  ("GET", "/v2/past_meetings/{m:path}", past_meeting),
                  ("GET", "/v2/report/meetings/{m:path}", report_meeting),
                  ("GET", "/v2/meetings/{m}/registrants", registrants),
                  ("POST", "/v2/meetings/{m}/registrants", add_registrant),
                  ("GET", "/v2/meetings/{m}", meeting),  # one segment: never takes …/registrants
                  ("GET", "/v2/users/{u}/meetings", upcoming),
                  ("GET", "/v2/users/{u}/token", user_token)]
        for method, path, handler in routes:
            app.add_api_route(path, handler, methods=[method], include_in_schema=False)

        @app.middleware("http")
        async def read_json(request: Request, call_next):
            request.state.json = {}
            if request.method == "POST" and request.url.path.startswith("/v2/"):
                try:
                    request.state.json = await request.json()
                except ValueError:
                    return JSONResponse({"code": 300, "message": "Request body is not JSON"}, status_code=400)
            return await call_next(request)

        return app

    # ---- webhooks -----------------------------------------------------------------------------------
    @staticmethod
    def deliver_webhook(url: str, envelope: dict, secret: str, *, timestamp: int | None = None,
                        client: httpx.Client | None = None) -> httpx.Response:
        """POST ``envelope`` to ``url`` signed as Zoom signs it (compact JSON, ``x-zm-signature``)."""
        body = json.dumps(envelope, separators=(",", ":")).encode()
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {"content-type": "application/json", "x-zm-request-timestamp": ts,
                   "x-zm-signature": signature(secret, ts, body), "x-zm-trackingid": secrets.token_hex(8)}
        if client is not None:
            return client.post(url, content=body, headers=headers)
        return httpx.post(url, content=body, headers=headers, timeout=5.0)

    def meeting_ended(self, uuid: str) -> dict:
        """The ``meeting.ended`` envelope Zoom would send for an instance."""
        m = self._by_uuid[uuid]
        obj = {"id": m.id, "uuid": m.uuid, "host_id": m.host_id, "topic": m.topic, "type": 2,
               "start_time": iso(m.start_time), "timezone": "UTC", "duration": 60}
        if m.end_time is not None:
            obj["end_time"] = iso(m.end_time)
        return {"event": "meeting.ended", "event_ts": int(self.clock() * 1000),
                "payload": {"account_id": self.account_id, "object": obj}}


class LoopbackServer:
    """An ASGI app served by uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app: FastAPI, port: int | None = None, name: str = "loopback-server") -> None:
        self.port = port or free_port()
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     access_log=False, lifespan="off", log_config=None))
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the server did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)


class EmulatorServer(LoopbackServer):
    """The emulator on loopback; ``api_url`` and ``oauth_url`` are what ZOOM_API_URL and ZOOM_OAUTH_URL take."""

    def __init__(self, emulator: ZoomEmulator, port: int | None = None) -> None:
        super().__init__(emulator.app, port, name="zoom-emulator")
        self.emulator = emulator

    @property
    def api_url(self) -> str:
        return self.base_url + "/v2"

    @property
    def oauth_url(self) -> str:
        return self.base_url + "/oauth/token"
