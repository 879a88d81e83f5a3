"""Scenario files for the simulator: read and validated (the schema is ``analysis/scenario.py``), with
each participant's audio checked and loaded.

A malformed file raises `ScenarioError` naming the file, the field and what was wrong; the CLI turns
that into exit code 2 without a traceback.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from analysis.scenario import (EventSpec, MeetingSpec, ParticipantSpec, Scenario, ScenarioError, parse_scenario,
                               read_scenario_text)
from analysis.policy import DEFAULT_POLICY, PolicyError, TrainingPolicy, parse_policy
from native import Resampler

__all__ = ["EventSpec", "MeetingSpec", "ParticipantSpec", "Scenario", "ScenarioError", "load_policy", "load_scenario",
           "load_track", "read_policy"]


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file, and check that every audio file it names can be read."""
    path = Path(path)
    scenario = parse_scenario(read_scenario_text(path), path)
    for i, p in enumerate(scenario.participants):
        if p.audio is not None:
            audio_path = path.parent / p.audio
            try:
                sf.info(str(audio_path))
            except Exception as exc:  # soundfile raises several types for unreadable input
                reason = "file not found" if not audio_path.exists() else f"unreadable audio ({exc})"
                raise ScenarioError(path, f"participants.{i}.audio", f"{audio_path}: {reason}") from None
    return scenario


def load_track(scenario_path: Path, index: int, spec: ParticipantSpec, rate: int,
               duration_s: float) -> np.ndarray | None:
    """Participant ``index``'s microphone as int16 mono at `rate`, on the meeting clock (t=0 at start)."""
    if spec.audio is None:
        return None
    audio_path = scenario_path.parent / spec.audio
    try:
        data, file_rate = sf.read(str(audio_path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for unreadable input
        raise ScenarioError(scenario_path, f"participants.{index}.audio",
                            f"{audio_path}: unreadable audio ({exc})") from None
    mono = data.mean(axis=1, dtype=np.float32)
    if file_rate != rate:
        resampler = Resampler(int(file_rate), rate)  # the ingest's polyphase FIR: resample_poly's design
        mono = np.concatenate([resampler.process(mono), resampler.flush()])
    total = int(round(duration_s * rate))
    track = np.zeros(total, dtype=np.float32)
    offset = int(round(spec.audio_offset_s * rate))
    src_start = max(0, -offset)
    dst_start = max(0, offset)
    n = max(0, min(len(mono) - src_start, total - dst_start))
    track[dst_start:dst_start + n] = mono[src_start:src_start + n]
    return np.clip(np.round(track * 32768.0), -32768, 32767).astype("<i2")


def load_policy(scenario_path: Path, scenario: Scenario) -> TrainingPolicy | None:
    """The training policy a scenario names (``meeting.policy``): ``default``, or a policy file relative to
    the scenario; None when it names none (not a training)."""
    name = scenario.meeting.policy
    if name is None:
        return None
    return read_policy(name, Path(scenario_path).parent, scenario_path=Path(scenario_path))


def read_policy(name: str, base: Path, *, scenario_path: Path | None = None) -> TrainingPolicy:
    """``default`` or a policy file (relative to ``base``); a bad one is a ScenarioError or PolicyError."""
    if name == "default":
        return DEFAULT_POLICY
    path = base / name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "file not found" if not path.exists() else f"cannot read: {exc}"
        if scenario_path is not None:
            raise ScenarioError(scenario_path, "meeting.policy", f"{path}: {reason}") from None
        raise PolicyError(path, "", reason) from None
    return parse_policy(text, path)
