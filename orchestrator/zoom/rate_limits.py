"""The account-wide Zoom API rate-limit governor, shared by every process through Redis.

Zoom's limits are per account and shared by every app on it (``../shared/reference/zoom-rest-webhooks.md``
§2): a per-second rate per endpoint category, and a daily cap (on Pro and Business, Heavy and
Resource-intensive calls draw on one shared daily cap). Rollcall takes only ``share`` of each, so other
apps keep theirs, and must never be why an account hits a limit.

Each category is a GCRA token bucket (one "theoretical arrival time" per account × category) with no burst:
calls are spaced at least ``1 / (share × rate)`` apart across all processes, so no one-second window sees
more than the share. Every decision is one Lua script, atomic in Redis:

- a daily group at its cap refuses with ``daily`` (the caller stops rather than sleeping until midnight);
  backfill stops ``daily_reserve`` short of it, so live callers still get through;
- a category paused by a 429 refuses until the pause ends;
- a backfill call gives way while a live call (a bot's join token, the scheduler) is waiting.

A 429 pauses the category for every process until Zoom says: ``Retry-After`` (seconds or a date; Zoom
sends a date on daily limits), else ``X-RateLimit-Reset`` (epoch seconds; Zoom sends it on rate limits),
else 1 s (60 s for Resource-intensive) for ``QPS`` and the next 00:00 UTC for ``Daily-limit``, which
also marks the daily group spent. A ``Daily-limit`` on a category without an account-wide daily cap (Light and
Medium on Pro and Business) can only be a per-user or per-resource limit (three registrations a day per
registrant): it fails that call alone and pauses nothing.
"""
from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import IntEnum, StrEnum

import redis

from orchestrator import keys


class Category(StrEnum):
    LIGHT = "light"
    MEDIUM = "medium"
    HEAVY = "heavy"
    RESOURCE_INTENSIVE = "resource_intensive"


class Priority(IntEnum):
    LIVE = 0  # a bot waiting to join, the scheduler: goes first
    BACKFILL = 1  # reconciliation and other catch-up work


@dataclass(frozen=True)
class DailyCap:
    name: str
    categories: frozenset[Category]
    cap: int


@dataclass(frozen=True)
class PlanLimits:
    """Per-second rates and daily caps of one Zoom plan, for the whole account."""

    rate_per_s: Mapping[Category, float]
    daily: tuple[DailyCap, ...] = ()

    def daily_of(self, category: Category) -> DailyCap | None:
        return next((d for d in self.daily if category in d.categories), None)

    def with_daily_cap(self, name: str, cap: int) -> PlanLimits:
        """The same plan with one daily cap changed (an account with a different cap, or a test)."""
        if not any(d.name == name for d in self.daily):
            raise ValueError(f"no daily cap named {name!r} (have: {', '.join(d.name for d in self.daily)})")
        return PlanLimits(self.rate_per_s, tuple(DailyCap(d.name, d.categories, cap) if d.name == name else d
                                                 for d in self.daily))


_L, _M, _H, _RI = Category.LIGHT, Category.MEDIUM, Category.HEAVY, Category.RESOURCE_INTENSIVE
HEAVY_GROUP = "heavy+resource_intensive"
PLANS: dict[str, PlanLimits] = {
    "free": PlanLimits({_L: 4, _M: 2, _H: 1, _RI: 10 / 60},
                       (DailyCap("light", frozenset({_L}), 6000), DailyCap("medium", frozenset({_M}), 2000),
                        DailyCap("heavy", frozenset({_H}), 1000), DailyCap("resource_intensive", frozenset({_RI}), 30000))),
    "pro": PlanLimits({_L: 30, _M: 20, _H: 10, _RI: 10 / 60}, (DailyCap(HEAVY_GROUP, frozenset({_H, _RI}), 30000),)),
    "business": PlanLimits({_L: 80, _M: 60, _H: 40, _RI: 20 / 60},
                           (DailyCap(HEAVY_GROUP, frozenset({_H, _RI}), 60000),)),
}


def plan_limits(plan: str) -> PlanLimits:
    try:
        return PLANS[plan.lower()]
    except KeyError:
        raise ValueError(f"unknown Zoom plan {plan!r}: use one of {', '.join(PLANS)} (Enterprise, Education "
                         "and Partner accounts count as business)") from None


