"""Meeting effectiveness for the host: Gini of talk, the host's share, monologues, who never spoke,
questions and how quickly they were answered, quiet stretches."""
from __future__ import annotations

import pytest

from analysis.effectiveness import compute_effectiveness


def test_every_measure_on_a_small_meeting():
    segments = {"host": [(0.0, 70.0), (200.0, 230.0)], "ana": [(75.0, 90.0), (240.0, 250.0)], "bo": []}
    talk = {"host": 100.0, "ana": 25.0, "bo": 0.0}
    transcript = [("ana", 75.0, 80.0, "Is this recorded?"), ("host", 220.0, 230.0, "Any questions?"),
                  ("ana", 245.0, 250.0, "Why?")]
    e = compute_effectiveness(segments, talk, ["host", "ana", "bo"], ["host"], transcript, activity=[100.0],
                              window=(0.0, 400.0))
    assert e.host_talk_share == 0.8
    assert e.talk_gini == pytest.approx(((2 * (1 * 0 + 2 * 25 + 3 * 100)) / (3 * 125) - 4 / 3) * 3 / 2, abs=1e-4)
    assert [(m.participant, m.start_s) for m in e.monologues] == [("host", 0.0)]  # 70 s; 30 s is not one
    assert e.never_spoke == ["bo"]
    assert [(q.participant, q.answered_by, q.answer_after_s) for q in e.questions] == [
        ("ana", None, None),  # the host went on talking at 200 s, 120 s later: not an answer
        ("host", "ana", 10.0), ("ana", None, None)]
    assert e.median_answer_s == 10.0
    # nothing from 101 to 200 and from 250 to 400: two quiet stretches of a minute or more
    assert [(q.start_s, q.end_s) for q in e.quiet_stretches] == [(101.0, 200.0), (250.0, 400.0)]


def test_nobody_talking_gives_no_balance_and_no_share():
    e = compute_effectiveness({"a": [], "b": []}, {"a": 0.0, "b": 0.0}, ["a", "b"], [], [], [], (0.0, 30.0))
    assert e.talk_gini is None and e.host_talk_share is None and e.never_spoke == ["a", "b"] and e.quiet_stretches == []
