"""Scenario generator: real eSpeak synthesis on a tiny script (fast), checked against the audio."""

from __future__ import annotations

import copy
import datetime as dt
import json
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.generator import scenario_gen, tts
from bot.generator.script import parse_script

DUR = 10

SCRIPT = {
    "meeting": {"id": "85000000001", "topic": "Tiny test", "start": "2026-11-20T15:00:00Z",
                "duration_s": DUR, "sample_rate": 32000, "frame_ms": 10},
    "participants": [
        {"key": "a", "name": "Alice Host", "role": "host", "customer_key": "emp-1",
         "voice": {"name": "en-us", "variant": "f4", "rate": 175, "pitch": 60}},
        {"key": "b", "name": "Bob", "role": "attendee", "voice": "en-gb-x-rp+m3", "noise_db": -60},
        {"key": "c", "name": "Cleo", "role": "attendee", "voice": {"name": "en", "variant": "m7", "pitch": 30},
         "leak_from": "all", "leak_db": -18, "leak_delay_ms": 5},
        {"key": "d", "name": "Dev Silent", "role": "attendee"},
    ],
    "timeline": [
        {"t": 0.0, "type": "join", "who": "a"},
        {"t": 0.0, "type": "unmute", "who": "a"},
        {"t": 1.0, "type": "video_on", "who": "a"},
        {"t": 0.2, "type": "join", "who": "b"},
        {"t": 0.0, "type": "join", "who": "c"},
        {"t": 0.1, "type": "unmute", "who": "c"},
        {"t": 2.0, "type": "join", "who": "d"},
        {"t": 0.5, "type": "say", "who": "a", "text": "Hello everyone, welcome."},
        {"t": 2.5, "type": "chat", "who": "b", "text": "Is this recorded?", "to": "everyone"},
        {"t": 3.0, "type": "raise_hand", "who": "b"},
        {"t": 3.1, "type": "say", "who": "c", "text": "Okay."},
        {"t": 4.0, "type": "lower_hand", "who": "b"},
        {"t": 4.5, "type": "reaction", "who": "b", "emoji": "👍"},
        {"t": 5.0, "type": "say", "who": "a", "text": "Any questions?"},
        {"t": 6.0, "type": "leave", "who": "b"},
        {"t": 7.0, "type": "join", "who": "b"},
        {"t": 7.2, "type": "unmute", "who": "b"},
        {"t": 7.4, "type": "video_on", "who": "b"},
        {"t": 7.5, "type": "say", "who": "b", "text": "Yes, just one."},
        {"t": 9.0, "type": "video_off", "who": "b"},
        {"t": 9.5, "type": "leave", "who": "a"},
    ],
}


def _write_script(path: Path, script: dict) -> Path:
    path.write_text(yaml.safe_dump(script, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        rate, n = w.getframerate(), w.getnframes()
        x = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float64) / 32768.0
    return x, rate


def _rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x ** 2) + 1e-20)


def _mask(intervals, n: int, rate: int) -> np.ndarray:
    m = np.zeros(n, bool)
    for s, e in intervals:
        m[int(round(s * rate)): int(round(e * rate))] = True
    return m


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    script = _write_script(d / "tiny.yaml", SCRIPT)
    scen = scenario_gen.generate(script, d / "out")
    truth = json.loads((d / "out" / "truth.json").read_text(encoding="utf-8"))
    tracks = {k: _read_wav(d / "out" / "channels" / f"{k}.wav") for k in "abcd"}
    return d, scen, truth, tracks


def test_scenario_yaml_format(built):
    d, scen, truth, _ = built
    doc = yaml.safe_load(scen.read_text(encoding="utf-8"))
    assert doc["meeting"] == {**SCRIPT["meeting"]}
    assert [p["key"] for p in doc["participants"]] == list("abcd")
    for p in doc["participants"]:
        assert (scen.parent / p["audio"]).is_file() and p["audio_offset_s"] == 0.0
    ts = [e["t"] for e in doc["events"]]
    assert ts == sorted(ts)
    assert doc["events"][-1] == {"t": DUR, "type": "end"}
    assert not any(e["type"] == "say" for e in doc["events"])
    types = [(e["t"], e["type"], e.get("who")) for e in doc["events"]]
    # the implied mute/video_off before a leave are explicit, and come before the leave
    assert types.index((6.0, "leave", "b")) > 0
    assert (9.5, "mute", "a") in types and types.index((9.5, "mute", "a")) < types.index((9.5, "leave", "a"))
    assert (9.5, "video_off", "a") in types
    chat = next(e for e in doc["events"] if e["type"] == "chat")
    assert chat == {"t": 2.5, "type": "chat", "who": "b", "text": "Is this recorded?", "to": "everyone"}
    assert next(e for e in doc["events"] if e["type"] == "reaction")["emoji"] == "👍"


