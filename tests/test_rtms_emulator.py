"""The RTMS server emulator (``orchestrator/emulator/rtms.py``) against the real ``rtms`` 1.1.0 SDK: a scripted
stream arrives byte for byte with its roster and its end, and the emulator refuses what Zoom refuses and drops
what a network drops, as the SDK then reports it. Each client is a child process, as the bot will be: the SDK
can hang or abort at exit, so the child's callbacks only queue, it calls nothing of the SDK after ``join``
(``subscribe_event`` from the main thread deadlocked while audio callbacks ran) and never ``uninitialize()``,
and it ends with ``os._exit``; its cwd is private (the SDK's ./logs would hold signatures) and it is killed
after a timeout."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from orchestrator.emulator.rtms import (RtmsEmulator, StreamScript, active_speakers, rtms_started, rtms_stopped,
                                        signature)
from orchestrator.webhooks.events import check_envelope, parse_event

UUID, CLIENT_ID, SECRET = "4444AAAiAAAAAiAiAiiAii==", "emu-rtms-client", "emu-rtms-secret"
T0_MS = 1_796_400_000_000
PEOPLE = ((101, "Ana", 0.0, None), (102, "Bo", 0.5, 3.0), (103, "Cy", 1.0, None))

CLIENT = r"""
import hashlib, json, os, queue, sys, time
cfg = json.loads(sys.argv[1])
import rtms
inbox = queue.SimpleQueue()
client = rtms.Client()
p = rtms.AudioParams()  # L16 raw mono, one stream per speaker, 20 ms frames
p.content_type, p.codec, p.channel = rtms.AudioContentType.RAW_AUDIO, rtms.AudioCodec.L16, rtms.AudioChannel.MONO
p.sample_rate = getattr(rtms.AudioSampleRate, f"SR_{cfg['rate'] // 1000}K")
p.data_opt, p.duration, p.frame_size = rtms.DataOption.AUDIO_MULTI_STREAMS, 20, cfg["rate"] // 50
client.set_audio_params(p)
client.on_join_confirm(lambda reason: inbox.put(("join", reason)))
client.on_leave(lambda reason: inbox.put(("leave", reason)))
client.on_user_update(lambda op, who: inbox.put(("users", [op, who.id, who.name])))  # subscribes events 2, 3, 4
client.on_participant_event(lambda op, ts, who: inbox.put(
    ("participants", [op, ts, [[w["user_id"], w["user_name"]] for w in who]])))
client.on_audio_data(lambda data, size, ts, md: inbox.put(("audio", md.userId, md.userName, ts, bytes(data))))
sys.stdin.readline()  # imported and set up: the test says when to connect
client.join(meeting_uuid=cfg["meeting_uuid"], rtms_stream_id=cfg["stream_id"], server_urls=cfg["server_urls"],
            signature=cfg["signature"], timeout=3000)
out, digests = {"join": [], "leave": [], "users": [], "participants": [], "audio": {}}, {}
deadline, ended = time.monotonic() + cfg["deadline_s"], None
while time.monotonic() < (deadline if ended is None else min(deadline, ended + 0.3)):
    try:
        item = inbox.get(timeout=0.05)
    except queue.Empty:
        continue
    if item[0] == "audio":
        heard = out["audio"].setdefault(str(item[1]), {"name": item[2], "ts": []})
        heard["ts"].append(item[3])
        digests.setdefault(item[1], hashlib.sha256()).update(item[4])
    else:
        out[item[0]].append(item[1])
        if item[0] == "leave" or item[0] == "join" and item[1] != 0:
            ended = time.monotonic()
for uid, digest in digests.items():
    out["audio"][str(uid)]["sha256"] = digest.hexdigest()
with open("result.json", "w") as f:
    json.dump(out, f)
