"""Acceptance on real speech: one minute of AMI ES2004a through the real `rollcall` console script.

Talk time per participant is compared with the human reference (reference.rttm): the union of each
speaker's turns, computed here from the file.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.simulator.replay import replay

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REL_TOL = {"FEE013": 0.10, "FEE016": 0.10, "MEO015": 0.10}  # relative, for the main speakers
ABS_TOL_S = {"MEE014": 2.0}  # about one second of speech in total: relative error means nothing there
MAX_SNAPSHOT_GAP_S = 2.0


def _rollcall() -> str:
    exe = shutil.which("rollcall") or str(Path(sys.executable).parent / "rollcall")
    if not Path(exe).exists():
        pytest.fail("the `rollcall` console script is not installed in this environment")
    return exe


def _rttm_turns(path: Path) -> dict[str, list[tuple[float, float]]]:
    turns: dict[str, list[tuple[float, float]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split()
        if not f or f[0] != "SPEAKER":
            continue
        start, dur, who = float(f[3]), float(f[4]), f[7]
        turns.setdefault(who, []).append((start, start + dur))
    return turns


def _union_s(spans: list[tuple[float, float]]) -> float:
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(spans):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    return total + (cur_e - cur_s if cur_e is not None else 0.0)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_union_helper():
    assert _union_s([]) == 0
    assert _union_s([(0, 2), (1, 3), (5, 6), (5.5, 5.7)]) == pytest.approx(4.0)


@pytest.fixture(scope="module")
def ami_run(ami_dir, tmp_path_factory):
    assert ami_dir.resolve() == (SHARED_DATA / "meetings" / "ami-es2004a-750s").resolve()
    out = tmp_path_factory.mktemp("ami") / "out"
    proc = subprocess.run([_rollcall(), "replay", str(ami_dir / "scenario.yaml"), "--out", str(out),
                           "--speed", "max"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"rollcall replay failed ({proc.returncode}):\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    scenario = yaml.safe_load((ami_dir / "scenario.yaml").read_text(encoding="utf-8"))
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return out, scenario, report


def test_output_files_exist(ami_run):
    out, _, report = ami_run
    for name in ("report.json", "report.html", "events.jsonl", "live.jsonl"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    html = (out / "report.html").read_text(encoding="utf-8")
    for p in report["participants"]:
        assert p["name"] in html
    for key in ("meeting", "participants", "transcript", "meeting_metrics"):
        assert key in report


@pytest.mark.parametrize("key", sorted(REL_TOL) + sorted(ABS_TOL_S))
def test_talk_time_against_reference(ami_run, ami_dir, key):
    _, _, report = ami_run
    reference = _union_s(_rttm_turns(ami_dir / "reference.rttm")[key])
    assert reference > 0
    got = {p["key"]: p["talk_time_s"] for p in report["participants"]}[key]
    tol = REL_TOL[key] * reference if key in REL_TOL else ABS_TOL_S[key]
    assert got == pytest.approx(reference, abs=tol), f"{key}: measured {got} s, reference {reference:.2f} s"


def test_everyone_present_for_the_whole_meeting(ami_run):
    _, scenario, report = ami_run
    dur = scenario["meeting"]["duration_s"]
    assert report["meeting"]["duration_s"] == dur
    assert {p["key"] for p in report["participants"]} == {p["key"] for p in scenario["participants"]}
    for p in report["participants"]:
        assert [(s["join_s"], s["leave_s"]) for s in p["presence"]] == [(0.0, dur)], p["key"]


def test_live_snapshots_cover_the_meeting(ami_run):
    out, scenario, report = ami_run
    dur = scenario["meeting"]["duration_s"]
    snaps = _jsonl(out / "live.jsonl")
    ts = [s["t"] for s in snaps]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)
    assert 0 <= ts[0] <= MAX_SNAPSHOT_GAP_S
    assert ts[-1] == dur  # the final snapshot, at the meeting end, carries the final totals
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    assert max(gaps) <= MAX_SNAPSHOT_GAP_S + 1e-9, max(gaps)
    keys = {p["key"] for p in scenario["participants"]}
    final = {p["key"]: p["talk_time_s"] for p in snaps[-1]["participants"]}
    report_talk = {p["key"]: p["talk_time_s"] for p in report["participants"]}
    assert final == pytest.approx(report_talk, abs=0.01)
    for earlier, later in zip(snaps, snaps[1:]):  # live talk time never goes down
        before = {p["key"]: p["talk_time_s"] for p in earlier["participants"]}
        for p in later["participants"]:
            assert p["talk_time_s"] >= before[p["key"]] - 1e-6, (later["t"], p["key"])
    for s in snaps:
        assert {p["key"] for p in s["participants"]} == keys
        # everyone is in the meeting until it ends; at the end (half-open presence) nobody is
        assert all(p["present"] is (s["t"] < dur) for p in s["participants"])
        assert s["totals"]["total_talk_s"] == pytest.approx(sum(p["talk_time_s"] for p in s["participants"]), abs=0.01)


def _state_at(events: list[dict], key: str, t: float, on: str, off: str) -> bool:
    state = False
    for ev in events:
        if ev["t"] <= t and ev.get("who") == key and ev["type"] in (on, off):
            state = ev["type"] == on
    return state


def test_live_snapshots_follow_the_scenario(ami_run):
    """What the host sees at media time t is the scenario's state at t (camera, hand, chat count)."""
    out, scenario, _ = ami_run
    events = sorted(scenario["events"], key=lambda e: e["t"])
    n_chat = 0
    dur = scenario["meeting"]["duration_s"]
    for snap in _jsonl(out / "live.jsonl"):
        t = snap["t"]
        for p in snap["participants"]:
            if t >= dur:  # the meeting has ended: nobody is left to have a camera or a hand up
                assert not p["camera_on"] and not p["hand_up"]
                continue
            assert p["camera_on"] == _state_at(events, p["key"], t, "video_on", "video_off"), (t, p["key"])
            assert p["hand_up"] == _state_at(events, p["key"], t, "raise_hand", "lower_hand"), (t, p["key"])
        expected_chat = sum(1 for e in events if e["type"] == "chat" and e["t"] <= t)
        assert snap["totals"]["chat_messages"] == expected_chat
        n_chat = max(n_chat, expected_chat)
    assert n_chat > 0  # the scenario's chat happened during the snapshots, so the check above bit