def test_simulator_loader_accepts_output(built):
    scenario_mod = pytest.importorskip("bot.scenario")
    _, scen, _, _ = built
    sc = scenario_mod.load_scenario(scen)
    assert [p.key for p in sc.participants] == list("abcd")
    assert sc.sorted_events()[-1].type == "end"


def test_wav_lengths_equal_duration(built):
    _, _, truth, tracks = built
    for k, (x, rate) in tracks.items():
        assert rate == truth["audio_rate"]
        assert len(x) == DUR * rate, k
    assert not tracks["d"][0].any()  # the silent participant


def test_truth_presence_and_counts(built):
    _, _, truth, _ = built
    P = truth["participants"]
    assert P["a"]["presence"] == [[0.0, 9.5]]
    assert P["b"]["presence"] == [[0.2, 6.0], [7.0, DUR]]  # rejoin = separate interval, closed at end
    assert P["c"]["presence"] == [[0.0, DUR]]
    assert P["d"]["presence"] == [[2.0, DUR]]
    assert P["a"]["camera_on_s"] == pytest.approx(8.5)
    assert P["b"]["camera_on_s"] == pytest.approx(1.6)
    assert P["c"]["camera_on_s"] == 0
    assert (P["b"]["chat_messages"], P["b"]["hand_raises"], P["b"]["reactions"]) == (1, 1, 1)
    assert P["b"]["chat_to"] == {"everyone": 1}
    assert (P["a"]["chat_messages"], P["a"]["hand_raises"], P["a"]["reactions"]) == (0, 0, 0)
    assert [u["text"] for u in P["a"]["utterances"]] == ["Hello everyone, welcome.", "Any questions?"]
    assert P["d"]["speech"] == [] and P["d"]["talk_s"] == 0
    assert P["c"]["leak"] == {"from": ["a", "b", "d"], "db": -18, "delay_ms": 5}


def test_speech_intervals_inside_presence_and_match_energy(built):
    _, _, truth, tracks = built
    P = truth["participants"]
    said = {(ln["who"], ln["t"]) for ln in SCRIPT["timeline"] if ln["type"] == "say"}
    assert {(k, s) for k, p in P.items() for s, _ in p["speech"]} == said
    for k in "ab":  # a: clean, b: noise floor (c has leakage: see its own test)
        x, rate = tracks[k]
        speech = P[k]["speech"]
        assert speech
        for s, e in speech:
            assert e - s > 0.3
            assert any(a <= s and e <= b for a, b in P[k]["presence"])
            assert any(a <= s and e <= b for a, b in P[k]["unmuted"])
            # leading edge: first 5 ms frame above -50 dBFS after t - 100 ms is within 20 ms of t
            i0 = int((s - 0.1) * rate)
            f = int(0.005 * rate)
            seg = x[i0: i0 + int(0.5 * rate)]
            frames = seg[: len(seg) // f * f].reshape(-1, f)
            loud = np.flatnonzero(10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20) > -50)
            assert loud.size
            assert abs((i0 + loud[0] * f) / rate - s) < 0.020, (k, s)
            # trailing edge: nothing above the trim level within 50 ms after the end
            after = x[int(round(e * rate)) + 2: int(round((e + 0.05) * rate))]
            assert np.max(np.abs(after)) < 10 ** (-45 / 20)
        m = _mask(speech, len(x), rate)
        inside, outside = _rms_db(x[m]), _rms_db(x[~m])
        assert inside > -35, (k, inside)
        assert inside - outside > 30, (k, inside, outside)
    # b's noise floor is at the requested level
    xb, rate = tracks["b"]
    assert _rms_db(xb[~_mask(P["b"]["speech"], len(xb), rate)]) == pytest.approx(-60, abs=0.5)
    # a's track is exactly silent outside its speech
    xa, rate = tracks["a"]
    assert not xa[~_mask(P["a"]["speech"], len(xa), rate)].any()


