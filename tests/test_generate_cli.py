"""`rollcall generate`: a generator script becomes a scenario with exact truth; a bad script or a missing
file is exit 2 with one message naming the file and the problem, no traceback."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

SCRIPT = {"meeting": {"id": "85000000051", "topic": "Generated", "start": "2026-11-20T15:00:00Z", "duration_s": 4},
          "participants": [{"key": "p1", "name": "Dana Host", "role": "host"}],
          "timeline": [{"t": 0, "type": "join", "who": "p1"}, {"t": 0, "type": "unmute", "who": "p1"},
                       {"t": 0.5, "type": "say", "who": "p1", "text": "Welcome."}]}


def generate(script: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", "generate", str(script), str(out)],
                          capture_output=True, text=True, timeout=120)


def test_a_script_becomes_a_scenario_and_its_truth(tmp_path):
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump(SCRIPT), encoding="utf-8")
    run = generate(script, tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert Path(run.stdout.strip()) == tmp_path / "out" / "scenario.yaml"
    truth = json.loads((tmp_path / "out" / "truth.json").read_text())
    (start, end), = truth["participants"]["p1"]["speech"]
    assert abs(start - 0.5) < 0.01 and 0.2 < end - start < 2.0  # "Welcome." where the script put it
    again = generate(script, tmp_path / "out")  # the same script: kept, not built again
    assert again.returncode == 0 and "up to date" in again.stderr, again.stderr


def test_a_bad_script_or_a_missing_file_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**SCRIPT, "participants": [{"key": "p1", "name": "A", "role": "boss"}]}))
    run = generate(bad, tmp_path / "out")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert str(bad) in run.stderr and "participant p1" in run.stderr and "role" in run.stderr
    missing = generate(tmp_path / "none.yaml", tmp_path / "out")
    assert missing.returncode == 2 and "none.yaml" in missing.stderr and "Traceback" not in missing.stderr
    assert not (tmp_path / "out").exists()  # nothing written for a refused script