class DailyCapReached(Exception):
    """Rollcall's share of a daily cap is spent; nothing in that group can be called until ``resets_at``."""

    def __init__(self, group: str, resets_at: datetime) -> None:
        super().__init__(f"the daily cap of {group} calls is reached; it resets at {resets_at:%Y-%m-%d %H:%M} UTC")
        self.group, self.resets_at = group, resets_at


@dataclass(frozen=True)
class Decision:
    granted: bool
    wait_s: float  # before asking again (for "daily": until the reset)
    reason: str  # ok | rate | priority | paused | daily


@dataclass
class CategoryUsage:
    category: Category
    rate_per_s: float  # Rollcall's share
    calls_today: int
    daily_group: str | None
    daily_cap: int | None  # Rollcall's share
    daily_used: int | None
    daily_remaining: int | None
    paused_until: datetime | None
    extra: dict = field(default_factory=dict)


# KEYS: 1 tat, 2 paused-until, 3 live waiters (zset), 4 daily counter ("" = none), 5 calls-today hash
# ARGV: 1 now, 2 interval, 3 priority, 4 cap (-1 = none), 5 reserve, 6 waiter id, 7 category, 8 ttl s
_ACQUIRE = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local live = ARGV[3] == '0'
local cap = tonumber(ARGV[4])
if cap >= 0 then
  local used = tonumber(redis.call('GET', KEYS[4]) or '0')
  local limit = cap
  if not live then limit = cap - tonumber(ARGV[5]) end
  if used >= limit then return {0, '-1', 'daily'} end
end
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {0, tostring(paused - now), 'paused'} end
if not live then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) > 0 then return {0, tostring(interval), 'priority'} end
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat > now then
  if live then redis.call('ZADD', KEYS[3], tat + 1, ARGV[6]) end
  return {0, tostring(tat - now), 'rate'}
end
redis.call('SET', KEYS[1], string.format('%.6f', now + interval), 'EX', 60)
if cap >= 0 then
  redis.call('INCR', KEYS[4])
  redis.call('EXPIRE', KEYS[4], ARGV[8])
end
redis.call('HINCRBY', KEYS[5], ARGV[7], 1)
redis.call('EXPIRE', KEYS[5], ARGV[8])
if live then redis.call('ZREM', KEYS[3], ARGV[6]) end
return {1, '0', 'ok'}
"""

# KEYS: paused-until keys; ARGV: 1 until (epoch s), 2 ttl s. Only ever extends a pause.
_PAUSE = """
for _, k in ipairs(KEYS) do
  local cur = tonumber(redis.call('GET', k) or '0')
  if tonumber(ARGV[1]) > cur then redis.call('SET', k, ARGV[1], 'EX', ARGV[2]) end
