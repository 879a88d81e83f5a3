"""The RTMS transport against the stand-in ``rtms`` module (tests/fake_rtms.py, held to the real one by
tests/test_rtms_contract.py): the AMI minute gives exactly the simulator's talk time, and every way a
stream goes wrong ends in the right outcome without a call into the SDK from its own thread."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from datetime import UTC, datetime

import numpy as np
import pytest

from analysis.events import MeetingEvent
from analysis.report import iso_utc
from bot.rtms.run import NOT_OBSERVED, run_stream
from bot.rtms.session import RtmsConfig, RtmsSession
from bot.rtms.stream import StreamSpec, spec_from_webhook
from bot.rtms.traps import Inbox, RtmsConfigError, audio_params
from bot.scenario import Track, load_scenario
from bot.simulator.replay import replay
from bot.lifecycle import Outcome
from conftest import AMI_DIR, require_shared_data
from fake_rtms import AudioParams, FakeRtms, Metadata, Person, StreamScript
from test_talk_detector import speech_like

EVENT_TS_MS = 1_796_400_000_000


def started_ago(seconds: float) -> int:
    """The start, on Zoom's clock, of a stream whose ``seconds`` of audio all lie in the past by now (the
    stand-in sends as fast as it can, and a packet from the future is not believed); within Zoom's 60 s
    backlog, so none of it counts as missed."""
    return int((time.time() - seconds) * 1000)
CREDENTIALS = ("rtms-client", "rtms-secret")


def _spec(script: StreamScript) -> StreamSpec:
    return StreamSpec(meeting_uuid=script.meeting_uuid, rtms_stream_id=script.stream_id, server_urls="wss://x/s",
                      meeting_id="85020040750", started_ms=script.t0_ms)


def _run(script: StreamScript, out: Path, **kw):
    fake = FakeRtms(script)
    lc = run_stream(fake, _spec(script), CREDENTIALS, out, config=kw.pop("config", RtmsConfig(rate_hz=script.rate)),
                    tick_s=0.005, **kw)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
    return fake, lc, report


def _voice(seconds: float, bursts: list[tuple[float, float]], seed: int) -> np.ndarray:
    """Speech-like bursts over a faint noise floor, at 16 kHz."""
    x, _ = speech_like(seconds, bursts, 120.0 + 15 * seed, seed)
    x = x + np.random.default_rng(seed).normal(0, 20, len(x))
    return np.clip(x, -32768, 32767).astype(np.int16)


def test_the_ami_minute_through_rtms_gives_the_simulators_talk_time_exactly(tmp_path):
    """Per-participant 32 kHz L16 in 20 ms packets, as RTMS sends it, against `rollcall replay`'s 10 ms SDK
    chunks of the same samples: the same talk time for everyone, to the hundredth of a second."""
    ami = require_shared_data(AMI_DIR) / "scenario.yaml"
    scenario = load_scenario(ami)
    rate = 32000
    people = [Person(16_778_240 + i, p.name) for i, p in enumerate(scenario.participants)]
    audio = {person.user_id: Track(ami, i, p, rate, scenario.end_s).read(0, int(scenario.end_s * rate))
             for i, (person, p) in enumerate(zip(people, scenario.participants))}
    t0 = started_ago(60)
    fake, lc, report = _run(StreamScript("ami==", "ami-stream", t0, rate, people, audio), tmp_path / "rtms")
    assert lc.outcome is Outcome.MEETING_ENDED and fake.reentrant == [] and fake.hazards == []
    assert fake.calls.callback_errors == []
    got = {p["name"]: p["talk_time_s"] for p in report["participants"]}
    want = {p.name: p.talk_time_s for p in replay(ami, tmp_path / "replay").report.participants}
    assert got == want and min(want.values()) > 0.5
    assert report["observer"]["transport"] == "rtms" and report["observer"]["not_observed"] == NOT_OBSERVED
    assert report["meeting"]["started_at"] == iso_utc(datetime.fromtimestamp(t0 / 1000, UTC))  # media time 0
    # what RTMS cannot see is null, never 0, and left out of the scores
    for p in report["participants"]:
        assert (p["hand_raises"], p["chat_messages"], p["reactions"], p["camera_on_s"], p["unmuted_s"]) == (None,) * 5
        assert set(p["attention"]["weights"]) == {"presence", "speaking"}
        assert p["attention"]["camera_share"] is None and p["engagement"]["nonverbal_component"] is None
    assert report["meeting_metrics"]["hand_raises"] is None
    last = json.loads((tmp_path / "rtms" / "live.jsonl").read_text().splitlines()[-1])
    assert (last["totals"]["hand_raises"], last["totals"]["camera_on"]) == (None, None)
    assert all(p["hand_up"] is None and p["camera_on"] is None for p in last["participants"])
    html = (tmp_path / "rtms" / "report.html").read_text()
    assert "None" not in html and "camera not observed" in html


def test_roster_churn_rejoins_and_audio_without_a_roster_event(tmp_path):
    """A rejoin (new user id, same name) is one participant with two stays, at the events' own times; audio
    from someone the roster never announced makes them a participant (by user id) rather than vanish."""
    rate = 16000
    people = [Person(101, "Ana", 0.0, 3.0), Person(102, "Ana", 4.0), Person(103, "Bo", 1.0),
              Person(104, "", 0.0, in_roster=False)]
    audio = {101: _voice(3.0, [(0.5, 2.5)], 1), 102: _voice(8.0, [(5.0, 7.0)], 2),
             103: _voice(8.0, [], 3), 104: _voice(8.0, [(2.0, 3.0)], 4)}
    fake, lc, report = _run(StreamScript("m==", "s", started_ago(8), rate, people, audio), tmp_path)
    rows = {p["key"]: p for p in report["participants"]}
    assert set(rows) == {"rtms:Ana", "rtms:Bo", "rtms-user-104"}
    ana = rows["rtms:Ana"]
    assert [(s["join_s"], s["leave_s"]) for s in ana["presence"]][0] == (0.0, 3.0)
    assert ana["presence"][1]["join_s"] == 4.0 and ana["joins"] == 2
    assert rows["rtms:Bo"]["first_join_s"] == 1.0 and rows["rtms:Bo"]["talk_time_s"] == 0.0
    assert 3.0 <= ana["talk_time_s"] <= 4.6 and 0.6 <= rows["rtms-user-104"]["talk_time_s"] <= 1.4
    # on_user_update registered before the join subscribed to the roster; nothing that can deadlock was called
    assert fake.calls.subscriptions == [] and fake.reentrant == [] and fake.hazards == []


def test_a_dropped_connection_is_retryable_and_keeps_what_was_measured(tmp_path):
    rate = 16000
    script = StreamScript("m==", "s", started_ago(10), rate, [Person(7, "Cy")], {7: _voice(10.0, [(1.0, 3.0)], 5)},
                          drop_at_s=5.0)
    fake, lc, report = _run(script, tmp_path)
    assert lc.outcome is Outcome.STREAM_INTERRUPTED and lc.exit_code == 30
    assert fake.calls.left == 1 and fake.reentrant == [] and fake.hazards == []  # once, loop stopped first
    assert 4.9 <= report["meeting"]["duration_s"] <= 5.1 and report["participants"][0]["talk_time_s"] > 1.5


@pytest.mark.parametrize("backlog_s, unseen_s", [(60.0, 40.0), (0.0, 100.0)])
def test_what_zoom_does_not_resend_from_before_the_connection_is_not_observed(tmp_path, backlog_s, unseen_s):
    """A stream that started 100 s before the worker connected: Zoom resends at most its 60 s backlog to a
    first connection, nothing is assumed for a replacement's; the rest is a gap, not silence."""
    rate = 16000
    t0 = int(time.time() * 1000) - 100_000
    live = np.concatenate([np.zeros(100 * rate, dtype=np.int16), _voice(2.0, [(0.5, 1.5)], 8)])
    script = StreamScript("m==", "s", t0, rate, [Person(7, "Cy")], {7: live})
    _, lc, report = _run(script, tmp_path, config=RtmsConfig(rate_hz=rate, backlog_s=backlog_s))
    (gap,) = report["observer"]["gaps"]
    assert gap["start_s"] == 0.0 and unseen_s <= gap["end_s"] <= unseen_s + 2.0 and gap["reason"] == "reconnecting"


