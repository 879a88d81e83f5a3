"""Property tests (hypothesis) for the interval arithmetic attendance rests on, and for reconciliation's
presence: union and clipping agree with a point-by-point definition, whatever the rows look like."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import presence as iv
from orchestrator.reconciliation.attendance import MeetingWindow, reconcile
from orchestrator.zoom.models import ReportParticipant

# quarter seconds keep every boundary exact in floating point
point = st.integers(min_value=-400, max_value=4000).map(lambda q: q / 4)
interval = st.tuples(point, point).map(lambda ab: (min(ab), max(ab)))
intervals = st.lists(interval, max_size=12)


def covered(spans, x: float) -> bool:
    return any(a <= x < b for a, b in spans)


def probe_points(*sets) -> list[float]:
    """Midpoints of every elementary segment between boundaries (and beyond both ends)."""
    edges = sorted({e for s in sets for a, b in s for e in (a, b)})
    if not edges:
        return [0.0]
    return [edges[0] - 1] + [(a + b) / 2 for a, b in zip(edges, edges[1:])] + [edges[-1] + 1]


@given(intervals)
def test_union_is_normalised_and_covers_exactly_the_same_points(spans):
    u = iv.union(spans)
    assert u.shape[1] == 2
    assert np.all(u[:, 1] > u[:, 0])  # no empty pieces
    assert np.all(u[1:, 0] > u[:-1, 1])  # sorted, neither overlapping nor touching
    for x in probe_points(spans, u):
        assert covered(u, x) == covered(spans, x)
    assert iv.total(spans) == sum(b - a for a, b in u)
    assert iv.union(u).tolist() == u.tolist()  # idempotent


@given(intervals, intervals)
def test_union_is_order_free_and_associative(a, b):
    assert iv.union(a + b).tolist() == iv.union(b[::-1] + a[::-1]).tolist()
    assert iv.union(np.vstack([iv.union(a).reshape(-1, 2), iv.union(b).reshape(-1, 2)])).tolist() == iv.union(a + b).tolist()
    assert iv.total(a + b) <= iv.total(a) + iv.total(b)


@given(intervals, point, point)
def test_clip_keeps_exactly_the_points_inside_the_window(spans, lo, hi):
    c = iv.clip(spans, lo, hi)
    for x in probe_points(spans, [(lo, hi)] if hi > lo else []):
        assert covered(c, x) == (covered(spans, x) and lo <= x < hi)
    assert iv.total(c) <= max(0.0, hi - lo)
    assert iv.clip(c, lo, hi).tolist() == c.tolist()


@given(intervals, intervals)
def test_intersection_and_difference_split_a_set(a, b):
    inter, diff = iv.intersect(a, b), iv.subtract(a, b)
    assert iv.total(inter) + iv.total(diff) == iv.total(a)
    assert iv.total(iv.intersect(inter, diff)) == 0


START = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
row_span = st.tuples(st.integers(-600, 4200), st.integers(0, 3000))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), row_span, st.booleans()), min_size=1, max_size=10),
       st.integers(600, 3600), st.tuples(st.integers(0, 3600), st.integers(0, 3600)))
def test_reconciled_presence_is_the_clipped_union_of_each_persons_rows(rows, end_s, bot):
    built = []
    for who, (join, length), waiting in rows:
        built.append(ReportParticipant(id=f"zu-{who}", name=who.upper(), user_id=str(len(built)),
                                       join_time=START + timedelta(seconds=join),
                                       leave_time=START + timedelta(seconds=join + length),
                                       status="in_waiting_room" if waiting else "in_meeting"))
    bot_join, bot_leave = min(bot), max(bot)
    built.append(ReportParticipant(name="Rollcall", user_id="bot", customer_key="rollcall-x",
                                   join_time=START + timedelta(seconds=bot_join),
                                   leave_time=START + timedelta(seconds=bot_leave)))
    window = MeetingWindow(uuid="u", meeting_id="1", topic="", start=START, end=START + timedelta(seconds=end_s))
    rec = reconcile(window, list(reversed(built)), [])
    assert sorted(p["name"].lower() for p in rec["participants"]) == sorted({w for w, _, _ in rows})  # nobody lost
    for p in rec["participants"]:
        who = p["name"].lower()
        mine = [(j, j + n) for w, (j, n), wait in rows if w == who and not wait]
        waits = [(j, j + n) for w, (j, n), wait in rows if w == who and wait]
        expected = iv.clip(mine, 0, end_s)
        assert [(s["join_s"], s["leave_s"]) for s in p["presence"]] == [tuple(x) for x in expected.tolist()]
        assert p["present_s"] == iv.total(expected) <= end_s
        assert p["waiting_s"] == iv.total(iv.subtract(iv.clip(waits, 0, end_s), expected))
        seen = iv.total(iv.intersect(expected, iv.clip([(bot_join, bot_leave)], 0, end_s)))
        if p["present_s"] > 0:
            assert 0.0 <= p["coverage"] <= 1.0 and p["coverage"] == round(seen / p["present_s"], 4)
        else:
            assert p["coverage"] is None
