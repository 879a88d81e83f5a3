"""Acceptance on a generated meeting: eSpeak script -> scenario + exact truth -> replay -> report vs truth.

The script covers what a real training throws at the bot: a late joiner, a leave and rejoin, a camera
that stays off, chat and a raised hand, a headset that picks up everybody else at -18 dB, a steady
noise floor, and two people talking over each other.
"""
from __future__ import annotations

import json

import pytest
import yaml

from bot.simulator.replay import replay
from bot.generator.scenario_gen import generate

DUR = 40.0
FRAME_S = 0.01  # one 10 ms chunk: presence must be exact to the frame
TALK_TOL_S = 0.5

SCRIPT = {
    "meeting": {"id": "85000000040", "topic": "Generated acceptance", "start": "2026-11-20T15:00:00Z",
                "duration_s": DUR, "sample_rate": 32000, "frame_ms": 10},
    "participants": [
        {"key": "p1", "name": "Ana Host", "role": "host", "noise_db": -60,
         "voice": {"name": "en-us", "variant": "f4", "rate": 170, "pitch": 60}},
        {"key": "p2", "name": "Ben Late", "voice": "en-gb-x-rp+m3"},
        {"key": "p3", "name": "Cleo Rejoin", "voice": {"name": "en", "variant": "m7", "pitch": 30},
         "leak_from": "all", "leak_db": -18},
        {"key": "p4", "name": "Dev NoCam", "voice": {"name": "en-us", "variant": "m3", "rate": 165, "pitch": 40}},
    ],
    "timeline": [
        {"t": 0.0, "type": "join", "who": "p1"},
        {"t": 0.0, "type": "unmute", "who": "p1"},
        {"t": 0.0, "type": "video_on", "who": "p1"},
        {"t": 0.0, "type": "join", "who": "p3"},
        {"t": 0.2, "type": "unmute", "who": "p3"},
        {"t": 0.5, "type": "video_on", "who": "p3"},
        {"t": 0.3, "type": "join", "who": "p4"},
        {"t": 0.4, "type": "unmute", "who": "p4"},
        {"t": 0.8, "type": "say", "who": "p1", "text": "Good morning everyone, welcome to the training."},
        {"t": 5.0, "type": "say", "who": "p3", "text": "Thanks, glad to be here."},
        {"t": 6.0, "type": "join", "who": "p2"},  # late
        {"t": 6.3, "type": "unmute", "who": "p2"},
        {"t": 7.0, "type": "video_on", "who": "p2"},
        {"t": 7.5, "type": "say", "who": "p2", "text": "Sorry I am late, the link did not work."},
        {"t": 9.0, "type": "say", "who": "p1", "text": "No problem, we just started."},  # over p2's end
        {"t": 11.0, "type": "chat", "who": "p2", "text": "Will the slides be shared?", "to": "everyone"},
        {"t": 12.0, "type": "raise_hand", "who": "p2"},
        {"t": 12.5, "type": "say", "who": "p4", "text": "Can everyone hear me clearly?"},
        {"t": 14.0, "type": "lower_hand", "who": "p2"},
        {"t": 15.2, "type": "say", "who": "p3", "text": "Yes, loud and clear."},
        {"t": 18.0, "type": "leave", "who": "p3"},
        {"t": 20.0, "type": "say", "who": "p1", "text": "Let us look at the first topic, data protection."},
        {"t": 22.0, "type": "join", "who": "p3"},  # rejoin
        {"t": 22.3, "type": "unmute", "who": "p3"},
        {"t": 22.5, "type": "video_on", "who": "p3"},
        {"t": 25.0, "type": "say", "who": "p3", "text": "I am back, my connection dropped."},
        {"t": 28.5, "type": "say", "who": "p4", "text": "I have a question about retention."},
        {"t": 31.5, "type": "say", "who": "p1", "text": "Records are kept for seven years."},
        {"t": 35.0, "type": "say", "who": "p2", "text": "Thank you, that answers it."},
    ],
}
KEYS = [p["key"] for p in SCRIPT["participants"]]


def _script_presence() -> dict[str, list[list[float]]]:
    """Presence straight from the script's join/leave lines (open intervals close at the end)."""
    out: dict[str, list[list[float]]] = {k: [] for k in KEYS}
    for line in sorted(SCRIPT["timeline"], key=lambda e: e["t"]):
        if line["type"] == "join":
            out[line["who"]].append([line["t"], None])
        elif line["type"] == "leave":
            out[line["who"]][-1][1] = line["t"]
    for spans in out.values():
        for s in spans:
            s[1] = DUR if s[1] is None else s[1]
    return out


