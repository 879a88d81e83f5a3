"""Contract with the real ``zoom_meeting_sdk`` module (installed from PyPI, no network needed): every SDK
name the lifecycle acts on exists, the SDK starts and stops offline, and its printing of parameters to
file descriptor 1 is kept out of our output. Each check runs in a child process with a private HOME,
ending in ``os._exit`` as the bot does (a normal exit with the SDK loaded can crash)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

MARKER = "MARKER-7f3a"

PROBE = r"""
import json, os, sys
from pathlib import Path
from bot.zoom.guard import private_home, isolate_stdout
private_home(Path(sys.argv[1]))
out = isolate_stdout() if sys.argv[2] == "isolate" else sys.stdout
import zoom_meeting_sdk as zoom
from bot.zoom import outcomes as L
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


SESSION = r"""
import json, os, sys, time
from pathlib import Path
from bot.zoom.guard import private_home, isolate_stdout
private_home(Path(sys.argv[1]))
out = isolate_stdout()
import zoom_meeting_sdk as zoom
from bot.zoom.credentials import ZoomCredentials
from bot.zoom.loop import GLibLoop
from bot.zoom.session import JoinSpec, ZoomConfig, ZoomSession
creds = ZoomCredentials(client_id="fake-client-id", client_secret="f" * 32, zak="fake-zak")
spec = JoinSpec(85012345678, "S3cretPass!", "Rollcall", "rollcall-test")
s = ZoomSession(zoom, creds, spec, config=ZoomConfig(auth_timeout_s=3))
t0 = time.monotonic()
s.start()
loop = GLibLoop()
loop.run(lambda: s.done, s.tick)
auth = (s.lifecycle.outcome.name, round(time.monotonic() - t0, 1))
# What a successful authentication would lead to: the join call with every field set (refused offline).
s2 = ZoomSession(zoom, creds, spec)
s2.lifecycle.to(s2.lifecycle.phase.AUTHENTICATING)
s2._on_auth(zoom.AuthResult.AUTHRET_SUCCESS)
join = (s2.lifecycle.outcome.name, s2.lifecycle.detail)
s2.leave()
s2.cleanup()
print(json.dumps({"auth": auth, "join": join, "loop": loop.backend, "errors": dict(s.guard.errors) | dict(s2.guard.errors)}),
      file=out, flush=True)
os._exit(0)
"""


def test_session_against_the_real_sdk_offline(tmp_path):
    """Authentication cannot reach Zoom offline: the watchdog ends it as a connection failure; the join call,
    made with every field the session sets, is refused without authentication. Nothing raised in a callback,
    and neither the passcode nor the ZAK reached our output."""
    proc = subprocess.run([sys.executable, "-c", SESSION, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    assert result["auth"][0] == "CONNECTION_LOST" and 2.5 <= result["auth"][1] < 30
    assert result["join"][0] == "JOIN_REFUSED" and result["join"][1].startswith("sdkerr_")
    assert result["errors"] == {} and result["loop"] in ("ctypes", "pygobject")
    assert "S3cretPass!" not in proc.stdout + proc.stderr and "fake-zak" not in proc.stdout + proc.stderr


FAITHFUL = r"""
import enum, json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from bot.zoom.guard import private_home, isolate_stdout
private_home(Path(sys.argv[1]))
out = isolate_stdout()
import zoom_meeting_sdk as zoom
import fake_zoom_sdk as F
problems = []
api = [n for n in dir(F.FakeZoom) if n[0].isupper()]
problems += [f"module: {n}" for n in api if not hasattr(zoom, n)]
for name in api:
    fake = getattr(F.FakeZoom, name)
    if isinstance(fake, type) and issubclass(fake, enum.Enum):
        real = getattr(zoom, name)
        problems += [f"{name}.{m.name}" for m in fake if not hasattr(real, m.name) or getattr(real, m.name).value != m.value]
    elif isinstance(fake, type) and issubclass(fake, F._Callbacks):
        try:
            getattr(zoom, name)(**{k: (lambda *a: None) for k in fake.allowed})
        except TypeError as exc:
            problems.append(f"{name}: {exc}")
for iface, methods in F.interfaces().items():
    real = getattr(zoom, iface, None)
    problems += [f"{iface}.{m}" for m in sorted(methods) if real is None or not hasattr(real, m)]
print(json.dumps({"problems": problems, "checked": len(api)}), file=out, flush=True)
os._exit(0)
"""


def test_the_stand_in_sdk_is_a_faithful_subset_of_the_real_one(tmp_path):
    """The session is tested against the stand-in; this holds the stand-in to the real module: every name,
    enum value, callback keyword and interface method it offers exists in ``zoom_meeting_sdk``, so the
    session cannot depend on anything the real SDK lacks."""
    tests_dir = str(Path(__file__).parent)
    proc = subprocess.run([sys.executable, "-c", FAITHFUL, str(tmp_path), tests_dir], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    assert result["problems"] == [] and result["checked"] > 25
