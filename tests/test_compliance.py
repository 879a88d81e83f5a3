"""Compliance rules on media time, with a 10-minute training and six attendees: each reaches at_risk and
failed at the right second, the drop within a short absence recovers, and the final verdicts and
exceptions say exactly which rule failed by how much."""
from __future__ import annotations

import pytest

from analysis.compliance import ComplianceTracker, Facts, exceptions
from analysis.policy import PolicyError, TrainingPolicy, parse_policy

D = 600.0
POLICY = parse_policy("""
name: strict training
min_presence_share: 0.8
max_late_join_s: 300
max_early_leave_s: 120
min_camera_share: 0.5
roll_call: {every_s: 240, first_at_s: 120, response_window_s: 60, max_missed: 1}
grace: {drop_s: 10}
""", "strict.yaml")

PEOPLE = {  # key: (presence, camera, answers roll calls at these times)
    "ok": ([(0, 600)], [(5, 600)], [130, 370]),
    "late": ([(360, 600)], [(360, 600)], [365]),
    "early": ([(0, 420)], [(0, 420)], [130, 370]),
    "mute_rc": ([(0, 600)], [(0, 600)], []),
    "no_cam": ([(0, 600)], [], [130, 370]),
    "drop": ([(0, 200), (220, 600)], [(0, 200), (220, 600)], [130, 370]),
}


def facts_at(t: float) -> list[Facts]:
    out = []
    for key, (pres, cam, _) in PEOPLE.items():
        clip = lambda spans: [(a, min(b, t)) for a, b in spans if a < t]  # noqa: E731
        out.append(Facts(key=key, name=key.title(), role="attendee", presence=clip(pres), camera=clip(cam),
                         talk_s=0.0, turns=0))
    out.append(Facts(key="host", name="Host", role="host", presence=[(0, t)], camera=[], talk_s=0.0, turns=0))
    return out


def run_meeting(tracker: ComplianceTracker):
    transitions = []
    for step in range(1, int(D) + 1):
        t = float(step)
        for _ in tracker.prompts_due(t):
            pass
        for key, (_, _, answers) in PEOPLE.items():
            for a in answers:
                if a == t:
                    tracker.record_chat(key, t, "Here!", "everyone" if key != "late" else "bot")
        _, changes = tracker.update(t, facts_at(t))
        transitions += changes
    return transitions


def test_each_attendee_is_at_risk_and_failed_at_the_right_moment():
    tracker = ComplianceTracker(POLICY, D, "85000000001")
    assert tracker.prompts == [120.0, 360.0]
    moves = [(c.key, c.t, c.before, c.after) for c in run_meeting(tracker)]
    assert moves == [
        ("late", 11.0, "on_track", "at_risk"),  # not here yet, beyond the 10 s grace
        ("no_cam", 60.0, "on_track", "at_risk"),  # a minute present, camera never on
        ("late", 121.0, "at_risk", "failed"),  # from here, 80 % of 10 minutes cannot be reached
        ("mute_rc", 180.0, "on_track", "at_risk"),  # the first roll call's minute is over
        ("drop", 211.0, "on_track", "at_risk"),  # gone for more than the grace …
        ("drop", 221.0, "at_risk", "on_track"),  # … and back (present a second later)
        ("no_cam", 301.0, "at_risk", "failed"),  # camera on from now could no longer make half
        ("mute_rc", 420.0, "at_risk", "failed"),  # a second roll call missed
        ("early", 431.0, "on_track", "at_risk"),  # left at 7:00
        ("early", 541.0, "at_risk", "failed"),  # 80 % can no longer be reached
    ]
    assert "host" not in tracker.statuses  # the policy is for attendees


def test_final_verdicts_and_exceptions_say_which_rule_and_by_how_much():
    tracker = ComplianceTracker(POLICY, D, "85000000001")
    run_meeting(tracker)
    final = tracker.final(facts_at(D))
    assert {k: v.status for k, v in final.items()} == {
        "ok": "passed", "late": "failed", "early": "failed", "mute_rc": "failed", "no_cam": "failed", "drop": "passed"}
    rows = {(r["key"], r["rule"]): (r["by"], r["unit"]) for r in exceptions(final, {})}
    assert rows == {
        ("late", "presence"): (240.0, "s"), ("late", "late_join"): (60.0, "s"),
        ("early", "presence"): (60.0, "s"), ("early", "early_leave"): (60.0, "s"),
        ("mute_rc", "roll_call"): (2.0, "prompts"),
        ("no_cam", "camera"): (0.5, "share"),
    }


def test_answers_are_case_and_punctuation_tolerant_and_only_count_in_their_window():
    tracker = ComplianceTracker(POLICY, D, "m")
    tracker.prompts_due(121)
    assert tracker.record_chat("a", 125, "  HERE!!! ", "bot") == 0
    assert tracker.record_chat("b", 125, "I'm present.", "everyone") == 0
    assert tracker.record_chat("c", 125, "here", "host") is None  # a private message to the host is not for us
    assert tracker.record_chat("d", 125, "what was the question?", "everyone") is None
    assert tracker.record_chat("e", 200, "here", "everyone") is None  # after the window
    assert tracker.record_chat("f", 100, "here", "everyone") is None  # before the prompt


def test_random_prompts_are_the_same_for_the_same_meeting():
    policy = parse_policy("roll_call: {windows: [{start_s: 60, end_s: 200}, {start_s: 300, end_s: 500}]}")
    a = policy.roll_call.prompt_times(600, "85000000001")
    assert a == policy.roll_call.prompt_times(600, "85000000001")
    assert a != policy.roll_call.prompt_times(600, "85000000002")
    assert 60 <= a[0] <= 200 and 300 <= a[1] <= 500


@pytest.mark.parametrize("text, where", [
    ("min_presence_share: 1.5", "min_presence_share"),
    ("roll_call: {every_s: 0}", "roll_call.every_s"),
    ("roll_call: {windows: [{start_s: 50, end_s: 10}]}", "roll_call.windows.0"),
    ("roll_call: {every_s: 60, windows: [{start_s: 1, end_s: 10}]}", "roll_call"),
    ("presence: 0.8", "presence"),
    ("- a list", ""),
])
def test_bad_policies_are_clear_errors(text, where):
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "bad.yaml")
    assert err.value.field == where and str(err.value).startswith("bad.yaml")


def test_the_default_policy_applies_with_no_file():
    assert TrainingPolicy().min_presence_share == 0.8 and TrainingPolicy().roll_call is not None