@pytest.mark.parametrize("stop_reason, outcome, code", [
    (6, Outcome.MEETING_ENDED, 0), (1, Outcome.STREAM_STOPPED, 6), (11, Outcome.STREAM_INTERRUPTED, 30),
    (18, Outcome.RTMS_AUTH_FAILED, 31), (26, Outcome.RTMS_NOT_SUPPORTED, 32), (960, Outcome.STREAM_INTERRUPTED, 30)])
def test_how_a_stream_ends_decides_the_exit_code(tmp_path, stop_reason, outcome, code):
    rate = 16000
    script = StreamScript("m==", "s", started_ago(1), rate, [Person(7, "Cy")], {7: _voice(1.0, [], 6)},
                          end_reason=stop_reason)
    _, lc, _ = _run(script, tmp_path)
    assert lc.outcome is outcome and lc.exit_code == code


def test_a_refused_signature_and_silently_refused_parameters(tmp_path):
    rate = 16000
    script = StreamScript("m==", "s", started_ago(1), rate, [Person(7, "Cy")], {7: _voice(1.0, [], 7)},
                          client_secret="another-secret")
    _, lc, report = _run(script, tmp_path / "signature")
    assert lc.outcome is Outcome.RTMS_AUTH_FAILED and report is None
    # a rate the stream does not have: the server refuses the media handshake, which is the join's result
    script = StreamScript("m==", "s", started_ago(1), rate, [Person(7, "Cy")], {7: _voice(1.0, [], 7)})
    _, lc, report = _run(script, tmp_path / "rate", config=RtmsConfig(rate_hz=48000))
    assert lc.outcome is Outcome.RTMS_AUDIO_REFUSED and lc.exit_code == 33 and report is None
    # parameters the SDK itself refuses (a frame size that does not fit): not a word; the watchdog ends it
    fake = FakeRtms(script)
    fake.AudioParams = _WrongFrame
    lc = run_stream(fake, _spec(script), CREDENTIALS, tmp_path / "params", tick_s=0.005,
                    config=RtmsConfig(rate_hz=rate, join_timeout_s=0.3))
    assert lc.outcome is Outcome.CONNECTION_LOST and "no join confirmation" in lc.detail