def test_events_log_holds_joins_and_speech_turns(ami_run):
    out, scenario, report = ami_run
    records = _jsonl(out / "events.jsonl")
    keys = [p["key"] for p in scenario["participants"]]
    joins = [r for r in records if r.get("kind") == "event" and r.get("type") == "join"]
    assert sorted(r["key"] for r in joins) == sorted(keys)
    assert len({r["user_id"] for r in joins}) == len(keys)
    assert all(r["t"] == 0.0 for r in joins)
    types = {(r.get("type"), r.get("key")) for r in records if r.get("kind") == "event"}
    for ev in scenario["events"]:
        assert (ev["type"], ev.get("who")) in types, ev
    chat = [r for r in records if r.get("type") == "chat"]
    assert [c["text"] for c in chat] == [e["text"] for e in scenario["events"] if e["type"] == "chat"]

    speech = [r for r in records if r.get("kind") == "speech"]
    rows = {p["key"]: p for p in report["participants"]}
    for key in keys:
        turns = [(r["start_s"], r["end_s"]) for r in speech if r["key"] == key]
        assert len(turns) == rows[key]["turns"], key
        assert all(0 <= s < e <= scenario["meeting"]["duration_s"] for s, e in turns)
        # the logged turns are the report's talk time
        assert _union_s(turns) == pytest.approx(rows[key]["talk_time_s"], abs=0.02), key


def test_talk_time_holds_when_silent_chunks_are_not_sent(ami_dir, tmp_path):
    """Zoom sends no audio for a silent participant. With chunks under -50 dBFS suppressed (about half
    of all audio here), the same criterion holds."""
    result = replay(ami_dir / "scenario.yaml", tmp_path / "out", silence_suppression_dbfs=-50.0)
    ref = {k: _union_s(v) for k, v in _rttm_turns(ami_dir / "reference.rttm").items()}
    got = {p.key: p.talk_time_s for p in result.report.participants}
    delivered = sum(s["pushed_samples"] for s in result.ingest.values()) / (4 * 60 * 32000)
    assert delivered < 0.6  # the suppression really removed a lot
    for k in ("FEE013", "FEE016", "MEO015"):
        assert abs(got[k] - ref[k]) <= 0.10 * ref[k], (k, got[k], ref[k])
    assert abs(got["MEE014"] - ref["MEE014"]) <= 2.0
