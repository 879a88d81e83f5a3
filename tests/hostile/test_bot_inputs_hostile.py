"""Hostile and mistaken input on the bot side (issue 15): scenario and policy files, their audio, the
`replay` and `bot` command lines, and the files a run leaves behind.

A bad input is refused with exit 2 and one message naming the file and the field, before anything is
written; what a run writes (names, chat, transcripts) is this user's only; a day-long meeting replays in
bounded memory; and no scenario or policy text, however odd, gets past loading as anything but a valid
model or a clean ScenarioError / PolicyError.
"""
from __future__ import annotations

import copy
import json
import math
import os
import resource
import shutil
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.policy import PolicyError, TrainingPolicy, parse_policy
from analysis.scenario import Scenario, ScenarioError, parse_scenario
from bot.simulator.replay import replay
from bot.scenario import load_scenario, read_policy
from bot.simulator.transport import SimulatorTransport
from native import Resampler

EXIT_USAGE = 2
REPO = Path(__file__).resolve().parents[2]
DAY_S = 24 * 3600  # the longest meeting a scenario may describe (docs/architecture.md)

VALID = {
    "meeting": {"id": "85000000015", "topic": "Hostile input", "start": "2026-11-20T15:00:00Z",
                "duration_s": 2, "sample_rate": 32000, "frame_ms": 10},
    "participants": [
        {"key": "p1", "name": "Dana Host", "role": "host", "audio": "p1.wav"},
        {"key": "p2", "name": "Sam Attendee", "audio": "p2.wav", "audio_offset_s": 0.25},
    ],
    "events": [
        {"t": 0.0, "type": "join", "who": "p1"},
        {"t": 0.0, "type": "unmute", "who": "p1"},
        {"t": 0.3, "type": "join", "who": "p2"},
        {"t": 0.3, "type": "unmute", "who": "p2"},
        {"t": 1.0, "type": "chat", "who": "p2", "text": "hello, it is Sam", "to": "everyone"},
        {"t": 2.0, "type": "end"},
    ],
}
POLICY = {"min_presence_share": 0.9, "max_late_join_s": 10, "must_speak": True,
          "roll_call": {"every_s": 60, "first_at_s": 0.5, "response_window_s": 1}}


def _rollcall() -> str:
    exe = shutil.which("rollcall") or str(Path(sys.executable).parent / "rollcall")
    if not Path(exe).exists():
        pytest.fail("the `rollcall` console script is not installed in this environment")
    return exe