def test_leak_participant_has_attenuated_delayed_copies(built):
    _, _, truth, tracks = built
    P = truth["participants"]
    xc, rate = tracks["c"]
    own = _mask(P["c"]["speech"], len(xc), rate)
    assert _rms_db(xc[own]) > -35  # c's own speech is there at full level
    delay = int(round(0.005 * rate))
    for src in "ab":
        xs, _ = tracks[src]
        for s, e in P[src]["speech"]:
            m = _mask([[s, e]], len(xc), rate) & ~own
            rel = _rms_db(xc[m]) - _rms_db(xs[m])
            assert rel == pytest.approx(-18, abs=1.0), (src, s, rel)
            # it is a delayed copy: best alignment at the configured delay
            i0, i1 = int(s * rate), int(e * rate)
            lags = range(delay - 20, delay + 21)
            corr = [float(np.dot(xc[i0 + lag: i1 + lag], xs[i0:i1])) for lag in lags]
            assert list(lags)[int(np.argmax(corr))] == delay
    # and none of the leakage is in c's truth
    assert [u["text"] for u in P["c"]["utterances"]] == ["Okay."]
    assert truth["overlaps"] == []


def test_deterministic_bytes(built, tmp_path):
    d, scen, _, _ = built
    again = scenario_gen.generate(d / "tiny.yaml", tmp_path / "again")
    files = sorted(p.relative_to(scen.parent) for p in scen.parent.rglob("*") if p.is_file())
    assert Path("channels/c.wav") in files and Path("truth.json") in files
    for rel in files:
        assert (scen.parent / rel).read_bytes() == (again.parent / rel).read_bytes(), rel


def test_cache_hit_does_not_rewrite(tmp_path):
    script = _write_script(tmp_path / "s.yaml", SCRIPT)
    out = tmp_path / "out"
    msgs: list[str] = []
    scenario_gen.generate(script, out, progress=msgs.append)
    assert any("synthesising" in m for m in msgs)
    files = [p for p in out.rglob("*") if p.is_file()]
    stamp = {p: p.stat().st_mtime_ns for p in files}
    msgs.clear()
    assert scenario_gen.generate(script, out, progress=msgs.append) == out / "scenario.yaml"
    assert not any("synthesising" in m for m in msgs)
    assert {p: p.stat().st_mtime_ns for p in files} == stamp
    # a changed script regenerates
    changed = copy.deepcopy(SCRIPT)
    changed["meeting"]["topic"] = "Tiny test, take two"
    _write_script(script, changed)
    scenario_gen.generate(script, out)
    assert "take two" in (out / "scenario.yaml").read_text(encoding="utf-8")


def _with(*extra_lines, drop=None):
    s = copy.deepcopy(SCRIPT)
    if drop:
        s["timeline"] = [ln for ln in s["timeline"] if not drop(ln)]
    s["timeline"].extend(extra_lines)
    return s