end
return 1
"""


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def next_utc_midnight(now: float) -> datetime:
    d = datetime.fromtimestamp(now, UTC)
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds, an ISO-8601 date-time (Zoom's daily limit) or an HTTP date → epoch s."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return now + seconds if math.isfinite(seconds) and 0 <= seconds < 7 * 86400 else None
    for parse in (datetime.fromisoformat, parsedate_to_datetime):
        try:
            dt = parse(value)
        except (ValueError, TypeError):
            continue
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    return None


def parse_reset(value: str | None, now: float) -> float | None:
    """``X-RateLimit-Reset`` (epoch seconds) → epoch s; None when absent, garbled, past or over a week away."""
    try:
        at = float((value or "").strip())
    except ValueError:
        return None
    return at if math.isfinite(at) and now < at < now + 7 * 86400 else None


class Governor:
    """Decides, for every process calling Zoom on behalf of one account, when a call may go."""

    def __init__(self, r: redis.Redis, account: str, limits: PlanLimits, *, share: float = 0.8,
                 daily_reserve: float = 0.02, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.r, self.account, self.limits, self.share = r, account, limits, share
        self.daily_reserve = daily_reserve
        self.clock, self.sleep = clock, sleep
        self._acquire = r.register_script(_ACQUIRE)
        self._pause = r.register_script(_PAUSE)
        self._waiter = uuid.uuid4().hex

    # ---- budgets -----------------------------------------------------------------------------------
    def rate(self, category: Category) -> float:
        return self.limits.rate_per_s[category] * self.share

    def cap(self, group: DailyCap) -> int:
        return int(group.cap * self.share)

    def _key(self, *parts: str) -> str:
        return keys.rate_limit(self.account, *parts)

    # ---- asking --------------------------------------------------------------------------------------
    def try_acquire(self, category: Category, priority: Priority = Priority.BACKFILL) -> Decision:
        now = self.clock()
        day = _day(now)
        group = self.limits.daily_of(category)
        cap = self.cap(group) if group else -1
        reserve = math.ceil(cap * self.daily_reserve) if group else 0
        granted, wait, reason = self._acquire(
            keys=[self._key("tat", category), self._key("paused", category), self._key("live", category),
                  self._key("daily", group.name, day) if group else "", self._key("calls", day)],
            args=[f"{now:.6f}", f"{1.0 / self.rate(category):.6f}", int(priority), cap, reserve, self._waiter,
                  str(category), 2 * 86400])
        reason = reason.decode() if isinstance(reason, bytes) else reason
        wait_s = float(wait)
        if reason == "daily":
            wait_s = next_utc_midnight(now).timestamp() - now
        return Decision(bool(granted), wait_s, reason)

    def acquire(self, category: Category, priority: Priority = Priority.BACKFILL, *,
                wait_for_daily: bool = False) -> None:
        """Block until a call in ``category`` may go. Raises DailyCapReached when the daily group is spent
        (unless ``wait_for_daily``: then sleep until 00:00 UTC)."""
        while True:
            d = self.try_acquire(category, priority)
            if d.granted:
                return
            if d.reason == "daily" and not wait_for_daily:
                group = self.limits.daily_of(category)
                raise DailyCapReached(group.name if group else str(category),
                                      datetime.fromtimestamp(self.clock() + d.wait_s, UTC))
            self.sleep(min(max(d.wait_s, 0.0005), 60.0))

    # ---- Zoom said no --------------------------------------------------------------------------------
    def account_wide_daily(self, category: Category, headers: Mapping[str, str]) -> bool | None:
        """For a 429: True for an account-wide daily limit, False for a per-user or per-resource one, None
        when it is a rate (QPS) limit."""
        kind = {k.lower(): v for k, v in headers.items()}.get("x-ratelimit-type", "").strip().lower()
        if kind != "daily-limit":
            return None
        return self.limits.daily_of(category) is not None

    def on_429(self, category: Category, headers: Mapping[str, str]) -> float:
        """Pause what Zoom's 429 says is exhausted, for every process; returns the pause in seconds (0 for
        a per-user or per-resource daily limit, which pauses nothing)."""
        now = self.clock()
        h = {k.lower(): v for k, v in headers.items()}
        named = h.get("x-ratelimit-category", "").strip().lower().replace("-", "_").replace(" ", "_")
        if named in {c.value for c in Category}:
            category = Category(named)
        until = parse_retry_after(h.get("retry-after"), now) or parse_reset(h.get("x-ratelimit-reset"), now)
        daily = self.account_wide_daily(category, h)
        if daily is False:
            return 0.0
        if daily:
            until = until if until is not None and until > now else next_utc_midnight(now).timestamp()
            group = self.limits.daily_of(category)
            assert group is not None
            cats = sorted(group.categories)
            # Zoom's count is what matters: nothing is left today, for every process
            self.r.set(self._key("daily", group.name, _day(now)), self.cap(group), ex=2 * 86400)
        else:
            default = 60.0 if category is Category.RESOURCE_INTENSIVE else 1.0
            until = until if until is not None and until > now else now + default
            cats = [category]
        self._pause(keys=[self._key("paused", c) for c in cats],
                    args=[f"{until:.3f}", max(1, math.ceil(until - now) + 60)])
        return until - now

    # ---- reporting -----------------------------------------------------------------------------------
    def usage(self) -> list[CategoryUsage]:
        """Calls made today and what is left, per category (Rollcall's share of the account's limits)."""
        now = self.clock()
        day = _day(now)
        calls = self.r.hgetall(self._key("calls", day))
        out = []
        for category in Category:
            group = self.limits.daily_of(category)
            used = int(self.r.get(self._key("daily", group.name, day)) or 0) if group else None
            cap = self.cap(group) if group else None
            paused = float(self.r.get(self._key("paused", category)) or 0)
            out.append(CategoryUsage(
                category=category, rate_per_s=round(self.rate(category), 3),
                calls_today=int(calls.get(str(category), 0)), daily_group=group.name if group else None,
                daily_cap=cap, daily_used=used, daily_remaining=None if cap is None else max(0, cap - used),
                paused_until=datetime.fromtimestamp(paused, UTC) if paused > now else None))
        return out
