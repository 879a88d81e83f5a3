"""The simulator behaves like Zoom where it matters: identities, audio gating, chunking, clocks, consent."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from analysis.meeting_state import MeetingState
from bot.simulator.replay import replay
from bot.scenario import load_scenario
from bot.generator.scenario_gen import generate
from bot.simulator.transport import SimulatorTransport

START = "2026-11-20T15:00:00Z"


# ------------------------------------------------------------------------------------------ helpers
class Recorder:
    """A transport handler that records every call, in order."""

    def __init__(self, clock=None) -> None:
        self.calls: list[tuple] = []
        self.key_of_user: dict[int, str] = {}
        self._clock = clock

    def on_meeting_event(self, event) -> None:
        if event.type == "join":
            self.key_of_user[event.user_id] = event.key
        self.calls.append(("event", event))

    def on_one_way_audio(self, data, node_id: int) -> None:
        buf = data.GetBuffer()
        assert data.GetBufferLen() == len(buf)
        assert data.GetChannelNum() == 1
        self.calls.append(("audio", node_id, float(data.GetTimeStamp()), data.GetSampleRate(),
                           np.frombuffer(buf, dtype="<i2").copy()))

    def on_media_time(self, t_s: float) -> None:
        self.calls.append(("time", t_s, self._clock() if self._clock else None))

    # views
    @property
    def events(self):
        return [c[1] for c in self.calls if c[0] == "event"]

    @property
    def audio(self):
        return [c for c in self.calls if c[0] == "audio"]

    @property
    def times(self) -> list[float]:
        return [c[1] for c in self.calls if c[0] == "time"]

    def audio_of(self, key: str):
        return [c for c in self.audio if self.key_of_user[c[1]] == key]


def tone(rate: int, seconds: float, hz: float = 1000.0, dbfs: float = -12.0) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    return 10 ** (dbfs / 20) * np.sqrt(2) * np.sin(2 * np.pi * hz * t)


def write_wav(path: Path, x: np.ndarray, rate: int) -> str:
    sf.write(str(path), x, rate, subtype="PCM_16")
    return path.name


def write_scenario(d: Path, *, participants: list[dict], events: list[dict], duration: float,
                   rate: int = 32000, frame_ms: int = 10) -> Path:
    doc = {"meeting": {"id": "85000000001", "topic": "sim", "start": START, "duration_s": duration,
                       "sample_rate": rate, "frame_ms": frame_ms},
           "participants": participants, "events": events}
    path = d / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def run_sim(path: Path, **kw) -> tuple[Recorder, SimulatorTransport]:
    clock = kw.get("clock")
    transport = SimulatorTransport(path, load_scenario(path), **kw)
    rec = Recorder(clock)
    transport.run(rec)
    return rec, transport


def chunk_starts(calls, frame_ms: int) -> list[int]:
    """Chunk indices (timestamp / frame) of recorded audio calls."""
    return [int(round(c[2] / frame_ms)) for c in calls]


# ------------------------------------------------------------------------------------------ identity
def test_rejoin_gets_new_user_id_same_persistent_id(tmp_path):
    a = write_wav(tmp_path / "a.wav", tone(32000, 4.0), 32000)
    path = write_scenario(tmp_path, duration=4.0, participants=[
        {"key": "a", "name": "Ann", "audio": a}, {"key": "b", "name": "Bo"}], events=[
        {"t": 0.0, "type": "join", "who": "b"},
        {"t": 0.0, "type": "join", "who": "a"}, {"t": 0.0, "type": "unmute", "who": "a"},
        {"t": 1.0, "type": "leave", "who": "a"},
        {"t": 2.0, "type": "join", "who": "a"}, {"t": 2.0, "type": "unmute", "who": "a"},
        {"t": 3.0, "type": "leave", "who": "a"},
        {"t": 3.5, "type": "join", "who": "a"}])
    rec, _ = run_sim(path)
    joins = [e for e in rec.events if e.type == "join" and e.key == "a"]
    assert len(joins) == 3
    assert len({e.user_id for e in joins}) == 3  # a new SDK user id on every (re)join
    assert {e.persistent_id for e in joins} == {joins[0].persistent_id} and joins[0].persistent_id
    b_join = next(e for e in rec.events if e.type == "join" and e.key == "b")
    assert b_join.user_id not in {e.user_id for e in joins} and b_join.persistent_id != joins[0].persistent_id
    # a leave carries the id of the join it ends
    leaves = [e for e in rec.events if e.type == "leave"]
    assert [e.user_id for e in leaves] == [joins[0].user_id, joins[1].user_id]
    # audio of each stay arrives under that stay's user id, and only then
    first = [c for c in rec.audio if c[1] == joins[0].user_id]
    second = [c for c in rec.audio if c[1] == joins[1].user_id]
    assert chunk_starts(first, 10) == list(range(0, 100))
    assert chunk_starts(second, 10) == list(range(200, 300))
    assert not [c for c in rec.audio if c[1] == joins[2].user_id]  # rejoined muted
    # the analysis side sees one participant with three stays
    state = MeetingState()
    state.apply_all(rec.events)
    assert list(state.participants) == ["b", "a"]
    assert state.presence_intervals("a").tolist() == [[0.0, 1.0], [2.0, 3.0], [3.5, 4.0]]


def test_the_waiting_room_and_rest_only_fields_are_invisible_to_the_bot(tmp_path):
    """Zoom's waiting room, e-mail, registrant id and external flag exist on the REST side only."""
    path = write_scenario(tmp_path, duration=4.0, participants=[
        {"key": "a", "name": "Ann", "email": "ann@example.com", "registrant_id": "reg-1", "external": True}],
        events=[{"t": 0.5, "type": "waiting_room", "who": "a"}, {"t": 2.0, "type": "join", "who": "a"}])
    rec, _ = run_sim(path)
    assert [(e.type, e.t) for e in rec.events] == [("join", 2.0), ("end", 4.0)]
    assert not any("ann@example.com" in repr(e) or "reg-1" in repr(e) for e in rec.events)