@pytest.mark.parametrize("script, match", [
    (_with({"t": 1.0, "type": "say", "who": "a", "text": "This overlaps the welcome line."}),
     r"timeline\[21\].*overlaps a's previous say line timeline\[7\]"),
    (_with({"t": 6.5, "type": "say", "who": "b", "text": "Hello?"}), r"timeline\[21\].*b is not joined at t=6.5"),
    (_with({"t": 1.0, "type": "say", "who": "b", "text": "Hello?"}), r"timeline\[21\].*b is muted at t=1"),
    # rejoin starts muted: b rejoined at 7.0 but only unmutes at 7.2
    (_with({"t": 7.05, "type": "say", "who": "b", "text": "Hi."}), r"b is muted at t=7.05"),
    (_with({"t": 9.2, "type": "say", "who": "a", "text": "And one more thing before I go."}),
     r"timeline\[21\].*a is muted or leaves at 9.5"),
    (_with({"t": 9.7, "type": "say", "who": "c", "text": "A long sentence that cannot fit before the end."}),
     r"after the meeting end"),
    (_with({"t": 1.0, "type": "say", "who": "zed", "text": "Hi."}), r"timeline\[21\].*unknown participant 'zed'"),
    (_with({"t": 1.0, "type": "chat", "who": "b", "text": "hi", "to": "nobody"}), r"unknown chat target 'nobody'"),
    (_with({"t": 1.0, "type": "wave", "who": "b"}),
     r"timeline\[21\] \(t=1, wave, who=b\): Input tag 'wave' found using 'type' does not match"),
    (_with({"t": 1.0, "type": "join", "who": "a"}), r"a is already joined"),
    (_with({"t": 1.0, "type": "raise_hand", "who": "d"}), r"d is not joined"),
    (_with({"t": 11.0, "type": "chat", "who": "b", "text": "late"}), r"outside 0..duration_s"),
    (_with({"t": 1.0, "type": "chat", "who": "b"}),
     r"timeline\[21\] \(t=1, chat, who=b\): text: Field required"),
    ({**SCRIPT, "meeting": {**SCRIPT["meeting"], "start": "2026-11-20T15:00:00"}}, r"needs a time zone"),
])
def test_invalid_scripts_raise(tmp_path, script, match):
    path = _write_script(tmp_path / "bad.yaml", script)
    with pytest.raises(ValueError, match=match):
        scenario_gen.generate(path, tmp_path / "out")
    assert not (tmp_path / "out" / ".script_sha256").exists()


def test_invalid_participants_raise(tmp_path):
    s = copy.deepcopy(SCRIPT)
    s["participants"][2]["leak_from"] = ["a", "ghost"]
    with pytest.raises(ValueError, match="leak_from names unknown participant 'ghost'"):
        scenario_gen.generate(_write_script(tmp_path / "x.yaml", s), tmp_path / "o1")
    s = copy.deepcopy(SCRIPT)
    s["participants"][0]["voice"] = "xx-nonexistent"
    with pytest.raises(tts.TTSError, match="unknown eSpeak voice"):
        scenario_gen.generate(_write_script(tmp_path / "y.yaml", s), tmp_path / "o2")


def _changed(change):
    s = copy.deepcopy(SCRIPT)
    change(s)
    return s


def _person(i, **fields):
    return lambda s: s["participants"][i].update(fields)


def _meeting(**fields):
    return lambda s: s["meeting"].update(fields)


def _line(line):
    return lambda s: s["timeline"].append(line)