def _flat(spans) -> list[float]:
    return [x for span in spans for x in span]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("acceptance_generated")
    script = d / "script.yaml"
    script.write_text(yaml.safe_dump(SCRIPT, sort_keys=False, allow_unicode=True), encoding="utf-8")
    scenario = generate(script, d / "scenario")
    truth = json.loads((d / "scenario" / "truth.json").read_text(encoding="utf-8"))
    result = replay(scenario, d / "out", speed=None)
    report = json.loads(result.report_json.read_text(encoding="utf-8"))
    rows = {p["key"]: p for p in report["participants"]}
    return truth, report, rows, d / "out"


def test_script_exercises_what_it_claims(run):
    """Guard the premises, so a change of voice timing cannot silently weaken the test."""
    truth, _, _, _ = run
    P = truth["participants"]
    for k in KEYS:
        speech = P[k]["speech"]
        assert speech, f"{k} should speak"
        for (_, e0), (s1, _) in zip(speech, speech[1:]):
            assert s1 - e0 >= 1.5, f"{k}: say lines closer than 1.5 s ({e0:.2f} -> {s1:.2f})"
    assert any({o["a"], o["b"]} == {"p1", "p2"} for o in truth["overlaps"]), truth["overlaps"]
    assert P["p3"]["leak"] is not None and P["p1"]["noise_db"] == -60


def test_all_participants_reported_once(run):
    _, report, rows, _ = run
    assert sorted(p["key"] for p in report["participants"]) == sorted(KEYS)  # no duplicate for the rejoiner


@pytest.mark.parametrize("key", KEYS)
def test_talk_time_matches_truth(run, key):
    truth, _, rows, _ = run
    expected = truth["participants"][key]["talk_s"]
    got = rows[key]["talk_time_s"]
    assert got == pytest.approx(expected, abs=TALK_TOL_S), f"{key}: talk {got} s, truth {expected:.3f} s"


@pytest.mark.parametrize("key", KEYS)
def test_presence_is_exact_to_the_frame(run, key):
    truth, _, rows, _ = run
    expected = _script_presence()[key]
    assert _flat(truth["participants"][key]["presence"]) == pytest.approx(_flat(expected), abs=1e-6)
    got = [[p["join_s"], p["leave_s"]] for p in rows[key]["presence"]]
    assert len(got) == len(expected), f"{key}: {got} vs {expected}"
    assert _flat(got) == pytest.approx(_flat(expected), abs=FRAME_S)
    assert rows[key]["present_s"] == pytest.approx(sum(b - a for a, b in expected), abs=FRAME_S)


def test_rejoiner_is_one_participant_with_two_intervals(run):
    _, _, rows, out = run
    p3 = rows["p3"]
    assert p3["joins"] == 2
    assert _flat([[p["join_s"], p["leave_s"]] for p in p3["presence"]]) == pytest.approx([0.0, 18.0, 22.0, DUR], abs=FRAME_S)
    # Under the hood the two joins carried different SDK user ids but one persistent id.
    joins = [r for r in map(json.loads, (out / "events.jsonl").read_text(encoding="utf-8").splitlines())
             if r.get("kind") == "event" and r.get("type") == "join" and r.get("key") == "p3"]
    assert len(joins) == 2
    assert joins[0]["user_id"] != joins[1]["user_id"]
    assert joins[0]["persistent_id"] == joins[1]["persistent_id"] == p3["persistent_id"]


@pytest.mark.parametrize("key", KEYS)
def test_camera_chat_hands_match_truth(run, key):
    truth, _, rows, _ = run
    t, r = truth["participants"][key], rows[key]
    assert r["camera_on_s"] == pytest.approx(t["camera_on_s"], abs=FRAME_S)
    assert r["chat_messages"] == t["chat_messages"]
    assert r["hand_raises"] == t["hand_raises"]
    assert r["reactions"] == t["reactions"]


def test_scripted_specials_are_visible(run):
    """The specific people the script singles out show up as such (not just 'equal to truth')."""
    _, _, rows, _ = run
    assert rows["p4"]["camera_on_s"] == 0
    assert (rows["p2"]["chat_messages"], rows["p2"]["hand_raises"]) == (1, 1)
    assert rows["p2"]["first_join_s"] == pytest.approx(6.0, abs=FRAME_S)


def test_overlaps_match_truth_and_leakage_is_not_overlap(run):
    """Crosstalk leakage on p3's headset must not turn into p3 'talking over' others."""
    truth, report, _, _ = run
    want: dict[frozenset, float] = {}
    for o in truth["overlaps"]:
        pair = frozenset((o["a"], o["b"]))
        want[pair] = want.get(pair, 0.0) + o["end"] - o["start"]
    got = {frozenset((a, b)): s for a, m in report["meeting_metrics"]["pair_overlap_s"].items() for b, s in m.items()}
    for pair in set(want) | set(got):
        assert got.get(pair, 0.0) == pytest.approx(want.get(pair, 0.0), abs=TALK_TOL_S), sorted(pair)
    assert got.get(frozenset(("p1", "p2")), 0.0) > 0
