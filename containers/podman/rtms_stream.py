"""Smoke test (e)'s side of Zoom: the loopback emulator of Zoom's RTMS servers (orchestrator/emulator/rtms.py,
run with the host's venv) serving the first SECONDS of the AMI meeting in real time, as a stream that starts
now. Writes OUT/stream.env (what the worker in the container needs, the secret apart) and OUT/secret, then
serves until the stream has ended and its client has left, or for at most SECONDS + 60 s.

    python rtms_stream.py SCENARIO OUT SECONDS
"""
from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

from bot.scenario import Track, load_scenario
from orchestrator.emulator.rtms import RtmsEmulator, StreamScript

RATE = 16000


def main(scenario_path: Path, out: Path, seconds: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    scenario = load_scenario(scenario_path)
    n = int(seconds * RATE)
    people = tuple((16_778_240 + i, p.name, 0.0, None) for i, p in enumerate(scenario.participants))
    audio = {uid: Track(scenario_path, i, p, RATE, scenario.end_s).read(0, n)
             for i, ((uid, *_), p) in enumerate(zip(people, scenario.participants))}
    secret = secrets.token_hex(16)
    t0_ms = int(time.time() * 1000)
    script = StreamScript(meeting_uuid="smoke-uuid==", stream_id="smoke-stream", client_id="smoke-rtms-client",
                          client_secret=secret, t0_ms=t0_ms, rate=RATE, participants=people, audio=audio,
                          speed=1.0)
    with RtmsEmulator(out) as emulator:
        urls = emulator.add_stream(script)
        (out / "secret").write_text(secret)
        (out / "stream.env").write_text(
            f"RTMS_URLS={urls}\nRTMS_T0_MS={t0_ms}\nRTMS_CA={emulator.ca_pem_path}\nRTMS_UUID={script.meeting_uuid}\n"
            f"RTMS_STREAM={script.stream_id}\nRTMS_CLIENT={script.client_id}\n")
        deadline = time.monotonic() + seconds + 60
        while time.monotonic() < deadline and not (emulator.connections(script.stream_id)
                                                   and emulator.delivered_until_s(script.stream_id) >= seconds):
            time.sleep(0.2)
        time.sleep(3)  # the end of the stream, and the client's leaving


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]))