@pytest.mark.parametrize("change, match", [
    (lambda s: s.update(speakers=[]), r"^speakers: unknown field$"),
    (_meeting(policy="default"), r"^meeting\.policy: unknown field$"),
    (lambda s: s["meeting"].pop("topic"), r"^meeting\.topic: Field required$"),
    (_meeting(duration_s=float("inf")), r"^meeting\.duration_s: Input should be a finite number$"),
    (_meeting(duration_s=0), r"^meeting\.duration_s: Input should be greater than 0$"),
    (_meeting(duration_s="10"), r"^meeting\.duration_s: Input should be a valid number$"),
    (_meeting(sample_rate=44100), r"^meeting\.sample_rate: Input should be 32000 or 48000$"),
    (_meeting(start="tomorrow"), r"^meeting\.start: 'tomorrow' is not an ISO 8601 timestamp$"),
    (lambda s: s.update(audio_rate=4000), r"^audio_rate: Input should be greater than or equal to 8000$"),
    (lambda s: s.update(participants=[]), r"^participants: List should have at least 1 item"),
    (_person(0, key="everyone"), r"^participants\[0\]: key: invalid key 'everyone'"),
    (_person(1, key="a"), r"^participants\[1\]: duplicate key 'a'$"),
    (_person(0, role="owner"), r"^participant a: role: Input should be 'host', 'cohost' or 'attendee'$"),
    (_person(0, voice={"name": "en", "speed": 3}), r"^participant a: voice\.speed: unknown field$"),
    (_person(0, voice=["en"]), r"^participant a: voice: must be a string \(en-us\+m3\) or a mapping$"),
    (_person(0, customer_key="x" * 36), r"^participant a: customer_key: String should have at most 35 char"),
    (_person(0, consent="yes"), r"^participant a: consent: Input should be a valid boolean$"),
    (_person(0, gain_db="-6"), r"^participant a: gain_db: Input should be a valid number$"),
    (_person(1, noise_db=0), r"^participant b: noise_db: Input should be less than 0$"),
    (_person(3, leak_from="all"), r"^participant d: leak_from and leak_db go together$"),
    (_person(2, leak_db=3), r"^participant c: leak_db: Input should be less than or equal to 0$"),
    (_person(2, leak_from="a"), r"^participant c: leak_from: must be 'all' or a list of keys$"),
    (_person(2, leak_from=["c"]), r"^participant c: leak_from names unknown participant 'c'$"),
    (_line({"t": 5, "type": "end"}), r"^timeline\[21\] \(t=5, end\): 'end' may only appear at t=duration_s"),
    (_line({"t": 10, "type": "end", "who": "a"}), r"^timeline\[21\] \(t=10, end, who=a\): who: unknown field$"),
    (_line({"t": 1, "type": "join"}), r"^timeline\[21\] \(t=1, join\): who: Field required$"),
    (_line({"t": "1", "type": "join", "who": "a"}),
     r"^timeline\[21\] \(t='1', join, who=a\): t: Input should be a valid number$"),
    (_line({"t": -1, "type": "join", "who": "a"}),
     r"^timeline\[21\] \(t=-1, join, who=a\): t outside 0\.\.duration_s \(10\)$"),
    (_line({"t": 1, "type": "join", "who": "a", "text": "hi"}),
     r"^timeline\[21\] \(.*\): text: unknown field$"),
    (_line({"t": 1, "type": "say", "who": "a", "text": " "}),
     r"^timeline\[21\] \(.*\): text: must be a non-empty string$"),
    (_line({"t": 1, "type": "reaction", "who": "a"}),
     r"^timeline\[21\] \(t=1, reaction, who=a\): emoji: Field required$"),
])
def test_script_errors_name_the_place(change, match):
    with pytest.raises(ValueError, match=match):
        parse_script(_changed(change))


def test_yaml_readings_come_back_as_text():
    # YAML reads an unquoted timestamp as a datetime and an unquoted id or customer key as a number
    s = _changed(_meeting(start=dt.datetime(2026, 11, 20, 16, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                          id=85000000001, duration_s=10.0))
    s["participants"][0]["customer_key"] = 1001
    script = parse_script(s)
    assert script.meeting.scenario_fields() == SCRIPT["meeting"]
    assert isinstance(script.meeting.scenario_fields()["duration_s"], int)
    assert script.participants[0].scenario_fields() == {"key": "a", "name": "Alice Host", "role": "host",
                                                        "customer_key": "1001"}


def test_lines_keep_the_scripts_field_order():
    # scenario.yaml writes a line's fields as the script gives them (outputs must not change); defaults last
    s = _changed(_line({"t": 2.5, "type": "chat", "who": "b", "to": "host", "text": "first"}))
    chats = [(i, ln.payload()) for i, ln in parse_script(s).lines() if ln.type == "chat"]
    assert chats == [(8, {"text": "Is this recorded?", "to": "everyone"}), (21, {"to": "host", "text": "first"})]
    assert [list(p) for _, p in chats] == [["text", "to"], ["to", "text"]]
    s = _changed(lambda s: s["timeline"][8].pop("to"))
    assert [list(ln.payload().items()) for _, ln in parse_script(s).lines() if ln.type == "chat"] == \
        [[("text", "Is this recorded?"), ("to", "everyone")]]


def test_tts_voices_distinct_and_repeatable():
    text = "Phishing emails create urgency."
    a1, rate = tts.synthesize(text, tts.Voice("en-us", "f4"))
    tts.synthesize("Something else in between.", tts.Voice("en", "m7"))
    a2, _ = tts.synthesize(text, tts.Voice("en-us", "f4"))
    b, _ = tts.synthesize(text, tts.Voice("en-gb-x-rp", "m3", pitch=30))
    assert rate == 22050 and a1.dtype == np.float32
    assert np.array_equal(a1, a2)  # independent of what was synthesised before
    assert len(a1) != len(b) or not np.array_equal(a1, b)
    assert 0.5 < len(a1) / rate < 5 and 0.1 < np.max(np.abs(a1)) <= 1.0