def _env() -> dict[str, str]:
    """The console script's environment: a plain 80-column terminal, no orchestrator, no Zoom credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOM_", "REDIS_", "FORCE_COLOR"))}
    return {**env, "COLUMNS": "80", "NO_COLOR": "1"}


def _write_audio(d: Path) -> None:
    rng = np.random.default_rng(15)
    for key in ("p1", "p2"):
        sf.write(str(d / f"{key}.wav"), rng.uniform(-0.2, 0.2, 16000 * 2), 16000, subtype="PCM_16")


def _scenario(d: Path, name: str, mutate=None) -> Path:
    doc = copy.deepcopy(VALID)
    if mutate is not None:
        mutate(doc)
    path = d / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _set(path: tuple, value):
    def mutate(doc):
        node = doc
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return mutate


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------------------------ (6) private outputs
@pytest.fixture()
def umask_022():
    old = os.umask(0o022)  # the usual default, under which open() and mkdir() give 0644 and 0755
    yield
    os.umask(old)


def _assert_private(out: Path, names: set[str]) -> None:
    assert _mode(out) == 0o700, oct(_mode(out))
    found = {p.name: _mode(p) for p in out.iterdir()}
    assert names <= set(found), found
    assert all(m == 0o600 for m in found.values()), {k: oct(m) for k, m in found.items()}


def test_replay_outputs_are_private_even_over_an_earlier_run(tmp_path, umask_022):
    _write_audio(tmp_path)
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(POLICY), encoding="utf-8")
    scenario = _scenario(tmp_path, "s.yaml", _set(("meeting", "policy"), "strict.yaml"))
    out = tmp_path / "reports" / "training"
    replay(scenario, out)
    names = {"report.json", "report.html", "events.jsonl", "live.jsonl", "exceptions.json", "exceptions.csv"}
    _assert_private(out, names)
    assert "Sam Attendee" in (out / "report.json").read_text(encoding="utf-8")  # what is at stake

    for p in out.iterdir():  # files an older version left world-readable are not written into as they are
        p.chmod(0o644)
    replay(scenario, out)
    _assert_private(out, names)


def test_bot_outputs_are_private(tmp_path, umask_022):
    _write_audio(tmp_path)
    scenario = _scenario(tmp_path, "s.yaml", lambda doc: (doc["meeting"].update(duration_s=1),
                                                           doc["events"].pop()))  # one second, in real time
    out = tmp_path / "bot-out"
    res = subprocess.run([_rollcall(), "bot", "--scenario", str(scenario), "--out", str(out), "--no-asr"],
                         capture_output=True, text=True, timeout=120, env=_env(), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _assert_private(out, {"report.json", "report.html", "events.jsonl", "live.jsonl"})


# ------------------------------------------- (9) and (10): refused cleanly, before anything is written
@dataclass
class Case:
    args: list[str]
    expect: list[str]  # substrings of the error message (files named verbatim)
    out: Path
    result: subprocess.CompletedProcess | None = field(default=None, repr=False)


def _build_cases(d: Path) -> dict[str, Case]:
    _write_audio(d)
    sf.write(str(d / "nan.wav"), np.r_[np.zeros(8000), np.nan, np.zeros(7999)].astype(np.float32), 16000,
             subtype="FLOAT")
    (d / "typo.yaml").write_text(yaml.safe_dump({**POLICY, "min_presense_share": 0.8}), encoding="utf-8")
    cases: dict[str, Case] = {}

    def replay_case(name: str, mutate, expect: list[str]) -> None:
        path = _scenario(d, f"{name}.yaml", mutate)
        out = d / f"out-{name}"
        cases[name] = Case(["replay", str(path), "--out", str(out), "--no-asr"],
                           [text.replace("SCENARIO", str(path)) for text in expect], out)

    for value in ("inf", "-inf", "nan"):
        replay_case(f"duration_{value}", _set(("meeting", "duration_s"), float(value)),
                    ["SCENARIO: meeting.duration_s:", "finite"])
        replay_case(f"offset_{value}", _set(("participants", 1, "audio_offset_s"), float(value)),
                    ["SCENARIO: participants.1.audio_offset_s:", "finite"])
    replay_case("ten_million_seconds", lambda doc: (doc["meeting"].update(duration_s=1e7),
                                                    [p.pop("audio") for p in doc["participants"]],
                                                    doc["events"].pop()),
                ["SCENARIO: meeting.duration_s:", f"{DAY_S}"])
    replay_case("nan_sample", _set(("participants", 1, "audio"), "nan.wav"),
                ["SCENARIO: participants.1.audio:", str(d / "nan.wav"), "0.500 s", "not a number"])
    replay_case("policy_typo", _set(("meeting", "policy"), "typo.yaml"),
                [f"{d / 'typo.yaml'}: min_presense_share: unknown field"])
    replay_case("policy_name_typo", _set(("meeting", "policy"), "defualt"),
                ["SCENARIO: meeting.policy:", "'defualt'", "valid: default"])

    valid = _scenario(d, "valid.yaml")
    typo_scenario = d / "policy_typo.yaml"

    def bot_case(name: str, args: list[str], expect: list[str]) -> None:
        out = d / f"out-{name}"
        cases[name] = Case(["bot", *args, "--out", str(out), "--no-asr"], expect, out)

    bot_case("bot_policy_name_typo", ["--meeting-id", "85000000015", "--policy", "defualt"],
             ["--policy", "'defualt'", "valid: default"])
    bot_case("bot_policy_field_typo", ["--meeting-id", "85000000015", "--policy", "typo.yaml"],
             [f"--policy: {d / 'typo.yaml'}: min_presense_share: unknown field"])
    bot_case("bot_scenario_and_policy_name_typo", ["--scenario", str(valid), "--policy", "defualt"],
             ["--policy", "'defualt'", "valid: default"])
    bot_case("bot_scenario_policy_typo", ["--scenario", str(typo_scenario)],
             [f"{d / 'typo.yaml'}: min_presense_share: unknown field"])
    bot_case("bot_duration_inf", ["--meeting-id", "85000000015", "--duration", "inf"], ["--duration"])
    return cases


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    cases = _build_cases(d)
    exe = _rollcall()

    def run(case: Case) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([exe, *case.args], capture_output=True, text=True, timeout=60, env=_env(), cwd=d)
        except subprocess.TimeoutExpired:  # a run that should have been refused goes on: that case fails alone
            return subprocess.CompletedProcess(case.args, -1, "", "timed out after 60 s")

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for case, res in zip(cases.values(), pool.map(run, cases.values())):
            case.result = res
    return cases


REFUSALS = ["duration_inf", "duration_-inf", "duration_nan", "offset_inf", "offset_-inf", "offset_nan",
            "ten_million_seconds", "nan_sample", "policy_typo", "policy_name_typo", "bot_policy_name_typo",
            "bot_policy_field_typo", "bot_scenario_and_policy_name_typo", "bot_scenario_policy_typo",
            "bot_duration_inf"]


@pytest.mark.parametrize("name", REFUSALS)
def test_bad_input_is_refused_before_anything_is_written(refusals, name):
    case = refusals[name]
    res = case.result
    assert res.returncode == EXIT_USAGE, f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    for text in case.expect:
        assert text in res.stderr, f"{text!r} not in:\n{res.stderr}"
    assert not case.out.exists(), sorted(p.name for p in case.out.iterdir())


def test_scenario_and_policy_refusals_are_one_line(refusals):
    for name in REFUSALS[:-1]:  # the last is the command line parser's own box
        lines = refusals[name].result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, lines)


def test_the_longest_meeting_is_accepted(tmp_path):
    path = _scenario(tmp_path, "day.yaml", lambda doc: (doc["meeting"].update(duration_s=DAY_S),
                                                        [p.pop("audio") for p in doc["participants"]],
                                                        doc["events"].pop()))
    assert load_scenario(path).meeting.duration_s == DAY_S


# ---------------------------------------------------------------------- (9) the track is streamed
_DAY_RUN = """
import sys
from pathlib import Path
from bot.scenario import load_scenario
from bot.simulator.transport import SimulatorTransport

