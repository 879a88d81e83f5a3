"""The scenario format (brief, "Scenario format"): a simulated meeting, validated with clear errors.

Pure: it turns text into models. Reading files and audio is the caller's (``bot/scenario.py`` for the
simulator, the Zoom API emulator for the REST side). Fields marked "Zoom's side only" describe what
Zoom's servers know and the bot never sees; the simulator ignores them.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analysis.events import CUSTOMER_KEY_MAX, Role

EventKind = Literal[
    "join", "leave", "mute", "unmute", "video_on", "video_off", "chat", "raise_hand", "lower_hand",
    "reaction", "share_start", "share_end", "rename", "end",
    "waiting_room",  # Zoom's side only: in the waiting room until the next join admits them (the bot sees nothing)
]


# The longest meeting (seconds) a scenario may describe, and a bot measure: a longer duration is a typo
# or hostile, and the simulator would run on for it. Audio offsets stay within a day either way too.
MAX_MEETING_S = 24 * 3600


M = TypeVar("M", bound=BaseModel)


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
    """Every external model: unknown fields (typos) are errors, and so are .inf and .nan (a float field
    takes only finite numbers: the clock arithmetic has no meaning for the others)."""
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MeetingSpec(_Strict):
    id: str
    topic: str = ""
    # a training: its policy, "default" or a policy file (relative to the scenario); none: no compliance checks
    policy: str | None = None
    start: datetime
    duration_s: Annotated[float, Field(gt=0, le=MAX_MEETING_S)]
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


class PromptReplies(_Strict):
    """How a simulated participant answers the bot's roll-call prompts (a message to everyone): with
    ``text`` to ``to``, ``after_s`` after each prompt, skipping the prompts numbered in ``skip`` (from 1)."""

    after_s: Annotated[float, Field(ge=0)] = 5.0
    text: Annotated[str, Field(min_length=1)] = "here"
    to: Literal["everyone", "bot"] = "bot"
    skip: list[int] = []


class ParticipantSpec(_Strict):
    key: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    role: Role = "attendee"
    customer_key: Annotated[str, Field(max_length=CUSTOMER_KEY_MAX)] | None = None
    email: str | None = None  # Zoom's side only (REST reports); the SDK never exposes it
    registrant_id: str | None = None  # Zoom's side only: set when the person registered for the meeting
    external: bool = False  # Zoom's side only: from outside the host's account, so reports blank id and e-mail
    reply_to_prompt: PromptReplies | None = None  # answers the bot's roll calls (while in the meeting)
    consent: bool = True
    audio: str | None = None
    audio_offset_s: Annotated[float, Field(ge=-MAX_MEETING_S, le=MAX_MEETING_S)] = 0.0


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
        dupes = sorted(k for k, n in Counter(keys).items() if n > 1)
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


class _Loader(yaml.SafeLoader):
    """Safe YAML in which a malformed timestamp (``start: 2026-13-01T…``) stays text, for the model to
    refuse with the field's name."""


def _timestamp(loader: _Loader, node: yaml.Node) -> object:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, AttributeError):  # month 13; or an explicit !!timestamp on something else
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def parse_document(text: str, json_syntax: bool = False) -> Any:
    """YAML (or JSON) text as plain data; text that cannot be read is a ValueError saying why. Besides
    their own errors the parsers raise KeyError, ValueError… for a bad tagged scalar (``!!bool maybe``)
    and RecursionError for deep nesting: all of them are the text's fault."""
    kind = "JSON" if json_syntax else "YAML"
    try:
        return json.loads(text) if json_syntax else yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except RecursionError:
        raise ValueError(f"not valid {kind}: nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise ValueError(f"not valid {kind}: {exc}") from None


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """The first problem a validation found: the dotted field at fault and what is wrong with it."""
    err = exc.errors()[0]
    cause = err.get("ctx", {}).get("error")
    where = cause.loc if isinstance(cause, _FieldProblem) else ".".join(str(p) for p in err["loc"]) or "(top level)"
    problem = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
    return where, problem


def validate_document(text: str, model: type[M], path: Path | str,
                      error: Callable[[Path | str, str, str], Exception], shape: str, *, json_syntax: bool = False) -> M:
    """A document's text as ``model``; anything wrong is ``error(path, field, problem)`` and nothing else,
    whatever the text (``shape`` says what the top level must be)."""
    try:
        raw: Any = parse_document(text, json_syntax=json_syntax)
    except ValueError as exc:
        raise error(path, "", str(exc)) from None
    if not isinstance(raw, dict):
        raise error(path, "", f"must be a mapping {shape}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(path, *first_problem(exc)) from None


def parse_scenario(text: str, path: Path) -> Scenario:
    """Validate a scenario's text (YAML, or JSON when ``path`` ends in .json); ``path`` names it in errors.
    Only ScenarioError comes out of here, whatever the text."""
    return validate_document(text, Scenario, path, ScenarioError, "with meeting, participants and events",
                             json_syntax=path.suffix.lower() == ".json")


def unreadable(path: Path, exc: OSError | UnicodeDecodeError) -> ScenarioError:
    """The error for a scenario file that cannot be read (its reader is the caller: this core does no I/O)."""
    return ScenarioError(path, "", "file not found" if isinstance(exc, FileNotFoundError) else f"cannot read: {exc}")