os._exit(0)
"""


class SdkClient:
    """The real SDK in a child process, set up and waiting for ``connect()``."""

    def __init__(self, emu: RtmsEmulator, work: Path, script: StreamScript, *, rate: int | None = None,
                 secret: str = SECRET, deadline_s: float = 10.0) -> None:
        work.mkdir()
        self.work = work
        cfg = {"meeting_uuid": script.meeting_uuid, "stream_id": script.stream_id,
               "server_urls": emu.url(script.stream_id), "rate": rate or script.rate, "deadline_s": deadline_s,
               "signature": signature(CLIENT_ID, secret, script.meeting_uuid, script.stream_id)}
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZM_RTMS_")}
        env |= {"ZM_RTMS_CA": str(emu.ca_pem_path), "ZM_RTMS_LOG_LEVEL": "error"}
        with open(work / "output.txt", "w") as output:
            self.proc = subprocess.Popen([sys.executable, "-c", CLIENT, json.dumps(cfg)], cwd=work, env=env,
                                         stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT, text=True)
        self.deadline_s = deadline_s

    def connect(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def result(self) -> dict:
        try:
            self.proc.wait(self.deadline_s + 15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the SDK client hung: {self.output()}")
        assert self.proc.returncode == 0, self.output()
        return json.loads((self.work / "result.json").read_text())

    def output(self) -> str:
        return (self.work / "output.txt").read_text()[-3000:]


@pytest.fixture()
def emu(tmp_path):
    with RtmsEmulator(tmp_path, keepalive_s=0.5) as server:
        yield server


@pytest.fixture()
def sdk(emu, tmp_path):
    """Makes SDK clients (each in ``tmp_path/<name>``); any still running at the end is killed."""
    made: list[SdkClient] = []

    def make(name: str, script: StreamScript, **kw) -> SdkClient:
        made.append(SdkClient(emu, tmp_path / name, script, **kw))
        return made[-1]

    yield make
    for client in made:
        client.proc.kill()
        client.proc.wait()


def stream(stream_id: str, seconds: int, **kw) -> StreamScript:
    """Every participant loud all along (white noise), so everyone joined is an active speaker."""
    rng = np.random.default_rng(7)
    audio = {uid: (rng.standard_normal(16000 * seconds) * 3000).astype(np.int16) for uid, *_ in PEOPLE}
    return StreamScript(UUID, stream_id, CLIENT_ID, SECRET, T0_MS, 16000, PEOPLE, audio, **kw)


def delivered(emu: RtmsEmulator, stream_id: str, until_s: float) -> float:
    """Waits until the stream's audio is out up to ``until_s``; returns how far it is."""
    deadline = time.monotonic() + 10
    while emu.delivered_until_s(stream_id) < until_s:
        assert time.monotonic() < deadline, f"{stream_id} stuck at {emu.delivered_until_s(stream_id)} s"
        time.sleep(0.01)
    return emu.delivered_until_s(stream_id)


def heard(script: StreamScript, uid: int, from_s: float, to_s: float) -> dict:
    """What the client should get of ``uid`` between two stream times: name, packet timestamps and digest."""
    first, last = round(from_s * 50), round(to_s * 50)
    name = next(name for who, name, *_ in script.participants if who == uid)
    pcm = script.audio[uid][first * script.frame:last * script.frame].astype("<i2").tobytes()
    return {"name": name, "ts": [T0_MS + 20 * k for k in range(first, last)], "sha256": hashlib.sha256(pcm).hexdigest()}


def run(emu: RtmsEmulator, sdk, script: StreamScript, **kw) -> dict:
    emu.add_stream(script)
    client = sdk("client", script, **kw)
    client.connect()
    return client.result()


def test_a_scripted_stream_arrives_byte_for_byte_with_its_roster_and_its_end(emu, sdk):
    script = stream("s-whole", 4)
    got = run(emu, sdk, script)
    assert (got["join"], got["leave"]) == ([0], [6])  # TERMINATED with reason 6: on_leave(MEETING_ENDED)
    for uid, _, join_s, leave_s in PEOPLE:
        assert got["audio"][str(uid)] == heard(script, uid, join_s, leave_s or 4), uid
    assert got["participants"] == [["join", T0_MS, [[101, "Ana"]]], ["join", T0_MS + 500, [[102, "Bo"]]],
                                   ["join", T0_MS + 1000, [[103, "Cy"]]], ["leave", T0_MS + 3000, [[102, "Bo"]]]]
    # on_user_update sees the joins only: the SDK's C layer fails to parse Zoom's documented leave event
    # ("handle_participant_leave, get participants failed, ret: 3" in its log), which on_participant_event reads
    assert got["users"] == [[0, 101, "Ana"], [0, 102, "Bo"], [0, 103, "Cy"]]
    assert emu.subscribed("s-whole") == [2, 3, 4]  # what on_user_update, set before join, subscribed
    assert (emu.connections("s-whole"), emu.refusals("s-whole"), emu.delivered_until_s("s-whole")) == (1, [], 4.0)


def test_a_stream_stopped_by_zoom_ends_with_the_reason_given(emu, sdk):
    script = stream("s-stop", 1, end=None)
    emu.add_stream(script)
    client = sdk("client", script)
    client.connect()
    delivered(emu, "s-stop", 1.0)
    time.sleep(0.3)  # the stream stays open once its audio is out
    emu.stop_stream("s-stop", reason=8)  # STREAM_REVOKED
    got = client.result()
    assert (got["join"], got["leave"]) == ([0], [8])
    assert got["audio"]["101"] == heard(script, 101, 0, 1)
    assert emu.refusals("s-stop") == []


def test_a_bad_signature_is_refused_with_status_15_which_the_sdk_reports_as_the_join_result(emu, sdk):
    got = run(emu, sdk, stream("s-sig", 1), secret="not-the-secret")
    assert (got["join"], got["leave"], got["audio"]) == ([15], [], {})  # no retry
    assert (emu.connections("s-sig"), emu.refusals("s-sig")) == (0, [15])


def test_a_rate_other_than_the_streams_is_refused_at_the_media_handshake(emu, sdk):
    got = run(emu, sdk, stream("s-rate", 1), rate=48000)
    assert (got["join"], got["leave"], got["audio"]) == ([39], [], {})  # INVALID_MEDIA_AUDIO_SAMPLE_RATE
    assert (emu.connections("s-rate"), emu.refusals("s-rate")) == (1, [39])


