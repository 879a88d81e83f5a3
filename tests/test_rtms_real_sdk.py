"""`rollcall rtms` as a real process with the real ``rtms`` 1.1.0 module, against the loopback emulator of
Zoom's RTMS servers (``orchestrator/emulator/rtms.py``): the AMI minute arrives through TLS WebSockets,
Zoom's JSON packets and the SDK's threads, and gives exactly `rollcall replay`'s talk time."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from bot.scenario import Track, load_scenario
from bot.simulator.replay import replay
from conftest import AMI_DIR, require_shared_data
from orchestrator.emulator.rtms import RtmsEmulator, StreamScript

CLIENT_ID, SECRET = "rtms-client-id", "rtms-signing-secret-5f1e"


@pytest.fixture()
def emulator(tmp_path):
    with RtmsEmulator(tmp_path) as emu:
        yield emu


def worker_env(emu: RtmsEmulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return env | {"ZOOM_RTMS_CLIENT_ID": CLIENT_ID, "ZOOM_RTMS_CLIENT_SECRET": SECRET, "ZM_RTMS_CA": str(emu.ca_pem_path),
                  "ZM_RTMS_CLIENT": "not-ours", "ZM_RTMS_SECRET": "would-override"}


def ami_script(rate: int, t0_ms: int) -> StreamScript:
    ami = require_shared_data(AMI_DIR) / "scenario.yaml"
    scenario = load_scenario(ami)
    people = [(16_778_240 + i, p.name, 0.0, None) for i, p in enumerate(scenario.participants)]
    audio = {uid: Track(ami, i, p, rate, scenario.end_s).read(0, int(scenario.end_s * rate))
             for i, ((uid, *_), p) in enumerate(zip(people, scenario.participants))}
    # every speaker's every packet, silence too: the same samples the simulator delivers
    return StreamScript(meeting_uuid="ami-uuid==", stream_id="ami-stream", client_id=CLIENT_ID, client_secret=SECRET,
                        t0_ms=t0_ms, rate=rate, participants=tuple(people), audio=audio, silence_dbfs=None,
                        max_speakers=None)


def test_the_ami_minute_through_the_real_sdk_gives_replays_talk_time(emulator, tmp_path):
    # 57 s ago: when the worker (a few seconds to start) connects, all of it is in the past and within Zoom's
    # 60 s backlog, give or take the 5 s the worker allows the clocks
    t0_ms = int((time.time() - 57) * 1000)
    script = ami_script(32000, t0_ms)
    urls = emulator.add_stream(script)
    out = tmp_path / "rtms"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "rtms", "--meeting-uuid", script.meeting_uuid,
                           "--stream-id", script.stream_id, "--server-urls", urls, "--started-ms", str(t0_ms),
                           "--meeting-id", "85020040750", "--audio-rate", "32000", "--no-asr", "--out", str(out)],
                          env=worker_env(emulator), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert time.monotonic() - started < 60
    report = json.loads((out / "report.json").read_text())
    got = {p["name"]: p["talk_time_s"] for p in report["participants"]}
    ami = require_shared_data(AMI_DIR) / "scenario.yaml"
    want = {p.name: p.talk_time_s for p in replay(ami, tmp_path / "replay").report.participants}
    assert got == want
    assert report["observer"]["transport"] == "rtms" and report["meeting"]["duration_s"] == 60.0
    # the SDK's logs (they hold the signature) stayed in the worker's private directory; nothing leaked
    assert SECRET not in proc.stdout + proc.stderr and emulator.refusals(script.stream_id) == []
    assert not (tmp_path / "logs").exists() and (out / "rtms-sdk").stat().st_mode & 0o777 == 0o700
