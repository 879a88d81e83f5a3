"""The rate-limit governor on a real Redis: spacing, shared budgets, daily caps, priorities, 429s."""
from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from orchestrator.zoom.rate_limits import (HEAVY_GROUP, Category, DailyCapReached, Governor, Priority, next_utc_midnight,
                                      parse_reset, parse_retry_after, plan_limits)

T0 = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC).timestamp()


class FakeTime:
    """A clock that sleeping advances: lets a test run hours of rate limiting in no time."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def governor(redis_client, clock: FakeTime, *, share=0.8, plan="business", **kw) -> Governor:
    return Governor(redis_client, "acct-1", plan_limits(plan), share=share, clock=clock, sleep=clock.sleep, **kw)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    t = np.sort(np.asarray(times))
    return int((np.searchsorted(t, t + window - 1e-9, side="left") - np.arange(len(t))).max())


def test_calls_are_spaced_to_the_share_of_the_plan_rate(redis_client):
    clock = FakeTime()
    g = governor(redis_client, clock)
    granted = []
    for _ in range(200):
        g.acquire(Category.HEAVY)
        granted.append(clock())
    gaps = np.diff(granted)
    assert gaps.min() == pytest.approx(1 / 32, abs=1e-5)  # 0.8 × 40/s on Business
    assert max_in_window(granted) <= 32
    light = []
    for _ in range(100):  # another category has its own bucket
        g.acquire(Category.LIGHT)
        light.append(clock())
    assert np.diff(light).min() == pytest.approx(1 / 64, abs=1e-5)


def test_two_processes_share_one_budget(redis_client):
    clock = FakeTime()
    a, b = governor(redis_client, clock), governor(redis_client, clock)
    granted = []
    for i in range(300):  # the two alternate asking, as two reconcilers would
        (a if i % 2 else b).acquire(Category.HEAVY)
        granted.append(clock())
    assert max_in_window(granted) <= 32
    assert sum(u.calls_today for u in a.usage() if u.category is Category.HEAVY) == 300


def test_daily_cap_stops_backfill_with_a_reserve_for_live_calls_and_resets_at_midnight(redis_client):
    clock = FakeTime()
    limits = plan_limits("business").with_daily_cap(HEAVY_GROUP, 100)
    g = Governor(redis_client, "acct-1", limits, share=0.8, clock=clock, sleep=clock.sleep, daily_reserve=0.05)
    made = 0
    with pytest.raises(DailyCapReached) as stop:
        while True:
            g.acquire(Category.HEAVY if made % 2 else Category.RESOURCE_INTENSIVE)
            made += 1
    assert made == 80 - 4  # the share of the cap, less the 5 % live reserve
    assert stop.value.resets_at == next_utc_midnight(clock())
    for _ in range(4):
        g.acquire(Category.HEAVY, Priority.LIVE)
    assert not g.try_acquire(Category.HEAVY, Priority.LIVE).granted
    heavy = next(u for u in g.usage() if u.category is Category.HEAVY)
    assert (heavy.daily_cap, heavy.daily_used, heavy.daily_remaining) == (80, 80, 0)
    assert g.try_acquire(Category.LIGHT).granted  # light calls have no daily cap on Business
    clock.t = stop.value.resets_at.timestamp() + 1
    g.acquire(Category.HEAVY)
    heavy = next(u for u in g.usage() if u.category is Category.HEAVY)
    assert (heavy.calls_today, heavy.daily_remaining) == (1, 79)


def test_a_waiting_live_call_goes_before_backfill(redis_client):
    clock = FakeTime()
    backfill, live = governor(redis_client, clock), governor(redis_client, clock)
    backfill.acquire(Category.MEDIUM)
    assert live.try_acquire(Category.MEDIUM, Priority.LIVE).reason == "rate"  # now registered as waiting
    clock.sleep(1 / 48)
    assert backfill.try_acquire(Category.MEDIUM).reason == "priority"
    assert live.try_acquire(Category.MEDIUM, Priority.LIVE).granted
    clock.sleep(1 / 48)
    assert backfill.try_acquire(Category.MEDIUM).granted


def test_a_qps_429_pauses_the_category_for_every_process(redis_client):
    clock = FakeTime()
    a, b = governor(redis_client, clock), governor(redis_client, clock)
    assert a.on_429(Category.HEAVY, {"X-RateLimit-Type": "QPS", "Retry-After": "3"}) == pytest.approx(3)
    d = b.try_acquire(Category.HEAVY)
    assert (d.granted, d.reason, round(d.wait_s, 3)) == (False, "paused", 3.0)
    assert b.try_acquire(Category.MEDIUM).granted
    clock.sleep(3.0)
    assert b.try_acquire(Category.HEAVY).granted
    assert a.on_429(Category.HEAVY, {}) == pytest.approx(1.0)  # no headers at all: back off a second
    assert a.on_429(Category.RESOURCE_INTENSIVE, {"X-RateLimit-Type": "QPS"}) == pytest.approx(60.0)


def test_a_daily_limit_429_stops_the_whole_group_for_every_process_until_the_date(redis_client):
    clock = FakeTime()
    g, other = governor(redis_client, clock), governor(redis_client, clock)
    reset = "2026-11-22T00:00:00Z"
    g.on_429(Category.HEAVY, {"X-RateLimit-Type": "Daily-limit", "Retry-After": reset})
    for cat in (Category.HEAVY, Category.RESOURCE_INTENSIVE):
        d = other.try_acquire(cat)
        assert d.reason == "daily" and clock() + d.wait_s == pytest.approx(datetime(2026, 11, 22, tzinfo=UTC).timestamp())
        with pytest.raises(DailyCapReached):  # the other process stops at once, it does not sleep till midnight
            other.acquire(cat)
    assert clock() == T0
    heavy = next(u for u in g.usage() if u.category is Category.HEAVY)
    assert heavy.daily_remaining == 0 and heavy.paused_until == datetime(2026, 11, 22, tzinfo=UTC)
    assert g.try_acquire(Category.LIGHT).granted
    # a category named by Zoom's header wins over the one we called
    g.on_429(Category.LIGHT, {"X-RateLimit-Category": "Medium", "X-RateLimit-Type": "QPS", "Retry-After": "2"})
    assert g.try_acquire(Category.MEDIUM).reason == "paused"


def test_a_daily_429_without_an_account_cap_is_one_users_limit_and_pauses_nothing(redis_client):
    clock = FakeTime()
    g = governor(redis_client, clock)  # Business: Light has no account-wide daily cap
    headers = {"X-RateLimit-Type": "Daily-limit", "Retry-After": "2026-11-22T00:00:00Z"}
    assert g.account_wide_daily(Category.LIGHT, headers) is False
    assert g.on_429(Category.LIGHT, headers) == 0.0
    assert g.try_acquire(Category.LIGHT, Priority.LIVE).granted
    free = governor(redis_client, clock, plan="free")  # on Free, Light has one
    assert free.account_wide_daily(Category.LIGHT, headers) is True


def test_retry_after_forms():
    now = 1_000.0
    assert parse_retry_after("5", now) == 1_005.0
    assert parse_retry_after("2026-11-22T00:00:00Z", now) == datetime(2026, 11, 22, tzinfo=UTC).timestamp()
    assert parse_retry_after("Sun, 22 Nov 2026 00:00:00 GMT", now) == datetime(2026, 11, 22, tzinfo=UTC).timestamp()
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None
    assert parse_retry_after("inf", now) is None and parse_retry_after("-3", now) is None


def test_unknown_plan_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown Zoom plan 'gold'"):
        plan_limits("gold")


def test_a_429_without_retry_after_pauses_until_x_ratelimit_reset(redis_client):
    """Zoom's rate-limit (QPS) 429 says when the window frees in X-RateLimit-Reset, epoch seconds, and has no
    Retry-After; a Resource-intensive window is a minute, so the 60 s default would wait far too long."""
    clock = FakeTime()
    g = governor(redis_client, clock)
    reset = {"X-RateLimit-Type": "QPS", "X-RateLimit-Reset": str(int(T0) + 7)}
    assert g.on_429(Category.RESOURCE_INTENSIVE, reset) == pytest.approx(int(T0) + 7 - T0)
    assert g.try_acquire(Category.RESOURCE_INTENSIVE).reason == "paused"
    assert g.on_429(Category.HEAVY, {**reset, "Retry-After": "3"}) == pytest.approx(3)  # Retry-After first
    # a daily limit without its Retry-After date ends at the reset Zoom gives, not at a guessed midnight
    daily = {"X-RateLimit-Type": "Daily-limit", "X-RateLimit-Reset": str(int(T0) + 5000)}
    assert g.on_429(Category.HEAVY, daily) == pytest.approx(int(T0) + 5000 - T0)
    assert parse_reset("soon", T0) is None and parse_reset(str(int(T0) - 5), T0) is None
    assert parse_reset(str(T0 + 30 * 86400), T0) is None and parse_reset(None, T0) is None
