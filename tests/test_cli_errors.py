"""User errors on `rollcall replay`: exit code 2, one clear message naming file, field and problem, no traceback.

Every case runs the real console script in a subprocess. The scenarios live in a directory whose path is
longer than the (pinned, 80-column) terminal, so a message that wraps or mangles the path fails here.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

EXIT_USAGE = 2

VALID = {
    "meeting": {"id": "85000000003", "topic": "CLI errors", "start": "2026-11-20T15:00:00Z",
                "duration_s": 2, "sample_rate": 32000, "frame_ms": 10},
    "participants": [
        {"key": "p1", "name": "Dana Host", "role": "host", "audio": "channels/p1.wav"},
        {"key": "p2", "name": "Sam", "audio": "channels/p2.wav"},
    ],
    "events": [
        {"t": 0.0, "type": "join", "who": "p1"},
        {"t": 0.0, "type": "unmute", "who": "p1"},
        {"t": 0.5, "type": "join", "who": "p2"},
        {"t": 1.0, "type": "chat", "who": "p2", "text": "hi", "to": "everyone"},
        {"t": 2.0, "type": "end"},
    ],
}


@dataclass
class Case:
    args: list[str]  # after `rollcall replay`
    expect: list[str]  # substrings the error message must contain
    path: Path | None = None  # the file the message must name, verbatim
    out: Path | None = None
    result: subprocess.CompletedProcess | None = field(default=None, repr=False)


def _rollcall() -> str:
    exe = shutil.which("rollcall") or str(Path(sys.executable).parent / "rollcall")
    if not Path(exe).exists():
        pytest.fail("the `rollcall` console script is not installed in this environment")
    return exe


def _write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _variant(d: Path, name: str, mutate) -> Path:
    doc = copy.deepcopy(VALID)
    mutate(doc)
    return _write(d / name, doc)


def _build_cases(d: Path) -> dict[str, Case]:
    (d / "channels").mkdir()
    rng = np.random.default_rng(0)
    for k in ("p1", "p2"):
        sf.write(str(d / "channels" / f"{k}.wav"), rng.uniform(-0.1, 0.1, 16000 * 2), 16000, subtype="PCM_16")
    (d / "channels" / "garbage.wav").write_bytes(bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
    valid = _write(d / "valid.yaml", VALID)

    cases: dict[str, Case] = {}

    def add(name: str, path: Path, expect: list[str], extra: list[str] = ()) -> None:
        out = d / f"out-{name}"
        cases[name] = Case([str(path), "--out", str(out), *extra], expect, path, out)

    bad_yaml = d / "malformed.yaml"
    bad_yaml.write_text("meeting:\n  id: '1'\n  topic: [unclosed\nparticipants: []\n", encoding="utf-8")
    add("malformed_yaml", bad_yaml, ["not valid YAML", "line"])

    bad_json = d / "malformed.json"
    bad_json.write_text(json.dumps(VALID)[:-1] + ",}", encoding="utf-8")
    add("malformed_json", bad_json, ["not valid JSON"])

    add("missing_meeting", _variant(d, "no-meeting.yaml", lambda doc: doc.pop("meeting")),
        ["meeting", "required"])

    def ghost(doc):
        doc["events"][3]["who"] = "ghost"
    add("unknown_participant", _variant(d, "ghost.yaml", ghost), ["events.3", "'ghost'", "unknown participant"])

    def rate(doc):
        doc["meeting"]["sample_rate"] = 44100
    add("bad_sample_rate", _variant(d, "rate.yaml", rate), ["meeting.sample_rate", "32000", "48000"])

    def late(doc):
        doc["events"].insert(2, {"t": 99.5, "type": "raise_hand", "who": "p1"})
    add("event_after_end", _variant(d, "late.yaml", late), ["events.2.t", "99.5", "duration_s"])

    def missing_audio(doc):
        doc["participants"][1]["audio"] = "channels/nope.wav"
    add("missing_audio", _variant(d, "missing-audio.yaml", missing_audio),
        ["participants.1.audio", str(d / "channels" / "nope.wav"), "not found"])

    def garbage_audio(doc):
        doc["participants"][1]["audio"] = "channels/garbage.wav"
    add("unreadable_audio", _variant(d, "garbage-audio.yaml", garbage_audio),
        ["participants.1.audio", str(d / "channels" / "garbage.wav"), "unreadable"])

    add("nonexistent_scenario", d / "does-not-exist.yaml", ["not found"])

    # Text from the file ends up in the message: it must be printed as is, not as console markup.
    markup = d / "odd[bold]name.yaml"
    markup.write_text("meeting:\n  topic: \"[/b] unterminated\n", encoding="utf-8")
    add("markup_in_message", markup, ["not valid YAML", "[/b]"])

    out_file = d / "out-is-a-file.txt"
    out_file.write_text("not a directory\n", encoding="utf-8")
    cases["out_is_a_file"] = Case([str(valid), "--out", str(out_file)], ["--out", "not a directory", str(out_file)],
                                  None, d / "out-out_is_a_file")

    for name, value in (("speed_zero", "0"), ("speed_nan", "nan"), ("speed_word", "fast")):
        out = d / f"out-{name}"
        cases[name] = Case([str(valid), "--out", str(out), "--speed", value], ["--speed"], None, out)
    return cases


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-errors-in-a-directory-whose-name-is-long-enough-to-overflow-the-terminal")
    cases = _build_cases(d)
    exe = _rollcall()
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)

    def run(case: Case) -> subprocess.CompletedProcess:
        return subprocess.run([exe, "replay", *case.args], capture_output=True, text=True, timeout=120, env=env,
                              cwd=d)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for case, res in zip(cases.values(), pool.map(run, cases.values())):
            case.result = res
    return d, cases


CASES = ["malformed_yaml", "malformed_json", "missing_meeting", "unknown_participant", "bad_sample_rate",
         "event_after_end", "missing_audio", "unreadable_audio", "nonexistent_scenario", "markup_in_message",
         "out_is_a_file", "speed_zero", "speed_nan", "speed_word"]


@pytest.mark.parametrize("name", CASES)
def test_user_error_is_reported_cleanly(results, name):
    d, cases = results
    case = cases[name]
    res = case.result
    assert res is not None
    assert res.returncode == EXIT_USAGE, f"exit {res.returncode}\nstderr:\n{res.stderr}"
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr
    assert res.stdout.strip() == ""  # nothing that looks like a result
    for text in case.expect:
        assert text in res.stderr, f"{text!r} not in:\n{res.stderr}"
    if case.path is not None:
        assert str(case.path) in res.stderr, f"the message must name {case.path} verbatim:\n{res.stderr}"
    assert not (case.out / "report.json").exists()  # a failed run leaves no report behind
    if name == "out_is_a_file":
        assert (d / "out-is-a-file.txt").read_text(encoding="utf-8") == "not a directory\n"  # untouched


def test_scenario_errors_are_one_line(results):
    """One line per problem for scenario errors that are not YAML parse errors (those quote the file)."""
    _, cases = results
    for name in ("missing_meeting", "unknown_participant", "bad_sample_rate", "event_after_end",
                 "missing_audio", "nonexistent_scenario"):
        lines = cases[name].result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, lines)


def test_the_valid_base_scenario_runs(results):
    """The error cases are single mutations of a scenario that works; prove that it does."""
    d, _ = results
    out = d / "out-valid"
    res = subprocess.run([_rollcall(), "replay", str(d / "valid.yaml"), "--out", str(out), "--speed", "max"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [p["key"] for p in report["participants"]] == ["p1", "p2"]
