"""Metrics, meeting state, interval arithmetic and the live snapshot: hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from analysis import presence as iv
from analysis.events import MeetingEvent as E
from analysis.events import SpeechSegment as S
from analysis.live import LiveTracker, build_snapshot
from analysis.meeting_state import MeetingState
from analysis.talk_metrics import compute_talk_metrics, find_interruptions, gini, seg_array, talk_balance


def segs(**by_key):
    return {k: [S(k, a, b) for a, b in v] for k, v in by_key.items()}


# ------------------------------------------------------------------ intervals
def test_interval_union_intersect_subtract():
    u = iv.union([(5, 7), (0, 2), (1, 3), (3, 4)])
    assert iv.to_pairs(u) == [(0, 4), (5, 7)]
    assert iv.total([(0, 2), (1, 3)]) == 3.0
    assert iv.to_pairs(iv.intersect([(0, 10)], [(2, 3), (8, 12)])) == [(2, 3), (8, 10)]
    assert iv.to_pairs(iv.subtract([(0, 10)], [(2, 3), (8, 12)])) == [(0, 2), (3, 8)]
    assert iv.to_pairs(iv.clip([(0, 10), (20, 30)], 5, 25)) == [(5, 10), (20, 25)]
    assert iv.contains(u, 4.0) is False and iv.contains(u, 3.99) is True


def test_depth_matches_brute_force_on_random_sets():
    rng = np.random.default_rng(7)
    grid = np.arange(0, 105, 0.01) + 0.005
    for _ in range(5):
        sets = []
        for _p in range(4):
            st = np.sort(rng.choice(np.arange(0, 100, 0.5), 12, replace=False))
            sets.append([(a, a + rng.choice([0.5, 1.0, 2.5])) for a in st])
        depth = sum(((grid[:, None] >= np.array(s)[:, 0]) & (grid[:, None] < np.array(s)[:, 1])).any(1) for s in sets)
        want = (depth >= 2).sum() * 0.01
        got = iv.total(iv.depth_at_least(sets, 2))
        assert got == pytest.approx(want, abs=0.02)


# ------------------------------------------------------------------ talk metrics
def test_overlap_seconds_exact_and_pairwise():
    m = compute_talk_metrics(segs(a=[(0, 10)], b=[(5, 12)], c=[(8, 9)]), window=(0, 20))
    assert m.overlap_s == pytest.approx(5.0)  # 5..10 has two or more talkers
    assert m.pair_overlap["a"]["b"] == pytest.approx(5.0)
    assert m.pair_overlap["a"]["c"] == pytest.approx(1.0)
    assert m.pair_overlap["b"]["c"] == pytest.approx(1.0)
    assert m.participants["c"].overlap_s == pytest.approx(1.0)
    assert m.participants["a"].overlap_s == pytest.approx(5.0)
    assert iv.to_pairs(m.overlap_intervals) == [(5.0, 10.0)]


def test_interruption_vs_backchannel_vs_handover():
    # b cuts in 4 s into a's turn and both talk for 4 s: an interruption
    m = compute_talk_metrics(segs(a=[(0, 10)], b=[(4, 8)]), window=(0, 10))
    assert [(x.by, x.of, x.t) for x in m.interruptions] == [("b", "a", 4.0)]
    assert m.interruptions[0].yielded is False  # a kept talking after b stopped
    assert m.participants["b"].interruptions_made == 1
    assert m.participants["a"].interrupted_by_others == 1
    assert m.interruption_matrix["b"] == {"a": 1}

    # "mm-hmm" (0.6 s) inside a's turn: a backchannel, not an interruption
    m = compute_talk_metrics(segs(a=[(0, 10)], b=[(4, 4.6)]), window=(0, 10))
    assert m.interruptions == []
    assert m.participants["b"].backchannels == 1

    # handover with a gap, and a terminal overlap of 0.2 s: neither is an interruption
    assert find_interruptions({"a": seg_array([S("a", 0, 10)]), "b": seg_array([S("b", 10.5, 15)])}) == []
    assert find_interruptions({"a": seg_array([S("a", 0, 10)]), "b": seg_array([S("b", 9.8, 15)])}) == []
    # a only just started (0.3 s) when b started: a collision, not an interruption
    assert find_interruptions({"a": seg_array([S("a", 0, 10)]), "b": seg_array([S("b", 0.3, 5)])}) == []

    # b takes the floor: a stops 0.7 s after b starts
    m = compute_talk_metrics(segs(a=[(0, 10)], b=[(9.3, 15)]), window=(0, 15))
    assert len(m.interruptions) == 1 and m.interruptions[0].yielded is True
    assert m.interruptions[0].overlap_s == pytest.approx(0.7)


def test_longest_monologue_turns_and_share():
    m = compute_talk_metrics(segs(a=[(0, 3), (10, 22.5), (30, 31)], b=[(3, 10)]), window=(0, 40))
    a = m.participants["a"]
    assert a.longest_monologue_s == pytest.approx(12.5)
    assert a.turns == 3 and a.talk_time_s == pytest.approx(16.5)
    assert a.speaking_pct == pytest.approx(100 * 16.5 / 23.5)
    assert a.speaking_pct + m.participants["b"].speaking_pct == pytest.approx(100.0)


def test_silence_counts_the_window_only():
    m = compute_talk_metrics(segs(a=[(2, 5)], b=[(4, 8)]), window=(1, 20))
    assert m.speech_s == pytest.approx(6.0)
    assert m.silence_s == pytest.approx(19 - 6)
    # segments outside the window are clipped
    m = compute_talk_metrics(segs(a=[(0, 5)]), window=(3, 10))
    assert m.participants["a"].talk_time_s == pytest.approx(2.0)
    assert m.silence_s == pytest.approx(5.0)


def test_gini_and_balance():
    assert gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert talk_balance([5, 5, 5, 5]) == pytest.approx(1.0)
    assert gini([0, 0, 0, 9]) == pytest.approx(0.75)  # (n-1)/n
    assert talk_balance([0, 0, 0, 9]) == pytest.approx(0.0)
    assert talk_balance([0, 9]) == pytest.approx(0.0)
    assert talk_balance([1, 3]) == pytest.approx(0.5)  # G = 0.25, normalised 0.5
    assert talk_balance([7]) is None
    assert talk_balance([0, 0]) is None
    # silent present participants count in the balance
    m = compute_talk_metrics(segs(a=[(0, 10)], b=[(10, 20)]), window=(0, 20), balance_keys=["a", "b", "c"])
    assert m.talk_balance == pytest.approx(1 - (1 / 3) * 3 / 2)


def test_speaker_switches_skip_backchannels():
    m = compute_talk_metrics(segs(a=[(0, 5), (9, 12)], b=[(5.5, 8), (10, 10.4)]), window=(0, 60))
    assert m.speaker_switches == 2  # a → b → a; b's 0.4 s "yeah" does not count
    assert m.speaker_switches_per_min == pytest.approx(2.0)
    assert m.median_switch_gap_s == pytest.approx(0.75)  # gaps 0.5 and 1.0


def test_many_segments_vectorised():
    rng = np.random.default_rng(0)
    by = {}
    for k in range(20):
        st = np.cumsum(rng.uniform(1, 8, 300))
        by[f"p{k}"] = [S(f"p{k}", a, a + d) for a, d in zip(st, rng.uniform(0.2, 0.9, 300))]
    m = compute_talk_metrics(by, window=(0, 2500))
    assert sum(p.turns for p in m.participants.values()) == 6000
    assert m.speech_s + m.silence_s == pytest.approx(2500)
    assert m.overlap_s <= m.speech_s


# ------------------------------------------------------------------ meeting state
def test_rejoin_with_new_user_id_is_one_participant_with_two_intervals():
    st = MeetingState()
    st.apply_all([
        E(0, "join", "p3", 11, name="Ann"), E(40, "leave", None, 11),
        E(45, "join", "p3", 12, name="Ann"), E(50, "video_on", None, 12), E(60, "end"),
    ])
    assert list(st.participants) == ["p3"]
    assert iv.to_pairs(st.presence_intervals("p3")) == [(0, 40), (45, 60)]
    assert st.present_s("p3") == 55
    assert st.key_for_user(11) == st.key_for_user(12) == "p3"
    assert st.present("p3", 42) is False and st.present("p3", 46) is True
    assert st.camera_on("p3", 55) is True and st.camera_on("p3", 60) is False


def test_join_while_joined_is_ignored():
    st = MeetingState()
    assert st.apply(E(0, "join", "a", 1, name="A"))
    assert not st.apply(E(5, "join", "a", 1, name="A"))
    st.apply(E(10, "end"))
    assert iv.to_pairs(st.presence_intervals("a")) == [(0, 10)]
    assert st.redundant == 1


def test_rename_keeps_key_and_history():
    st = MeetingState()
    st.apply_all([E(0, "join", "p2", 2, name="Sam"), E(50, "rename", None, 2, name="Sam (IT)")])
    p = st.participants["p2"]
    assert p.name == "Sam (IT)"
    assert p.name_history == [(0, "Sam"), (50, "Sam (IT)")]
    assert list(st.participants) == ["p2"]


def test_camera_and_hand_close_on_leave():
    st = MeetingState()
    st.apply_all([E(0, "join", "a", 1, name="A"), E(3, "video_on", "a"), E(4, "raise_hand", "a"),
                  E(4.5, "unmute", "a"), E(10, "leave", "a"), E(12, "join", "a", 2), E(20, "end")])
    assert iv.to_pairs(st.camera_intervals("a")) == [(3, 10)]
    assert st.camera_on("a", 15) is False  # rejoined without camera
    assert st.hand_up("a", 8) is True and st.hand_up("a", 15) is False
    assert st.unmuted("a", 15) is False
    assert st.participants["a"].hand_raises == 1


def test_unknown_participant_event_is_ignored_not_raised():
    st = MeetingState()
    st.apply(E(0, "join", "a", 1, name="A"))
    assert st.apply(E(1, "video_on", None, 999)) is False
    assert st.apply(E(2, "chat", "nobody", text="hi")) is False
    assert st.apply(E(3, "leave", None, None)) is False
    assert st.apply(E(3.5, "join", None, 4242)) is False  # a join without key and unknown user id
    assert st.ignored == 4
    assert list(st.participants) == ["a"]
    st.apply(E(4, "end"))
    assert st.apply(E(5, "chat", "a", text="late")) is False and st.ignored == 5


def test_chat_text_only_for_consented_senders_and_totals():
    st = MeetingState()
    st.apply_all([E(0, "join", "a", 1, name="A"), E(0, "join", "b", 2, name="B", consent=False),
                  E(5, "chat", "a", text="hello", to="b"), E(6, "chat", "b", text="secret"),
                  E(7, "reaction", "a", emoji="👍"), E(8, "raise_hand", "b")])
    assert [(m.sender, m.to, m.text) for m in st.chat] == [("a", "b", "hello"), ("b", "everyone", None)]
    assert st.participants["b"].chat_messages == 1
    tot = st.totals(6.5)
    assert tot["chat_messages"] == 2 and tot["reactions"] == 0 and tot["present"] == 2
    assert st.totals(9)["hands_up"] == 1 and st.totals(9)["reactions"] == 1


def test_host_change_demotes_previous_host():
    st = MeetingState()
    st.apply_all([E(0, "join", "a", 1, name="A", role="host"), E(0, "join", "b", 2, name="B"),
                  E(5, "host_change", "b")])
    assert st.participants["b"].role == "host" and st.participants["a"].role == "attendee"


# ------------------------------------------------------------------ live
def _live_state():
    st = MeetingState()
    st.apply_all([E(0, "join", "a", 1, name="A"), E(0, "join", "b", 2, name="B"),
                  E(1, "join", "c", 3, name="C", consent=False), E(2, "video_on", "a"), E(3, "raise_hand", "c")])
    return st


def test_live_snapshot_counts_open_turn_and_hides_opted_out():
    st = _live_state()
    final = [S("a", 1, 5), S("b", 4, 6), S("c", 2, 3)]
    snap = build_snapshot(10.0, st, final, {"a": True, "c": True}, {"a": (8.0, 10.0)})
    rows = {r.key: r for r in snap.participants}
    assert rows["a"].talk_time_s == pytest.approx(4 + 2)  # final 4 s + open turn 8..10
    assert rows["a"].talking_now and rows["a"].turns == 2 and rows["a"].camera_on
    assert rows["b"].talk_time_s == pytest.approx(2) and rows["b"].share_pct == pytest.approx(25.0)
    c = rows["c"]
    assert c.present and c.talk_time_s is None and c.talking_now is False and c.hand_up is None
    assert snap.totals.overlap_s == pytest.approx(1.0)  # a and b, 4..5; c is never analysed
    assert snap.totals.silence_s == pytest.approx(10 - 5)
    assert snap.totals.hands_up == 0
    snap.model_dump_json()


def test_live_tracker_incremental_equals_one_shot():
    st = _live_state()
    tr = LiveTracker()
    tr.add_segments([S("a", 1, 5)])
    tr.snapshot(6, st)
    tr.add_segments([S("b", 4, 6)])
    inc = tr.snapshot(9, st, {}, lambda k: (8.5, 9.0) if k == "b" else None)
    one = build_snapshot(9, st, {"a": [S("a", 1, 5)], "b": [S("b", 4, 6)]}, {}, {"b": (8.5, 9.0)})
    assert inc == one
    # an open turn that started before the last final segment ended is not double counted
    s = build_snapshot(7, st, [S("b", 4, 6)], {"b": True}, {"b": (4.0, 7.0)})
    assert {r.key: r.talk_time_s for r in s.participants}["b"] == pytest.approx(3.0)
    # only what the detector has decided counts, never time beyond the open turn's end
    s = build_snapshot(9, st, [S("b", 4, 6)], {"b": True}, {"b": (6.5, 7.5)})
    assert {r.key: r.talk_time_s for r in s.participants}["b"] == pytest.approx(3.0)
