"""The bot image's entrypoint (issue 12, item 8): PulseAudio is started under the HOME the bot will keep,
and waited for, before the bot starts; if it never comes up the container ends with a clear exit code.
PulseAudio, pactl and the bot are stand-in scripts that record what they saw."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bot.zoom.run import bot_home

ENTRYPOINT = Path(__file__).resolve().parent.parent / "containers" / "bot-entrypoint.sh"


def _tools(tmp_path: Path, pulse_ready_after_s: float | None) -> Path:
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    ready = tmp_path / "pulse-ready"
    start = f'(sleep {pulse_ready_after_s}; touch "{ready}") &' if pulse_ready_after_s is not None else ""
    scripts = {
        "pulseaudio": f'echo "pulseaudio HOME=$HOME XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR" >> "{log}"\n{start}\n',
        "pactl": f'[ -e "{ready}" ]\n',
        "rollcall": f'echo "rollcall HOME=$HOME BOT_HOME=$ROLLCALL_BOT_HOME ready=$([ -e "{ready}" ] && echo yes) '
                    f'args=$*" >> "{log}"\n',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def _run(tmp_path: Path, bin_dir: Path) -> subprocess.CompletedProcess:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "TMPDIR": str(tmp_path), "HOME": "/nonexistent"}
    return subprocess.run(["sh", str(ENTRYPOINT), "--meeting-id", "85012345678"], env=env, capture_output=True,
                          text=True, timeout=30)


def test_pulseaudio_is_started_under_the_bots_home_and_waited_for(tmp_path):
    proc = _run(tmp_path, _tools(tmp_path, pulse_ready_after_s=1.0))
    assert proc.returncode == 0, proc.stderr
    pulse, bot = (tmp_path / "log").read_text().splitlines()
    home = tmp_path / "rollcall-home"
    assert pulse == f"pulseaudio HOME={home} XDG_RUNTIME_DIR={home}/.run"
    assert bot == f"rollcall HOME={home} BOT_HOME={home} ready=yes args=bot --meeting-id 85012345678"
    assert oct(home.stat().st_mode & 0o777) == "0o700"


def test_pulseaudio_that_never_starts_ends_the_container_with_a_message(tmp_path):
    proc = _run(tmp_path, _tools(tmp_path, pulse_ready_after_s=None))
    assert proc.returncode == 22 and "PulseAudio did not start" in proc.stderr
    assert not any(line.startswith("rollcall ") for line in (tmp_path / "log").read_text().splitlines())


def test_the_bot_keeps_the_entrypoints_home(tmp_path, monkeypatch):
    monkeypatch.delenv("ROLLCALL_BOT_HOME", raising=False)
    assert bot_home(tmp_path) == tmp_path / "home"
    monkeypatch.setenv("ROLLCALL_BOT_HOME", "/tmp/rollcall-home")
    assert bot_home(tmp_path) == Path("/tmp/rollcall-home") and os.environ["ROLLCALL_BOT_HOME"]