class _WrongFrame(AudioParams):
    """Parameters whose frame size a setter of ours could get wrong: what the SDK fails silently on."""

    def __setattr__(self, name, value):
        super().__setattr__(name, value + 1 if name == "frame_size" else value)


def test_what_we_ask_for_is_checked_before_the_join():
    fake = FakeRtms()
    with pytest.raises(RtmsConfigError, match="22050"):
        audio_params(fake, 22050)
    with pytest.raises(RtmsConfigError, match="multiple of 20"):
        audio_params(fake, 16000, duration_ms=30)
    p = audio_params(fake, 48000, duration_ms=40)
    assert (p.frame_size, p.codec, p.channel, p.data_opt) == (1920, 1, 1, 2)


def test_a_callback_never_raises_into_the_sdk():
    inbox = Inbox()
    broken = inbox.callback("audio", lambda data, size, ts, md: (md.userId,))  # a metadata without userId
    assert broken(b"\0\0", 2, 1, object()) is None
    ok = inbox.callback("leave")
    ok(6)
    assert inbox.errors == {"audio": 1} and [(d.kind, d.args) for d in inbox.drain()] == [("leave", (6,))]


def test_the_stream_named_by_a_webhook_flat_or_nested():
    flat = {"event": "meeting.rtms_started", "event_ts": EVENT_TS_MS,
            "payload": {"meeting_uuid": "u==", "rtms_stream_id": "st", "server_urls": "wss://a", "meeting_id": 85}}
    nested = {"event": "meeting.rtms_started", "event_ts": EVENT_TS_MS, "payload": {"object": flat["payload"]}}
    assert spec_from_webhook(flat) == spec_from_webhook(nested) == StreamSpec(
        meeting_uuid="u==", rtms_stream_id="st", server_urls="wss://a", meeting_id="85", started_ms=EVENT_TS_MS)


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", "rtms", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_the_command_refuses_what_rtms_cannot_do_with_exit_2(tmp_path):
    creds = {"ZOOM_RTMS_CLIENT_ID": "id", "ZOOM_RTMS_CLIENT_SECRET": "secret-xyz"}
    hook = tmp_path / "started.json"
    hook.write_text(json.dumps({"event": "meeting.rtms_started", "payload": {"meeting_uuid": "u==",
                                                                            "server_urls": "wss://a"}}))
    proc = _cli("--webhook", str(hook), "--out", str(tmp_path / "o"), env=creds)
    assert proc.returncode == 2 and str(hook) in proc.stderr and "rtms_stream_id" in proc.stderr
    proc = _cli("--meeting-uuid", "u", "--stream-id", "s", "--server-urls", "wss://a", "--policy", "default", env=creds)
    assert proc.returncode == 2 and "roll calls" in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli("--meeting-uuid", "u", "--stream-id", "s", "--server-urls", "wss://a",
                env={"ZOOM_RTMS_CLIENT_ID": "", "ZOOM_RTMS_CLIENT_SECRET": ""})
    assert proc.returncode == 2 and "ZOOM_RTMS_CLIENT_SECRET" in proc.stderr
    proc = _cli("--audio-rate", "22050", env=creds)
    assert proc.returncode == 2 and "22050" in proc.stderr
    hook.write_text("[1, 2]")
    proc = _cli("--webhook", str(hook), env=creds)
    assert proc.returncode == 2 and "not a JSON object" in proc.stderr and "Traceback" not in proc.stderr
    target = ("--meeting-uuid", "u", "--stream-id", "s", "--server-urls", "wss://a")
    proc = _cli(*target, "--started-ms", "1700000000000", env=creds)  # 2023: not this stream's start
    assert proc.returncode == 2 and "--started-ms" in proc.stderr
    (tmp_path / "a-file").write_text("")
    proc = _cli(*target, "--out", str(tmp_path / "a-file"), env=creds)
    assert proc.returncode == 2 and "--out" in proc.stderr and "Traceback" not in proc.stderr


