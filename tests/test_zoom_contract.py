"""Contract with the real ``zoom_meeting_sdk`` module (installed from PyPI, no network needed): every SDK
name the lifecycle acts on exists, the SDK starts and stops offline, and its printing of parameters to
file descriptor 1 is kept out of our output. Each check runs in a child process with a private HOME,
ending in ``os._exit`` as the bot does (a normal exit with the SDK loaded can crash)."""
from __future__ import annotations

import json
import subprocess
import sys

MARKER = "MARKER-7f3a"

PROBE = r"""
import json, os, sys
from pathlib import Path
from bot.zoom.guard import private_home, isolate_stdout
private_home(Path(sys.argv[1]))
out = isolate_stdout() if sys.argv[2] == "isolate" else sys.stdout
import zoom_meeting_sdk as zoom
from bot.zoom import lifecycle as L
missing = [f"{enum}.{name}" for enum, names in (
    ("AuthResult", [L.AUTH_SUCCESS, *L.AUTH_OUTCOMES]), ("MeetingFailCode", list(L.FAIL_OUTCOMES)),
    ("MeetingEndReason", list(L.END_OUTCOMES))) for name in names if not hasattr(getattr(zoom, enum), name)]
p = zoom.InitParam()
domain, support = "https://zoom.us", "https://support.invalid/" + sys.argv[3]
p.strWebDomain, p.strSupportUrl, p.enableLogByDefault = domain, support, True
init = zoom.InitSDK(p)
clean = zoom.CleanUPSDK()
print(json.dumps({"missing": missing, "init": init.name, "clean": clean.name}), file=out, flush=True)
os._exit(0)
"""


def probe(tmp_path, mode: str) -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / mode), mode, MARKER], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]), proc.stdout + proc.stderr


def test_sdk_names_exist_and_the_sdk_starts_and_stops_offline(tmp_path):
    result, output = probe(tmp_path, "isolate")
    assert result == {"missing": [], "init": "SDKERR_SUCCESS", "clean": "SDKERR_SUCCESS"}
    assert MARKER not in output  # the SDK printed its parameters to fd 1, which went nowhere
    assert (tmp_path / "isolate" / ".zoomsdk").is_dir()  # it wrote into the private HOME, not ours


def test_without_isolation_the_sdk_prints_its_parameters(tmp_path):
    _, output = probe(tmp_path, "plain")
    assert MARKER in output  # the trap is real: what isolate_stdout keeps out of our output
