"""Acceptance 1 of the Zoom cloud issue: 2,000 past meetings of 10 people reconciled by two processes
sharing one budget, against the emulator at Business limits, with no 429 and no call beyond the minimum;
and a daily cap below what is needed: a clean stop, what is left, and a resume that redoes nothing."""
from __future__ import annotations

from orchestrator.bench.reconcile import run_at_scale, run_cap_and_resume


def test_two_thousand_meetings_by_two_processes_within_the_limits(redis_server, redis_client):
    result = run_at_scale(redis_server.url, meetings=2000, participants=10, processes=2)
    assert result.records == 2000
    assert sum(result.done_per_process) == 2000 and min(result.done_per_process) > 0  # both did work
    assert result.rate_limited == 0
    assert result.calls <= 1.05 * result.minimum and result.minimum == 4000
    # the two together kept to Rollcall's share of the rate (32/s), never near the account's limit; a busy
    # machine may bunch a couple of calls into one second, never more
    assert result.mean_heavy_per_s <= 0.8 * 40 * 1.02
    assert result.peak_heavy_per_s <= 0.8 * 40 * 1.15 < 40


def test_a_daily_cap_stops_cleanly_and_the_next_day_resumes_without_redoing(redis_server, redis_client):
    result = run_cap_and_resume(redis_server.url, meetings=300, participants=10, cap=300)
    first, second = result.first, result.second
    assert first.stopped_by == "daily cap" and first.resets_at is not None
    assert first.done == 240 - 5 and first.left == 300 - first.done  # 80 % of the cap, less the live reserve
    assert second.stopped_by is None and second.done == first.left and second.left == 0
    assert result.report_pages == 300  # every meeting's report fetched exactly once over both days
    assert result.rate_limited == 0
    assert result.calls <= 1.05 * result.minimum
