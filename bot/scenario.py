"""Scenario files for the simulator: read and validated (the schema is ``analysis/scenario.py``), with
each participant's audio and the training policy checked, and the audio streamed on the meeting clock.

A malformed file raises `ScenarioError` (or `PolicyError`, for a policy file's own fields) naming the
file, the field and what was wrong; the CLI turns that into exit code 2 without a traceback. Everything
is checked by `load_scenario`, before a run writes anything.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from analysis.scenario import (EventSpec, MeetingSpec, ParticipantSpec, Scenario, ScenarioError, parse_scenario,
                               unreadable)
from analysis.policy import POLICIES, PolicyError, TrainingPolicy, parse_policy
from native import Resampler

__all__ = ["EventSpec", "MeetingSpec", "ParticipantSpec", "Scenario", "ScenarioError", "Track", "load_policy",
           "load_scenario", "load_track", "read_policy"]

BLOCK = 1 << 16  # audio frames decoded at a time: the memory a track holds, whatever the meeting's length


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file, every audio file it names (read to the end) and its policy."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable(path, exc) from None
    scenario = parse_scenario(text, path)
    for i, p in enumerate(scenario.participants):
        if p.audio is not None:
            _check_audio(path, i, path.parent / p.audio)
    load_policy(path, scenario)
    return scenario


def _check_audio(scenario_path: Path, index: int, audio_path: Path) -> None:
    """Refuse audio that cannot be decoded to its end, or that holds a sample that is not a number: a
    NaN would reach the int16 conversion as noise (numpy only warns)."""
    field = f"participants.{index}.audio"
    try:
        bad_at_s = _first_non_finite_s(audio_path)
    except Exception as exc:  # soundfile raises several types for unreadable input
        reason = "file not found" if not audio_path.exists() else f"unreadable audio ({exc})"
        raise ScenarioError(scenario_path, field, f"{audio_path}: {reason}") from None
    if bad_at_s is not None:
        raise ScenarioError(scenario_path, field, f"{audio_path}: the sample at {bad_at_s:.3f} s is not a number "
                                                  "(NaN or infinite)")


def _first_non_finite_s(audio_path: Path) -> float | None:
    """When the file's first sample that is not a number plays (seconds into it), if one does."""
    with sf.SoundFile(str(audio_path)) as f:
        seen = 0
        for block in f.blocks(BLOCK, dtype="float32", always_2d=True):
            bad = ~np.isfinite(block).all(axis=1)
            if bad.any():
                return (seen + int(np.argmax(bad))) / f.samplerate
            seen += len(block)
    return None


class Track:
    """A participant's microphone as int16 mono at ``rate`` on the meeting clock (t=0 at start), decoded
    a block at a time as the meeting reaches it: memory stays bounded at any length (a whole day at
    48 kHz would be 16 GB of float32)."""

    def __init__(self, scenario_path: Path, index: int, spec: ParticipantSpec, rate: int, duration_s: float) -> None:
        assert spec.audio is not None
        audio_path = scenario_path.parent / spec.audio
        try:
            self._file = sf.SoundFile(str(audio_path))
        except Exception as exc:  # soundfile raises several types for unreadable input
            raise ScenarioError(scenario_path, f"participants.{index}.audio",
                                f"{audio_path}: unreadable audio ({exc})") from None
        # the ingest's polyphase FIR (resample_poly's design); block by block it gives the same samples
        self._resampler = Resampler(self._file.samplerate, rate) if self._file.samplerate != rate else None
        offset = round(spec.audio_offset_s * rate)
        self._skip = max(0, -offset)  # samples of the file (at `rate`) played before the meeting began
        self._at = max(0, offset)  # meeting sample of _buf[0]
        self._buf = np.zeros(0, dtype="<i2")
        self.length = round(duration_s * rate)

    def read(self, start: int, n: int) -> np.ndarray:
        """Samples [start, start + n), cut at the meeting's end, silence where the file has none. Reads go
        forward: `start` is never before the end of the previous read."""
        stop = min(start + n, self.length)
        out = np.zeros(max(0, stop - start), dtype="<i2")
        while len(out):
            lo, hi = max(start, self._at), min(stop, self._at + len(self._buf))
            if hi > lo:
                out[lo - start:hi - start] = self._buf[lo - self._at:hi - self._at]
            if self._at + len(self._buf) >= stop or not self._decode():
                break
        return out

    def _decode(self) -> bool:
        """The file's next block in place of the current one; False once the file is exhausted."""
        while not self._file.closed:
            block = self._file.read(BLOCK, dtype="float32", always_2d=True)
            mono = block.mean(axis=1, dtype=np.float32)
            if not len(block):
                self._file.close()
                if self._resampler is not None:
                    mono = self._resampler.flush()
            elif self._resampler is not None:
                mono = self._resampler.process(mono)
            drop = min(self._skip, len(mono))
            self._skip -= drop
            if len(mono) > drop:
                self._at += len(self._buf)
                self._buf = np.clip(np.round(mono[drop:] * 32768.0), -32768, 32767).astype("<i2")
                return True
        return False


def load_track(scenario_path: Path, index: int, spec: ParticipantSpec, rate: int,
               duration_s: float) -> np.ndarray | None:
    """Participant ``index``'s whole microphone track at once (for short meetings; the simulator streams
    it with `Track`)."""
    if spec.audio is None:
        return None
    track = Track(scenario_path, index, spec, rate, duration_s)
    return track.read(0, track.length)


def expected_roster(scenario: Scenario) -> dict[str, tuple[str, str]]:
    """The roster a training expects (key → name, role): everyone the scenario lists."""
    return {p.key: (p.name, p.role) for p in scenario.participants}


def load_policy(scenario_path: Path, scenario: Scenario) -> TrainingPolicy | None:
    """The training policy a scenario names (``meeting.policy``): a built-in one, or a policy file relative
    to the scenario; None when it names none (not a training)."""
    name = scenario.meeting.policy
    if name is None:
        return None
    return read_policy(name, Path(scenario_path).parent, scenario_path=Path(scenario_path))


def read_policy(name: str, base: Path, *, scenario_path: Path | None = None) -> TrainingPolicy:
    """A built-in policy by name, or a policy file (relative to ``base``). A name that is neither is a
    ScenarioError on ``meeting.policy`` (with ``scenario_path``) or a PolicyError, listing the built-in
    names; a bad file is a PolicyError naming the file and the field."""
    if name in POLICIES:
        return POLICIES[name]
    path = base / name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: undecodable text, or a NUL in the name
        reason = (f"no such file, and '{name}' is not a built-in policy (valid: {', '.join(POLICIES)})"
                  if isinstance(exc, FileNotFoundError) else f"cannot read: {exc}")
        if scenario_path is not None:
            raise ScenarioError(scenario_path, "meeting.policy", f"{path}: {reason}") from None
        raise PolicyError(path, "", reason) from None
    return parse_policy(text, path)
