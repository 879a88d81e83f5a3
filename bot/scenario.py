"""The scenario file: a simulated meeting (brief, "Scenario format"), validated with clear errors.

A malformed file raises `ScenarioError` naming the file, the field and what was wrong; the CLI turns
that into exit code 2 without a traceback.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import soundfile as sf
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from native import Resampler

EventKind = Literal[
    "join", "leave", "mute", "unmute", "video_on", "video_off", "chat", "raise_hand", "lower_hand",
    "reaction", "share_start", "share_end", "rename", "end",
]


class ScenarioError(Exception):
    """A scenario that cannot be run, with where and why."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        self.path, self.field, self.problem = path, field, problem
        super().__init__(f"{path}: {field}: {problem}" if field else f"{path}: {problem}")


class _FieldProblem(ValueError):
    """A cross-field check that failed, with the dotted location of the field at fault."""

    def __init__(self, loc: str, problem: str) -> None:
        super().__init__(problem)
        self.loc = loc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeetingSpec(_Strict):
    id: str
    topic: str = ""
    start: datetime
    duration_s: Annotated[float, Field(gt=0)]
    sample_rate: Literal[32000, 48000] = 32000
    frame_ms: Annotated[int, Field(gt=0, le=100)] = 10

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) else v

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2026-11-20T15:00:00Z")
        return v


class ParticipantSpec(_Strict):
    key: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    role: Literal["host", "cohost", "attendee"] = "attendee"
    customer_key: Annotated[str, Field(max_length=35)] | None = None
    email: str | None = None
    consent: bool = True
    audio: str | None = None
    audio_offset_s: float = 0.0


class EventSpec(_Strict):
    t: Annotated[float, Field(ge=0)]
    type: EventKind
    who: str | None = None
    text: str | None = None
    to: str | None = None
    emoji: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _payload(self) -> EventSpec:
        if self.type != "end" and not self.who:
            raise ValueError(f"a '{self.type}' event needs 'who'")
        if self.type == "chat" and not self.text:
            raise ValueError("a chat event needs 'text'")
        if self.type == "reaction" and not self.emoji:
            raise ValueError("a reaction event needs 'emoji'")
        if self.type == "rename" and not self.name:
            raise ValueError("a rename event needs 'name'")
        return self


class Scenario(_Strict):
    meeting: MeetingSpec
    participants: list[ParticipantSpec]
    events: list[EventSpec]

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        keys = [p.key for p in self.participants]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise _FieldProblem("participants", f"duplicate participant key(s): {', '.join(dupes)}")
        known = set(keys)
        for i, ev in enumerate(self.events):
            if ev.who is not None and ev.who not in known:
                raise _FieldProblem(f"events.{i}.who", f"unknown participant '{ev.who}' (known: {', '.join(keys)})")
            if ev.to not in (None, "everyone", "host", "bot") and ev.to not in known:
                raise _FieldProblem(f"events.{i}.to", f"chat recipient '{ev.to}' is not everyone, host, bot or a key")
            if ev.t > self.meeting.duration_s:
                raise _FieldProblem(f"events.{i}.t", f"t={ev.t} is after the meeting's duration_s={self.meeting.duration_s}")
        return self

    def sorted_events(self) -> list[EventSpec]:
        """Events in time order; at equal times file order is kept (join before unmute)."""
        return sorted(self.events, key=lambda e: e.t)

    @property
    def end_s(self) -> float:
        """When the meeting ends: its first `end` event, else `duration_s`."""
        return min([e.t for e in self.events if e.type == "end"] + [self.meeting.duration_s])


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(path, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(path, "", f"cannot read: {exc}") from None
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError(path, "", f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    if not isinstance(raw, dict):
        raise ScenarioError(path, "", "must be a mapping with meeting, participants and events")
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        cause = err.get("ctx", {}).get("error")
        where = cause.loc if isinstance(cause, _FieldProblem) else ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ScenarioError(path, where, err["msg"].removeprefix("Value error, ")) from None
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
