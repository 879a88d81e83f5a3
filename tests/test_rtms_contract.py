"""Contract with the real ``rtms`` 1.1.0 module (installed from PyPI, no network needed): the stand-in
offers nothing the real module lacks, and the transport runs against the real module offline. Each check
runs in a child process ending in ``os._exit``, as the worker does (an interpreter exit with the SDK
loaded may abort; ``uninitialize`` hangs)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.rtms.stream import StreamSpec, signature

TESTS = str(Path(__file__).parent)

FAITHFUL = r"""
import enum, inspect, json, os, sys
sys.path.insert(0, sys.argv[1])
import rtms
import fake_rtms as F
fake = F.FakeRtms()
if sys.argv[2] == "bogus":  # the check must catch a name or a value the real module does not have
    F.FakeRtms.BogusParams = F.AudioParams
    F.AudioCodec = enum.IntEnum("AudioCodec", {"L16": 1, "OPUS": 5})
    fake = F.FakeRtms()
    fake.AudioCodec = F.AudioCodec
SCRIPTING = {"streams", "calls", "reentrant", "hazards"}  # the stand-in's own controls, not part of the module
problems, checked = [], 0
for name in [n for n in dir(fake) if not n.startswith("_") and n not in SCRIPTING]:
    checked += 1
    ours, real = getattr(fake, name), getattr(rtms, name, None)
    if real is None:
        problems.append(f"module: {name}")
    elif isinstance(ours, type) and issubclass(ours, enum.Enum):
        members = real.__members__
        problems += [f"{name}.{m.name}" for m in ours if m.name not in members or int(members[m.name]) != int(m)]
def methods(cls):
    return [n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")]
for cls_name, ours in (("Client", F._Client), ("EventLoop", F._EventLoop)):
    real = getattr(rtms, cls_name)
    for m in methods(ours):
        checked += 1
        if not hasattr(real, m):
            problems.append(f"{cls_name}.{m}")
            continue
        if m == "join":  # Python-level in the real module: its keywords are the contract
            want = list(inspect.signature(real.join).parameters)
            got = list(inspect.signature(ours.join).parameters)
            if want != got:
                problems.append(f"{cls_name}.join{tuple(got)} != {tuple(want)}")
    if list(inspect.signature(ours.__init__).parameters) != list(inspect.signature(real.__init__).parameters):
        problems.append(f"{cls_name}.__init__")
params = rtms.AudioParams()
problems += [f"AudioParams.{a}" for a in vars(F.AudioParams()) if not hasattr(params, a)]
for cls_name, ours in (("Metadata", F.Metadata(1, "x")), ("Participant", F.Participant(1, "x"))):
    problems += [f"{cls_name}.{a}" for a in vars(ours) if not hasattr(getattr(rtms, cls_name), a)]
print(json.dumps({"problems": problems, "checked": checked}), flush=True)
os._exit(0)
"""

OFFLINE = r"""
import json, os, sys, time
from pathlib import Path
from bot.rtms.traps import prepare_process, audio_params
ours = prepare_process(Path(sys.argv[1]))
import rtms
from bot.rtms.session import RtmsConfig, RtmsSession
from bot.rtms.stream import StreamSpec
from bot.rtms import session as S
p = audio_params(rtms, 32000)
seen = {"frame_size": p.frame_size, "sample_rate": int(p.sample_rate), "codec": int(p.codec),
        "unknown_stop_reasons": sorted(set(S._STOP_OUTCOMES) - {int(v) for v in rtms.StopReason.__members__.values()}),
        "events": [int(rtms.EventType.PARTICIPANT_JOIN), int(rtms.EventType.PARTICIPANT_LEAVE)]
                  == [S.EVENT_PARTICIPANT_JOIN, S.EVENT_PARTICIPANT_LEAVE]}
class Handler:
    def __init__(self): self.calls = []
    def on_meeting_event(self, ev): self.calls.append(ev.type)
    def on_one_way_audio(self, data, node): self.calls.append("audio")
    def on_media_time(self, t): pass
spec = StreamSpec(meeting_uuid="u==", rtms_stream_id="s1", server_urls="wss://localhost:9/signal",
                  started_ms=int(time.time() * 1000))
h = Handler()
s = RtmsSession(rtms, spec, ("client-id", "SIGNING-SECRET-d41d"), h, RtmsConfig(join_timeout_s=3.0))
t0 = time.monotonic()
s.start()
while not s.done and time.monotonic() - t0 < 20:
    s.tick(); time.sleep(0.05)
s.leave()
seen |= {"outcome": s.lifecycle.outcome.name if s.lifecycle.outcome else None, "calls": h.calls,
         "seconds": round(time.monotonic() - t0, 1), "errors": dict(s.inbox.errors)}
print(json.dumps(seen), file=ours, flush=True)
os._exit(0)
"""


def _child(script: str, *args: str, cwd: Path | None = None) -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=90, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]), proc.stdout + proc.stderr


def test_the_stand_in_is_a_faithful_subset_of_the_real_rtms_module():
    """The transport is tested against the stand-in; this holds the stand-in to ``rtms`` 1.1.0: every
    module name, enum value, method, ``join``/constructor signature and data attribute it offers exists
    in the real module."""
    result, _ = _child(FAITHFUL, TESTS, "as-is")
    assert result["problems"] == [] and result["checked"] > 20


def test_the_faithfulness_check_catches_a_bogus_name_and_a_wrong_value():
    result, _ = _child(FAITHFUL, TESTS, "bogus")
    assert "module: BogusParams" in result["problems"]
    assert "AudioCodec.OPUS" in result["problems"]


def test_the_session_against_the_real_module_offline(tmp_path):
    """The real SDK, nothing listening: our audio parameters are the ones the SDK wants for 32 kHz, the
    join gives up within its timeout and the session ends with CONNECTION_LOST (retryable), with no
    callback raising, no audio or roster made up, and the signature nowhere in the output (the SDK's
    own log files stay in the worker's private directory)."""
    result, output = _child(OFFLINE, str(tmp_path), cwd=tmp_path)
    assert result["frame_size"] == 640 and result["sample_rate"] == 2 and result["codec"] == 1
    assert result["unknown_stop_reasons"] == [] and result["events"]
    assert result["outcome"] == "CONNECTION_LOST" and result["seconds"] < 15
    assert result["calls"] == [] and result["errors"] == {}
    signed = signature("client-id", "SIGNING-SECRET-d41d", StreamSpec(
        meeting_uuid="u==", rtms_stream_id="s1", server_urls="wss://localhost:9/signal"))
    assert "SIGNING-SECRET-d41d" not in output and signed not in output  # the SDK holds the signature
    assert "failed to open file" not in output  # its logs directory exists
    logs = tmp_path / "rtms-sdk"
    assert logs.is_dir() and (logs.stat().st_mode & 0o777) == 0o700
    assert not (tmp_path / "logs").exists()  # nothing written where the worker was started