class _Seen:
    """A handler that keeps what the session hands on."""

    def __init__(self) -> None:
        self.events: list[MeetingEvent] = []
        self.audio: list[tuple[int, float]] = []
        self.media: list[float] = []

    def on_meeting_event(self, ev: MeetingEvent) -> None:
        self.events.append(ev)

    def on_one_way_audio(self, data, node_id: int) -> None:
        self.audio.append((node_id, data.GetTimeStamp()))

    def on_media_time(self, t: float) -> None:
        self.media.append(t)


def _open_session(t0: int) -> tuple[RtmsSession, _Seen]:
    script = StreamScript("m==", "s", t0, 16000, [], {})
    seen = _Seen()
    session = RtmsSession(FakeRtms(script), _spec(script), CREDENTIALS, seen, RtmsConfig(rate_hz=16000))
    session.start()
    deadline = time.monotonic() + 5
    while not session.opened and time.monotonic() < deadline:
        session.tick()
        time.sleep(0.01)
    return session, seen


def test_what_zoom_sends_that_cannot_be_believed_is_dropped_and_counted_never_fatal():
    t0 = started_ago(10)
    session, seen = _open_session(t0)
    event, audio = session.client._cbs["on_event_ex"], session.client._cbs["on_audio_data"]  # as the SDK calls
    packet = np.zeros(320, dtype=np.int16).tobytes()
    for raw in ('{"event_type": 3, "participants": 5}', '{"event_type": 1e400, "participants": []}',
                '[1, 2]', '{"event_type": 3, "participants": [{"user_id": true, "user_name": "Bool"}]}',
                "[" * 100_000 + "]" * 100_000, "not json"):
        event(raw)
    event(json.dumps({"event_type": 3, "timestamp": t0 + 1000,
                      "participants": [{"user_id": 5, "user_name": ["not", "a", "name"]}]}))
    audio(packet, 640, t0 + 3_600_000, Metadata(5, ""))  # an hour in the future
    audio(packet, 640, 1, Metadata(5, ""))  # 1970
    audio(packet, 640, t0 + 2000, Metadata(-1, ""))  # a mixed stream's nobody
    audio(packet, 640, t0 + 2000, Metadata(5, ""))
    session.tick()
    session.leave()
    assert [(e.type, e.key, e.t) for e in seen.events if e.type in ("join", "leave")] == [("join", "rtms-user-5", 1.0)]
    assert seen.audio == [(5, 2000.0)] and max(seen.media) < 15.0
    assert session.dropped == {"event: not a roster change": 3, "event: participant": 1, "event: RecursionError": 1,
                               "event: JSONDecodeError": 1, "audio: user id or timestamp": 3}


def test_namesakes_stay_apart_and_a_name_learned_late_keeps_its_key():
    t0 = started_ago(10)
    session, seen = _open_session(t0)
    event, audio = session.client._cbs["on_event_ex"], session.client._cbs["on_audio_data"]  # as the SDK calls
    packet = np.zeros(320, dtype=np.int16).tobytes()
    roster = lambda kind, at_s, *people: event(json.dumps({  # noqa: E731
        "event_type": kind, "timestamp": t0 + int(at_s * 1000),
        "participants": [{"user_id": u, "user_name": n} for u, n in people]}))
    audio(packet, 640, t0 + 500, Metadata(9, ""))  # audio before any roster: keyed by user id
    roster(3, 0.4, (9, "Dee"))  # the name arrives: a rename, and the key stays
    roster(3, 1.0, (1, "Bo"), (2, "Bo"))  # two people called Bo at once
    roster(4, 2.0, (9, "Dee"), (1, "Bo"))
    roster(3, 3.0, (10, "Dee"), (3, "Bo"))  # both rejoin with new user ids
    session.tick()
    session.leave()
    joins = [(e.key, e.user_id) for e in seen.events if e.type == "join"]
    assert joins == [("rtms-user-9", 9), ("rtms:Bo", 1), ("rtms:Bo#2", 2), ("rtms-user-9", 10), ("rtms:Bo", 3)]
    assert [(e.key, e.name) for e in seen.events if e.type == "rename"] == [("rtms-user-9", "Dee")]