# ------------------------------------------------------------------------------------------ audio gating
def test_audio_only_while_joined_and_unmuted(tmp_path):
    rate = 32000
    track = (np.random.default_rng(1).uniform(-0.5, 0.5, rate * 6))  # every chunk is audible
    a = write_wav(tmp_path / "a.wav", track, rate)
    b = write_wav(tmp_path / "b.wav", track[::-1].copy(), rate)
    path = write_scenario(tmp_path, duration=6.0, participants=[
        {"key": "a", "name": "Ann", "audio": a}, {"key": "b", "name": "Bo", "audio": b},
        {"key": "c", "name": "Cy (no microphone file)"}], events=[
        {"t": 0.0, "type": "unmute", "who": "a"},  # before joining: Zoom has nobody to unmute
        {"t": 0.5, "type": "join", "who": "a"},  # a join starts muted
        {"t": 1.0, "type": "unmute", "who": "a"},
        {"t": 1.5, "type": "mute", "who": "a"},
        {"t": 2.0, "type": "unmute", "who": "a"},
        {"t": 2.5, "type": "leave", "who": "a"},  # leaving unmuted: audio stops
        {"t": 3.0, "type": "join", "who": "a"},  # rejoin starts muted
        {"t": 0.25, "type": "join", "who": "b"}, {"t": 0.25, "type": "unmute", "who": "b"},
        {"t": 4.0, "type": "leave", "who": "b"},
        {"t": 0.0, "type": "join", "who": "c"}, {"t": 0.0, "type": "unmute", "who": "c"},
        {"t": 5.0, "type": "unmute", "who": "b"},  # after leaving: nothing
    ])
    rec, _ = run_sim(path)
    assert chunk_starts(rec.audio_of("a"), 10) == list(range(100, 150)) + list(range(200, 250))
    assert chunk_starts(rec.audio_of("b"), 10) == list(range(25, 400))
    assert not rec.audio_of("c")
    # every chunk is the track's own samples at its timestamp (t=0 is the meeting start)
    pcm = {k: sf.read(str(tmp_path / f), dtype="int16")[0] for k, f in (("a", a), ("b", b))}
    for key in ("a", "b"):
        for _, _, ts, sr, x in rec.audio_of(key):
            i0 = int(round(ts / 1000 * rate))
            assert sr == rate
            np.testing.assert_array_equal(x, pcm[key][i0:i0 + len(x)])
    # the transport and the analysis agree on when a was audible
    state = MeetingState()
    state.apply_all(rec.events)
    assert state.unmuted_intervals("a").tolist() == [[1.0, 1.5], [2.0, 2.5]]