def test_a_dropped_stream_ends_the_session_and_a_reconnect_resumes_at_the_live_position(emu, sdk):
    script = stream("s-drop", 3, speed=1.0)
    first, second = sdk("first", script), sdk("second", script)
    added = time.monotonic()
    emu.add_stream(script)
    first.connect()
    delivered(emu, "s-drop", 1.0)
    emu.drop("s-drop")
    dropped_s = emu.delivered_until_s("s-drop")
    reconnect_s = time.monotonic() - added
    second.connect()
    before, after = first.result(), second.result()
    assert (before["join"], before["leave"]) == ([0], [960])  # Zoom closed the sockets: the SDK gives up
    assert before["audio"]["101"] == heard(script, 101, 0, dropped_s)  # all of it up to the drop
    assert (after["join"], after["leave"]) == ([0], [6])
    assert [op for op, *_ in after["participants"]] == ["join", "join", "join", "leave"]  # the roster so far, then Bo
    start_s = (after["audio"]["101"]["ts"][0] - T0_MS) / 1000
    assert reconnect_s - 0.02 <= start_s < reconnect_s + 0.5  # the live position, not the backlog
    for uid, _, _, leave_s in PEOPLE:
        assert after["audio"][str(uid)] == heard(script, uid, start_s, leave_s or 3), uid
    assert emu.connections("s-drop") == 2
    assert emu.keepalive_answers("s-drop") >= 6  # every 0.5 s on both sockets, answered


def test_after_a_network_reset_the_sdk_reconnects_by_itself_but_without_its_event_subscription(emu, sdk):
    script = stream("s-reset", 3, speed=1.0)
    client = sdk("client", script)
    emu.add_stream(script)
    client.connect()
    delivered(emu, "s-reset", 1.0)
    emu.drop("s-reset", abrupt=True)
    dropped_s = emu.delivered_until_s("s-reset")
    got = client.result()
    assert (got["join"], got["leave"], emu.connections("s-reset")) == ([0], [6], 2)  # no second join confirm
    ts = got["audio"]["101"]["ts"]
    resumed = next(i for i, t in enumerate(ts) if t > T0_MS + dropped_s * 1000)
    assert ts[:resumed] == heard(script, 101, 0, dropped_s)["ts"]  # all of it up to the reset
    assert ts[resumed] - ts[resumed - 1] >= 500  # a gap: the SDK's retry came about a second later
    assert ts[resumed:] == list(range(ts[resumed], T0_MS + 3000, 20))  # then the live position to the end
    assert emu.subscribed("s-reset") == []  # the reconnect subscribed nothing ...
    assert "leave" not in [op for op, *_ in got["participants"]]  # ... so Bo's leave at 3 s never came


def test_multi_stream_audio_sends_the_three_loudest_and_no_silence():
    """Zoom's AUDIO_MULTI_STREAMS: up to 3 speakers per 20 ms, loudest first; the cap and threshold can go."""
    levels = {1: 1000, 2: 8000, 3: 0, 4: 4000, 5: 2000}  # 3 is silent
    people = tuple((uid, f"p{uid}", 0.0, None) for uid in levels) + ((6, "late", 0.02, None),)
    audio = {uid: np.full(640, level, np.int16) for uid, level in levels.items()} | {6: np.full(640, 9000, np.int16)}
    script = StreamScript(UUID, "s", CLIENT_ID, SECRET, T0_MS, 16000, people, audio)
    assert active_speakers(script) == [(2, 4, 5), (6, 2, 4)]  # the late joiner only once joined
    everyone = StreamScript(UUID, "s", CLIENT_ID, SECRET, T0_MS, 16000, people, audio, silence_dbfs=None,
                            max_speakers=None)
    assert active_speakers(everyone) == [(2, 4, 5, 1, 3), (6, 2, 4, 5, 1, 3)]


def test_the_webhook_envelopes_are_what_the_receiver_reads():
    flat = rtms_started(UUID, "s-1", "wss://localhost:1/signal/s-1", meeting_id=85012345678, event_ts=T0_MS)
    nested = rtms_started(UUID, "s-1", "wss://localhost:1/signal/s-1", meeting_id=85012345678, event_ts=T0_MS,
                          nested=True)
    assert set(flat["payload"]) >= {"meeting_uuid", "rtms_stream_id", "server_urls", "meeting_id"}
    assert set(nested["payload"]) == {"object"}
    for envelope in (flat, nested):
        check_envelope(envelope)
        event = parse_event(envelope)
        assert (event.event, event.payload.meeting_uuid, event.payload.rtms_stream_id, event.payload.meeting_id) == (
            "meeting.rtms_started", UUID, "s-1", "85012345678")
    stopped = rtms_stopped(UUID, "s-1", 6)
    check_envelope(stopped)
    assert stopped["payload"] == {"meeting_uuid": UUID, "rtms_stream_id": "s-1", "stop_reason": 6}
