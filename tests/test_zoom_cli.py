"""`rollcall bot` as a user runs it: offline with made-up credentials it ends by itself with the documented
exit code and one readable line, and no secret reaches its output; a SIGTERM mid-meeting leaves and still
writes the report (stand-in SDK)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fake_zoom_sdk import FakeUser, FakeZoom

from bot.zoom.credentials import ZoomCredentials
from bot.lifecycle import Outcome, Phase
from bot.zoom.run import run_meeting
from bot.zoom.session import JoinSpec

ROLLCALL = str(Path(sys.executable).with_name("rollcall"))
SECRET = "0123456789abcdef0123456789abcdef"


def test_offline_bot_ends_with_a_connection_failure_and_leaks_nothing(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "ZOOM_SDK_CLIENT_ID": "made-up-id", "ZOOM_SDK_CLIENT_SECRET": SECRET,
           "ZOOM_ZAK": "made-up-zak-token"}
    t0 = time.monotonic()
    proc = subprocess.run([ROLLCALL, "bot", "--meeting-id", "85012345678", "--passcode", "S3cretPass!", "--no-asr",
                           "--out", str(tmp_path / "out")], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=90)
    elapsed = time.monotonic() - t0
    assert elapsed < 60 and proc.returncode in (Outcome.CONNECTION_LOST.exit_code, Outcome.BAD_CREDENTIALS.exit_code)
    # stderr is not a terminal: every log line is a JSON line (the native SDK also writes its own lines,
    # ALSA's and Qt's, straight to file descriptor 2)
    lines = proc.stderr.strip().splitlines()
    last = json.loads(lines[-1])["event"]
    assert all(json.loads(line)["event"] for line in lines if line.startswith("{"))
    assert last.startswith("rollcall bot: ") and last.endswith(f"(exit {proc.returncode})")
    everything = proc.stdout + proc.stderr
    for secret in ("S3cretPass!", SECRET, "made-up-zak-token", "eyJ"):  # eyJ: the start of any JWT
        assert secret not in everything
    assert not (tmp_path / "out" / "report.json").exists() and not (tmp_path / "out" / "events.jsonl").exists()


def test_missing_credentials_are_a_usage_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOM_")} | {"HOME": str(tmp_path)}
    proc = subprocess.run([ROLLCALL, "bot", "--meeting-id", "85012345678"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "ZOOM_SDK_CLIENT_ID and ZOOM_SDK_CLIENT_SECRET" in proc.stderr


class SignalLoop:
    """Pumps the stand-in SDK like the GLib loop, feeds a participant's (silent) audio once recording, and sends
    this process SIGTERM after ``stop_after_s`` of meeting."""

    def __init__(self, fake: FakeZoom, stop_after_s: float) -> None:
        self.fake, self.stop_after_s, self.session_phase = fake, stop_after_s, None

    def run(self, done, tick) -> None:
        ticks = 0
        while not done():
            self.fake.pump()
            tick()
            if self.fake.audio_cb is not None:
                ticks += 1
                self.fake.audio(100, bytes(640))
                if ticks == int(self.stop_after_s * 100):
                    os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)


def test_sigterm_mid_meeting_leaves_and_writes_the_report(tmp_path):
    fake = FakeZoom()
    fake.users[100] = FakeUser(100, "pA", "Ana", muted=False)
    before = signal.getsignal(signal.SIGTERM)
    snapshots = []  # what `rollcall bot --live` draws
    lifecycle = run_meeting(fake, SignalLoop(fake, 2.0), JoinSpec(85012345678, "pass", "Rollcall", "rollcall-t"),
                            ZoomCredentials(client_id="cid", client_secret=SECRET), tmp_path,
                            on_snapshot=snapshots.append)
    assert (lifecycle.outcome, lifecycle.exit_code, lifecycle.phase) == (Outcome.LEFT_ON_SIGNAL, 5, Phase.ENDED)
    assert fake.calls[-4:] == ["Leave", "DestroyMeetingService", "DestroyAuthService", "CleanUPSDK"]
    report = json.loads((tmp_path / "report.json").read_text())
    ana = next(p for p in report["participants"] if p["key"] == "pA")
    assert ana["name"] == "Ana" and report["meeting"]["duration_s"] >= 1.9
    # the bot names itself, so reconciliation finds its row in Zoom's report and aligns the clocks
    assert (report["observer"]["name"], report["observer"]["customer_key"]) == ("Rollcall", "rollcall-t")
    assert report["observer"]["gaps"] == []  # recording from the first moment: nothing unobserved
    assert len(snapshots) >= 2 and snapshots[-1].ended and not snapshots[0].ended
    assert [p.name for p in snapshots[-1].participants] == ["Ana"]
    assert signal.getsignal(signal.SIGTERM) is before  # the bot's handler is gone again