def test_audio_offset_places_track_on_meeting_clock(tmp_path):
    rate = 32000
    x = np.random.default_rng(2).uniform(-0.5, 0.5, rate * 2)
    a = write_wav(tmp_path / "a.wav", x, rate)
    path = write_scenario(tmp_path, duration=3.0, participants=[
        {"key": "a", "name": "Ann", "audio": a, "audio_offset_s": 0.5}], events=[
        {"t": 0.0, "type": "join", "who": "a"}, {"t": 0.0, "type": "unmute", "who": "a"}])
    rec, _ = run_sim(path)
    got = np.concatenate([c[4] for c in rec.audio_of("a")])
    src = sf.read(str(tmp_path / a), dtype="int16")[0]
    assert len(got) == 3 * rate
    assert not got[: rate // 2].any()  # before the offset: digital silence
    np.testing.assert_array_equal(got[rate // 2: rate // 2 + len(src)], src)
    assert not got[rate // 2 + len(src):].any()  # after the file ends


# ------------------------------------------------------------------------------------------ chunks and clocks
@pytest.mark.parametrize(("rate", "frame_ms"), [(32000, 10), (48000, 10), (48000, 20), (32000, 30)])
def test_chunk_size_and_timestamps(tmp_path, rate, frame_ms):
    dur = 2.4  # a whole number of 10, 20 and 30 ms frames
    a = write_wav(tmp_path / "a.wav", tone(rate, dur), rate)
    path = write_scenario(tmp_path, duration=dur, rate=rate, frame_ms=frame_ms, participants=[
        {"key": "a", "name": "Ann", "audio": a}], events=[
        {"t": 0.0, "type": "join", "who": "a"}, {"t": 0.0, "type": "unmute", "who": "a"}])
    rec, transport = run_sim(path)
    n = rate * frame_ms // 1000
    assert transport.chunk == n
    chunks = rec.audio
    assert len(chunks) == 2400 // frame_ms
    assert {c[3] for c in chunks} == {rate}
    assert {len(c[4]) for c in chunks} == {n}
    ts = np.array([c[2] for c in chunks])
    assert ts[0] == 0
    np.testing.assert_allclose(np.diff(ts), frame_ms, atol=1e-6)  # GetTimeStamp in ms, one frame apart


def test_audio_file_is_resampled_to_the_scenario_rate(tmp_path):
    """A 16 kHz file with a 1 kHz tone arrives as 48 kHz chunks that still carry a clean 1 kHz tone."""
    a = write_wav(tmp_path / "a16k.wav", tone(16000, 1.0, hz=1000.0, dbfs=-12.0), 16000)
    path = write_scenario(tmp_path, duration=1.0, rate=48000, participants=[
        {"key": "a", "name": "Ann", "audio": a}], events=[
        {"t": 0.0, "type": "join", "who": "a"}, {"t": 0.0, "type": "unmute", "who": "a"}])
    rec, _ = run_sim(path)
    assert {len(c[4]) for c in rec.audio} == {480}
    x = np.concatenate([c[4] for c in rec.audio]).astype(np.float64) / 32768.0
    assert len(x) == 48000
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / 48000)
    assert freqs[np.argmax(spec)] == pytest.approx(1000.0, abs=2.0)
    # level kept (-12 dBFS RMS), and no imaging at 16 kHz ± 1 kHz (a naive sample-repeat would leave it)
    core = x[4800:-4800]
    assert 20 * np.log10(np.sqrt(np.mean(core ** 2))) == pytest.approx(-12.0, abs=0.5)
    peak = spec.max()
    for image in (15000.0, 17000.0):
        band = spec[(freqs > image - 50) & (freqs < image + 50)]
        assert band.max() < peak * 1e-3, image


def test_media_time_is_monotonic_and_ends_at_duration(tmp_path):
    dur = 2.37  # not a whole number of ticks: the tail must still be delivered
    a = write_wav(tmp_path / "a.wav", tone(32000, dur), 32000)
    path = write_scenario(tmp_path, duration=dur, participants=[
        {"key": "a", "name": "Ann", "audio": a}, {"key": "b", "name": "Bo"}], events=[
        {"t": 0.0, "type": "join", "who": "a"}, {"t": 0.0, "type": "unmute", "who": "a"},
        {"t": 1.234, "type": "join", "who": "b"},
        {"t": 2.365, "type": "leave", "who": "b"}])
    rec, transport = run_sim(path, tick_s=0.05)
    times = rec.times
    assert times, "on_media_time never called"
    assert all(b >= a for a, b in zip(times, times[1:]))
    assert times[-1] == pytest.approx(dur)
    assert 0 < times[0] <= 0.05 + 1e-9
    assert max(b - a for a, b in zip(times, times[1:])) <= 0.05 + 1e-9
    # on_media_time(t) promises that everything before t has been delivered
    clock = 0.0
    for call in rec.calls:
        if call[0] == "time":
            clock = call[1]
        elif call[0] == "audio":
            assert call[2] / 1000 >= clock - 1e-9, (call[2], clock)
        elif call[0] == "event":
            assert call[1].t >= clock - 1e-9, (call[1], clock)
    # all audio up to the end arrived, and the meeting ends with one 'end' event at duration
    assert chunk_starts(rec.audio, 10) == list(range(237))
    assert [e.type for e in rec.events].count("end") == 1
    assert rec.events[-1].type == "end" and rec.events[-1].t == pytest.approx(dur)
    assert [e.type for e in rec.events if e.key == "b"] == ["join", "leave"]


def test_an_end_event_ends_the_meeting_early(tmp_path):
    a = write_wav(tmp_path / "a.wav", tone(32000, 4.0), 32000)
    path = write_scenario(tmp_path, duration=4.0, participants=[{"key": "a", "name": "Ann", "audio": a}],
                          events=[{"t": 0.0, "type": "join", "who": "a"}, {"t": 0.0, "type": "unmute", "who": "a"},
                                  {"t": 2.5, "type": "end"}, {"t": 3.0, "type": "video_on", "who": "a"}])
    rec, _ = run_sim(path)
    assert rec.times[-1] == pytest.approx(2.5)
    assert max(c[2] for c in rec.audio) < 2500  # no audio after the end
    assert [e.type for e in rec.events] == ["join", "unmute", "end"]  # nothing after it either
    assert rec.events[-1].t == pytest.approx(2.5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        assert s > 0
        self.sleeps.append(s)
        self.now += s


def _pacing_scenario(tmp_path: Path, dur: float) -> Path:
    a = write_wav(tmp_path / "a.wav", tone(32000, dur), 32000)
    return write_scenario(tmp_path, duration=dur, participants=[{"key": "a", "name": "Ann", "audio": a}],
                          events=[{"t": 0.0, "type": "join", "who": "a"}, {"t": 0.0, "type": "unmute", "who": "a"}])


@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_real_time_pacing_with_injected_clock(tmp_path, speed):
    dur = 3.0
    fake = FakeClock()
    rec, _ = run_sim(_pacing_scenario(tmp_path, dur), speed=speed, tick_s=0.05, sleep=fake.sleep, clock=fake.clock)
    assert sum(fake.sleeps) == pytest.approx(dur / speed, abs=0.05 / speed)
    # paced all along, not in one sleep at the end: media time t is reached at wall time t / speed
    for _, t, wall in (c for c in rec.calls if c[0] == "time"):
        assert wall == pytest.approx(t / speed, abs=0.05 / speed + 1e-9), t
    assert len(fake.sleeps) >= dur / 0.05 * 0.9


def test_pacing_accounts_for_processing_time(tmp_path):
    """Time spent in the handler is not slept again: the replay still takes the meeting's duration."""
    dur = 2.0
    fake = FakeClock()

    class Slow(Recorder):
        def on_one_way_audio(self, data, node_id):
            fake.now += 0.004  # 40 % of each 10 ms chunk spent processing
            super().on_one_way_audio(data, node_id)

    path = _pacing_scenario(tmp_path, dur)
    transport = SimulatorTransport(path, load_scenario(path), speed=1.0, tick_s=0.05, sleep=fake.sleep,
                                   clock=fake.clock)
    transport.run(Slow(fake.clock))
    assert fake.now == pytest.approx(dur, abs=0.05)
    assert sum(fake.sleeps) == pytest.approx(dur * 0.6, abs=0.05)


def test_max_speed_never_sleeps_and_bad_speed_is_refused(tmp_path):
    path = _pacing_scenario(tmp_path, 1.0)

    def no_sleep(s):
        raise AssertionError("speed=None must not sleep")

    rec, _ = run_sim(path, speed=None, sleep=no_sleep)
    assert rec.times[-1] == pytest.approx(1.0)
    for bad in (0, -1.0):
        with pytest.raises(ValueError):
            SimulatorTransport(path, load_scenario(path), speed=bad)


def test_silence_suppression_sends_nothing_for_quiet_chunks(tmp_path):
    rate = 32000
    rng = np.random.default_rng(3)
    x = np.concatenate([
        np.zeros(rate),  # 0-1 s digital silence
        tone(rate, 1.0, dbfs=-20.0),  # 1-2 s clearly audible
        rng.standard_normal(rate) * 10 ** (-70 / 20),  # 2-3 s a -70 dBFS hiss
        tone(rate, 1.0, dbfs=-45.0),  # 3-4 s quiet but above the -50 dBFS threshold
    ])
    a = write_wav(tmp_path / "a.wav", x, rate)
    path = write_scenario(tmp_path, duration=4.0, participants=[{"key": "a", "name": "Ann", "audio": a}],
                          events=[{"t": 0.0, "type": "join", "who": "a"}, {"t": 0.0, "type": "unmute", "who": "a"}])
    rec, _ = run_sim(path, silence_suppression_dbfs=-50.0)
    assert chunk_starts(rec.audio, 10) == list(range(100, 200)) + list(range(300, 400))
    plain, _ = run_sim(path)  # off by default: Zoom-like, every unmuted chunk
    assert chunk_starts(plain.audio, 10) == list(range(400))


# ------------------------------------------------------------------------------------------ consent
CONSENT_SECRET = "my private number is five five five"
CONSENT_SCRIPT = {
    "meeting": {"id": "85000000002", "topic": "Consent", "start": START, "duration_s": 8,
                "sample_rate": 32000, "frame_ms": 10},
    "participants": [
        {"key": "yes", "name": "Yara Agrees", "voice": {"name": "en-us", "variant": "f4"}},
        {"key": "no", "name": "Noor Optout", "consent": False, "voice": "en-gb-x-rp+m3"},
    ],
    "timeline": [
        {"t": 0.0, "type": "join", "who": "yes"}, {"t": 0.0, "type": "unmute", "who": "yes"},
        {"t": 0.0, "type": "join", "who": "no"}, {"t": 0.0, "type": "unmute", "who": "no"},
        {"t": 0.0, "type": "video_on", "who": "no"},
        {"t": 0.5, "type": "say", "who": "yes", "text": "Hello everyone, thanks for coming."},
        {"t": 3.5, "type": "say", "who": "no", "text": "I would rather not be recorded today."},
        {"t": 6.0, "type": "chat", "who": "no", "text": CONSENT_SECRET, "to": "everyone"},
        {"t": 6.5, "type": "raise_hand", "who": "no"},
    ],
}


@pytest.fixture(scope="module")
def consent_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("consent")
    script = d / "script.yaml"
    script.write_text(yaml.safe_dump(CONSENT_SCRIPT, sort_keys=False), encoding="utf-8")
    scenario = generate(script, d / "scenario")
    truth = json.loads((d / "scenario" / "truth.json").read_text(encoding="utf-8"))
    result = replay(scenario, d / "out", speed=None)
    report = json.loads(result.report_json.read_text(encoding="utf-8"))
    return truth, report, d / "out"


def test_opted_out_participant_has_presence_only(consent_run):
    truth, report, _ = consent_run
    assert truth["participants"]["no"]["talk_s"] > 1.0  # they did speak into an open microphone
    rows = {p["key"]: p for p in report["participants"]}
    no, yes = rows["no"], rows["yes"]
    assert no["consent"] is False
    assert [(p["join_s"], p["leave_s"]) for p in no["presence"]] == [(0.0, 8.0)]
    assert no["present_s"] == pytest.approx(8.0)
    for field in ("talk_time_s", "speaking_pct", "turns", "longest_monologue_s", "camera_on_s",
                  "chat_messages", "hand_raises", "attention_score", "engagement_score"):
        assert no[field] is None, field
    assert no["speech"] == [] and no["chat_times"] == [] and no["hand_raise_times"] == []
    # the control: the same pipeline does measure the consenting speaker
    assert yes["talk_time_s"] == pytest.approx(truth["participants"]["yes"]["talk_s"], abs=0.5)
    assert all(t["participant"] != "no" for t in report["transcript"])
    assert all(c["sender"] != "no" for c in report["chat"])


def test_opted_out_audio_is_dropped_at_ingest(consent_run):
    _, report, _ = consent_run
    ingest = report["ingest"]
    unmuted_samples = 8 * 32000
    assert ingest["no"]["dropped_consent_samples"] == unmuted_samples
    assert ingest["no"]["drained_samples"] == 0 and ingest["no"]["buffered_samples"] == 0
    assert ingest["yes"]["dropped_consent_samples"] == 0
    assert ingest["yes"]["drained_samples"] == unmuted_samples


def test_opted_out_chat_text_is_not_kept(consent_run):
    _, _, out = consent_run
    records = [json.loads(line) for line in (out / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    chats = [r for r in records if r.get("type") == "chat"]
    assert [r["key"] for r in chats] == ["no"]  # the message is counted as an event ...
    assert "text" not in chats[0]  # ... without its text
    assert not [r for r in records if r.get("kind") == "speech" and r["key"] == "no"]
    join = next(r for r in records if r.get("type") == "join" and r["key"] == "no")
    assert join["consent"] is False
    for name in ("events.jsonl", "live.jsonl", "report.json", "report.html"):
        assert CONSENT_SECRET not in (out / name).read_text(encoding="utf-8"), name
    for line in (out / "live.jsonl").read_text(encoding="utf-8").splitlines():
        row = next(p for p in json.loads(line)["participants"] if p["key"] == "no")
        assert row["talk_time_s"] is None and row["consent"] is False


def test_a_late_joiners_view_keeps_every_event_inside_its_meeting():
    """Events are shifted to the joiner's clock and rounded; the length is rounded alike, so an event at
    the very end never lands a hair after it (a bot joining 0.126643 s late used to fail to start)."""
    from analysis.scenario import Scenario
    from bot.simulator.scenario_view import join_late

    doc = {"meeting": {"id": "85000000071", "topic": "t", "start": "2026-11-20T15:00:00Z", "duration_s": 1.0},
           "participants": [{"key": "p1", "name": "A"}, {"key": "p2", "name": "B"}],
           "events": [{"t": 0.0, "type": "join", "who": "p1"}, {"t": 0.5, "type": "join", "who": "p2"},
                      {"t": 1.0, "type": "leave", "who": "p2"}]}
    for join_s in (0.126643, 0.1, 1 / 3, 0.999999):
        view = join_late(Scenario.model_validate(doc), join_s)
        assert all(e.t <= view.meeting.duration_s for e in view.events), join_s
        assert [(e.t, e.type, e.who) for e in view.events if e.t == 0.0] == [(0.0, "join", "p1")] + (
            [(0.0, "join", "p2")] if join_s >= 0.5 else [])