path = Path(sys.argv[1])
chunks = []

class Handler:
    def on_meeting_event(self, ev): pass
    def on_one_way_audio(self, chunk, user_id): chunks.append(chunk.GetBuffer())
    def on_media_time(self, t): pass

SimulatorTransport(path, load_scenario(path), stop=lambda: len(chunks) >= 400).run(Handler())
print(sum(1 for c in chunks if any(c)))
"""


def test_a_day_long_meeting_with_audio_replays_in_bounded_memory(tmp_path):
    """A day at 48 kHz is 4.1 G samples per participant: 16 GB each as float32 if held whole. The replay
    runs under a 1 GB address-space limit (it needs about 0.2 GB)."""
    sf.write(str(tmp_path / "voice.wav"), 0.3 * np.sin(np.arange(16000 * 6) / 3), 16000, subtype="PCM_16")
    doc = {"meeting": {"id": "85000000016", "start": "2026-11-20T15:00:00Z", "duration_s": DAY_S,
                       "sample_rate": 48000},
           "participants": [{"key": "a", "name": "A", "audio": "voice.wav"},
                            {"key": "b", "name": "B", "audio": "voice.wav", "audio_offset_s": DAY_S - 60}],
           "events": [{"t": 0, "type": t, "who": w} for w in ("a", "b") for t in ("join", "unmute")]}
    path = tmp_path / "day.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    res = subprocess.run([sys.executable, "-c", _DAY_RUN, str(path)], capture_output=True, text=True, timeout=120,
                         cwd=REPO, preexec_fn=limit)
    assert res.returncode == 0, res.stderr[-3000:]
    assert int(res.stdout) > 150  # a's voice came through (b's starts a minute before the end)


@pytest.mark.parametrize("file_rate, channels, rate, offset_s", [
    (16000, 1, 32000, 0.0), (16000, 1, 32000, 0.77), (16000, 2, 48000, -1.3), (44100, 1, 48000, 2.5),
    (48000, 1, 48000, -0.004), (48000, 1, 48000, 9.0), (16000, 1, 32000, -7.0)])
def test_the_streamed_track_is_the_whole_file_placed_on_the_clock(tmp_path, file_rate, channels, rate, offset_s):
    """Block by block (across blocks of 65536 frames, with a mute that skips ahead) the simulator sends
    exactly what resampling the whole file at once and placing it at its offset gives."""
    rng = np.random.default_rng(9)
    x = rng.uniform(-0.5, 0.5, (int(file_rate * 6.5), channels)).astype(np.float32)
    sf.write(str(tmp_path / "x.wav"), x, file_rate, subtype="FLOAT")
    doc = {"meeting": {"id": "1", "start": "2026-11-20T15:00:00Z", "duration_s": 8, "sample_rate": rate},
           "participants": [{"key": "a", "name": "A", "audio": "x.wav", "audio_offset_s": offset_s}],
           "events": [{"t": 0, "type": "join", "who": "a"}, {"t": 0, "type": "unmute", "who": "a"},
                      {"t": 1.5, "type": "mute", "who": "a"}, {"t": 4.5, "type": "unmute", "who": "a"}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")

    mono = x.mean(axis=1, dtype=np.float32)
    if file_rate != rate:
        r = Resampler(file_rate, rate)
        mono = np.concatenate([r.process(mono), r.flush()])
    total, offset = 8 * rate, round(offset_s * rate)
    ref = np.zeros(total, dtype=np.float32)
    src, dst = max(0, -offset), max(0, offset)
    n = max(0, min(len(mono) - src, total - dst))
    ref[dst:dst + n] = mono[src:src + n]
    ref = np.clip(np.round(ref * 32768.0), -32768, 32767).astype("<i2")

    class Handler:
        def __init__(self) -> None:
            self.chunks: list[tuple[float, np.ndarray]] = []

        def on_meeting_event(self, ev): pass

        def on_one_way_audio(self, chunk, user_id):
            self.chunks.append((chunk.GetTimeStamp(), np.frombuffer(chunk.GetBuffer(), dtype="<i2")))

        def on_media_time(self, t): pass

    handler = Handler()
    SimulatorTransport(path, load_scenario(path)).run(handler)
    assert len(handler.chunks) == 500  # 1.5 s and 3.5 s of 10 ms chunks
    for t_ms, piece in handler.chunks:
        i0 = round(t_ms * rate / 1000)
        assert np.array_equal(piece, ref[i0:i0 + len(piece)]), t_ms


# ------------------------------------------------------------- (10) policies, and odd text, directly
def test_a_policy_typo_names_the_field():
    with pytest.raises(PolicyError) as err:
        parse_policy("min_presense_share: 0.8\n", "strict.yaml")
    assert (err.value.field, err.value.problem) == ("min_presense_share", "unknown field")


@pytest.mark.parametrize("name, listed", [("defualt", True), ("Default", True), ("", False), ("no\x00such", False)])
def test_a_policy_name_that_is_neither_built_in_nor_a_file_is_refused(tmp_path, name, listed):
    with pytest.raises(PolicyError) as err:
        read_policy(name, tmp_path)
    assert ("valid: default" in str(err.value)) == listed


def test_roll_calls_cannot_be_so_frequent_the_clock_stands_still():
    with pytest.raises(PolicyError) as err:
        parse_policy("roll_call: {every_s: 1.0e-20}", "p.yaml")
    assert err.value.field == "roll_call.every_s"


@pytest.mark.parametrize("text, where", [
    ("start: 2026-13-20T15:00:00Z", "meeting.start"),  # a timestamp YAML itself cannot build
    ("start: !!timestamp not-a-time", "meeting.start"),
    ("start: '2026-11-20T15:00:00Z'\n  consent: !!bool maybe", ""),
    ("start: '2026-11-20T15:00:00Z'\n  duration_s: !!float one", ""),
    ("start: '2026-11-20T15:00:00Z'\n  duration_s: !!int 0x", ""),
])
def test_odd_yaml_scalars_are_scenario_errors(text, where):
    doc = f"meeting:\n  id: '1'\n  duration_s: 1\n  {text}\nparticipants: []\nevents: []\n"
    with pytest.raises(ScenarioError) as err:
        parse_scenario(doc, Path("odd.yaml"))
    assert err.value.field == where, err.value


@pytest.mark.parametrize("text, suffix", [("[" * 5000, ".yaml"), ("{a: " * 3000, ".yaml"), ("[" * 100_000, ".json")])
def test_deep_nesting_is_a_scenario_error(text, suffix):
    with pytest.raises(ScenarioError, match="nested too deeply"):
        parse_scenario(text, Path("deep" + suffix))
    with pytest.raises(PolicyError, match="nested too deeply"):
        parse_policy(text, "deep.yaml")


# ----------------------------------------------------------------------------------- fuzzing
FUZZ = settings(max_examples=100, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

# pieces of YAML (tags, anchors, flow syntax, odd scalars) that random text rarely produces on its own
FRAGMENTS = ["meeting:", "participants:", "events:", "roll_call:", "\n", "\n  ", "- ", ": ", "[", "]", "{", "}",
             ", ", "!!bool ", "!!int ", "!!float ", "!!timestamp ", "!!binary ", "!!str ", "!!set ", "!!omap ",
             "&a ", "*a", "<<: ", "'", '"', "#", "|", ">", "?", "~", ".inf", "-.inf", ".nan", "0x", "0b", "0o",
             "1e999", "2026-13-45", "2026-11-20T15:00:00Z", "yes", "maybe", "null", "duration_s", "every_s",
             "min_presence_share", "x", "1", "-1", "0.5", "\t", "%YAML 1.1\n", "---\n", "..."]
yamlish = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                    st.sampled_from(["2026-11-20T15:00:00Z", "2026-11-20", "host", "join", "end", "p1", "default"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=6)
FULL_POLICY = {**POLICY, "max_early_leave_s": 30, "min_camera_share": 0.5, "min_talk_s": 5, "camera_warmup_s": 60,
               "grace": {"drop_s": 30}, "notify": {"host_on_at_risk": True, "min_interval_s": 20,
                                                   "summary_every_s": 120}, "roles": ["attendee"],
               "roll_call": {**POLICY["roll_call"], "text": "Roll call", "accept": ["here"], "max_missed": 1}}
WINDOWED = {"roll_call": {"windows": [{"start_s": 10, "end_s": 100}], "every_s": None}}


def _paths(node, prefix=()):
    """Every place in a document a value can be put, with what is there: each existing key or index, and
    a new key (``<new>``, None) per mapping."""
    if isinstance(node, dict):
        yield prefix + ("<new>",), None
        for k, v in node.items():
            yield prefix + (k,), v
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix + (i,), v
            yield from _paths(v, prefix + (i,))


def _put(doc, path: tuple, value) -> None:
    """doc[path] = value, if the path still leads somewhere (an earlier change may have replaced a parent)."""
    node = doc
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict) or (isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node)):
        node[path[-1]] = value


NUMBERS = st.one_of(st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 1e-20, 0, 86400.5, 1e7]),
                    st.floats(), st.integers())


def _mutated(base: dict):
    """``base`` with one to four values replaced or added anywhere by random ones; or, keeping its shape,
    one to three of its numbers replaced by random numbers (non-finite, huge and tiny ones included)."""
    paths = [p for p, _ in _paths(base)]
    numbers = [p for p, v in _paths(base) if isinstance(v, (int, float)) and not isinstance(v, bool)]

    @st.composite
    def strategy(draw):
        doc = copy.deepcopy(base)
        if draw(st.booleans()):
            for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=4)):
                if path[-1] == "<new>":
                    path = path[:-1] + (draw(st.text(max_size=10)),)
                _put(doc, path, draw(values))
        else:
            for path in draw(st.lists(st.sampled_from(numbers), min_size=1, max_size=3)):
                _put(doc, path, draw(NUMBERS))
        return doc
    return strategy()


def _finite_numbers(model) -> bool:
    data = model.model_dump(mode="python")

    def walk(v) -> bool:
        if isinstance(v, float):
            return math.isfinite(v)
        if isinstance(v, dict):
            return all(walk(x) for x in v.values())
        if isinstance(v, list):
            return all(walk(x) for x in v)
        return True
    return walk(data)


def _check_scenario(text: str, suffix: str) -> None:
    try:
        scenario = parse_scenario(text, Path("fuzz" + suffix))
    except ScenarioError as exc:
        assert str(exc).startswith("fuzz" + suffix) and exc.problem
        return
    assert isinstance(scenario, Scenario) and _finite_numbers(scenario)
    assert 0 < scenario.meeting.duration_s <= DAY_S and scenario.end_s <= DAY_S


def _check_policy(text: str) -> None:
    try:
        policy = parse_policy(text, "fuzz.yaml")
    except PolicyError as exc:
        assert str(exc).startswith("fuzz.yaml") and exc.problem
        return
    assert isinstance(policy, TrainingPolicy) and _finite_numbers(policy)
    assert policy.roll_call is None or policy.roll_call.every_s is None or policy.roll_call.every_s >= 1


@FUZZ
@given(st.one_of(st.text(max_size=200), yamlish))
def test_fuzz_scenario_text(text):
    _check_scenario(text, ".yaml")
    _check_scenario(text, ".json")


@FUZZ
@given(st.one_of(st.text(max_size=200), yamlish))
def test_fuzz_policy_text(text):
    _check_policy(text)


@FUZZ
@given(_mutated(VALID), st.booleans())
def test_fuzz_scenario_field_values(doc, as_json):
    if as_json:
        _check_scenario(json.dumps(doc), ".json")  # NaN and Infinity, as Python's json writes them
    else:
        _check_scenario(yaml.safe_dump(doc), ".yaml")


@FUZZ
@given(st.one_of(_mutated(FULL_POLICY), _mutated(WINDOWED)))
def test_fuzz_policy_field_values(doc):
    _check_policy(yaml.safe_dump(doc))


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("policies")
    (d / "ok.yaml").write_text(yaml.safe_dump(POLICY), encoding="utf-8")
    (d / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (d / "adir").mkdir()
    return d


@FUZZ
@given(name=st.one_of(st.text(alphabet=st.characters(blacklist_characters="/"), max_size=12),
                      st.sampled_from(["default", "ok.yaml", "latin1.yaml", "adir", "..", ".", "\x00"])))
def test_fuzz_policy_names(policy_dir, name):
    try:
        policy = read_policy(name, policy_dir)
    except PolicyError as exc:
        assert exc.problem
        return
    assert isinstance(policy, TrainingPolicy)


def test_the_bot_home_the_zoom_sdk_writes_its_logs_to_is_private(tmp_path, monkeypatch):
    from bot.zoom.guard import private_home

    monkeypatch.setenv("HOME", str(tmp_path))
    home = private_home(tmp_path / "bot-home")
    for d in ("", ".zoomsdk", ".zoomsdk/logs", ".config"):
        assert oct((home / d).stat().st_mode & 0o777) == "0o700", d
    assert oct((home / ".config" / "zoomus.conf").stat().st_mode & 0o777) == "0o600"
