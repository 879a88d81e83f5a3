"""The scenario generator's script format (documented in ``bot.generator.scenario_gen``) as pydantic models.

Pure: a parsed YAML mapping in, a ``Script`` out (``parse_script``). Like the scenario and policy formats
(``analysis.scenario``, ``analysis.policy``), unknown fields and non-finite numbers are errors; numbers
are numbers as written (YAML ``true`` or ``"5"`` is not one). A bad script is a ``ValueError`` naming the
place: ``meeting.start: …``, ``participant p1: leak_db: …``, ``timeline[3] (t=12, say, who=p2, …): …``.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, StrictFloat,
                      StrictStr, ValidationError, field_validator, model_validator)

from analysis.events import CUSTOMER_KEY_MAX, Role
from analysis.scenario import MAX_MEETING_S, first_problem
from bot.generator import tts

DEFAULT_GAIN_DB = -6.0
DEFAULT_LEAK_DELAY_MS = 4.0
CHAT_TARGETS = ("everyone", "host", "bot")  # besides a participant's key; so no key may be one of them


class _Strict(BaseModel):
    """As the scenario's models: unknown fields (typos) and non-finite numbers are errors."""
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# YAML reads `id: 85012345678` or `customer_key: 1001` as a number: such text is taken as written
Text = Annotated[str, Field(coerce_numbers_to_str=True)]
# eSpeak's settings and the WAV rate are whole numbers: a fraction is dropped
Whole = Annotated[StrictFloat, AfterValidator(int)]


def _non_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must be a non-empty string")
    return text


NonBlank = Annotated[StrictStr, AfterValidator(_non_blank)]  # what is said, a reaction's emoji, a new name


def _key(key: str) -> str:
    if key in CHAT_TARGETS or not key.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"invalid key {key!r} (alphanumeric, - and _; not everyone/host/bot)")
    return key


Key = Annotated[Text, AfterValidator(_key)]


class ScriptMeeting(_Strict):
    """Copied into scenario.yaml (``start`` as written): the simulator's meeting, without a policy."""
    id: Text
    topic: Text
    start: str  # ISO 8601 with a time zone
    duration_s: Annotated[StrictFloat, Field(gt=0, le=MAX_MEETING_S)]
    sample_rate: Literal[32000, 48000] = 32000
    frame_ms: Annotated[int, Field(gt=0, le=100)] = 10

    @field_validator("start", mode="before")
    @classmethod
    def _yaml_timestamp(cls, v: object) -> object:
        """YAML reads an unquoted timestamp as a datetime: back to text (UTC, whole seconds)."""
        if isinstance(v, datetime):
            return v.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if v.tzinfo \
                else v.strftime("%Y-%m-%dT%H:%M:%S")
        return v

    @field_validator("start")
    @classmethod
    def _aware(cls, v: str) -> str:
        try:
            at = datetime.fromisoformat(v)
        except ValueError:
            raise ValueError(f"{v!r} is not an ISO 8601 timestamp") from None
        if at.tzinfo is None:
            raise ValueError(f"{v!r} needs a time zone, e.g. 2026-11-20T15:00:00Z")
        return v

    def scenario_fields(self) -> dict[str, Any]:
        """The scenario's ``meeting`` mapping (a whole duration is written as an integer)."""
        fields = self.model_dump()
        if self.duration_s.is_integer():
            fields["duration_s"] = int(self.duration_s)
        return fields


class VoiceSpec(_Strict):
    """An eSpeak voice (see ``tts.Voice``), or its spec as text: ``en-us+m3``. Unset: eSpeak's default."""
    name: Text | None = None
    variant: Text | None = None
    rate: Whole | None = None
    pitch: Whole | None = None
    range: Whole | None = None
    volume: Whole | None = None
    wordgap: Whole | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_spec(cls, v: object) -> object:
        if v is None:
            return {}
        if isinstance(v, str):
            name, _, variant = v.partition("+")
            return {"name": name, "variant": variant or None}
        if not isinstance(v, dict):
            raise ValueError("must be a string (en-us+m3) or a mapping")
        return v

    def voice(self) -> tts.Voice:
        return tts.Voice(**self.model_dump(exclude_none=True))


class ScriptParticipant(_Strict):
    """A person: what the scenario says about them, their voice and what their microphone picks up."""
    key: Key
    name: Annotated[Text, Field(min_length=1)]
    role: Role = "attendee"
    customer_key: Annotated[Text, Field(max_length=CUSTOMER_KEY_MAX)] | None = None
    email: Text | None = None
    consent: StrictBool = True  # written to the scenario only when the script gives it
    voice: VoiceSpec = VoiceSpec()
    gain_db: StrictFloat = DEFAULT_GAIN_DB  # speech level applied to eSpeak's output
    noise_db: Annotated[StrictFloat, Field(lt=0)] | None = None  # steady noise floor, RMS dBFS
    leak_from: Literal["all"] | list[Text] | None = None  # crosstalk: whose speech this microphone picks up
    leak_db: Annotated[StrictFloat, Field(le=0)] | None = None  # relative to the source's speech
    leak_delay_ms: Annotated[StrictFloat, Field(ge=0)] = DEFAULT_LEAK_DELAY_MS

    @field_validator("leak_from", mode="before")
    @classmethod
    def _all_or_keys(cls, v: object) -> object:
        if v is not None and v != "all" and not isinstance(v, list):
            raise ValueError("must be 'all' or a list of keys")
        return v

    @model_validator(mode="after")
    def _leak_and_level(self) -> ScriptParticipant:
        if (self.leak_from is None) != (self.leak_db is None):
            raise ValueError("leak_from and leak_db go together")
        return self

    def scenario_fields(self) -> dict[str, Any]:
        """The participant as scenario.yaml describes them (the generator adds the audio)."""
        fields = self.model_dump(include={"key", "name", "role", "customer_key", "email"}, exclude_none=True)
        if "consent" in self.model_fields_set:
            fields["consent"] = self.consent
        return fields

    def leaks_from(self, keys: list[str]) -> list[str]:
        """Whose speech leaks into this microphone (``all``: everybody else's)."""
        if self.leak_from == "all":
            return [k for k in keys if k != self.key]
        return list(self.leak_from or [])


class _ParticipantLine(_Strict):
    """A timeline line about one participant (every type but ``end``). scenario.yaml writes its fields in
    the order the script gives them, as it always has: a generated scenario is cached by the script's bytes
    and the generator's version, so the same script must give the same bytes."""
    t: StrictFloat
    who: Text
    _written: tuple[str, ...] = PrivateAttr(())

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler: Any) -> _ParticipantLine:
        line = handler(data)
        line._written = tuple(data)
        return line

    def payload(self) -> dict[str, Any]:
        """The scenario event's fields besides t, type and who: as written, then the defaults."""
        fields = self.model_dump(exclude={"t", "type", "who"})
        return {**{k: fields[k] for k in self._written if k in fields}, **fields}


class Action(_ParticipantLine):
    type: Literal["join", "leave", "mute", "unmute", "video_on", "video_off", "raise_hand", "lower_hand",
                  "share_start", "share_end"]


class Chat(_ParticipantLine):
    type: Literal["chat"]
    text: NonBlank
    to: Text = "everyone"  # everyone, host, bot or a participant's key


class Reaction(_ParticipantLine):
    type: Literal["reaction"]
    emoji: NonBlank


class Rename(_ParticipantLine):
    type: Literal["rename"]
    name: NonBlank


class Say(_ParticipantLine):
    """Speech: synthesised onto the speaker's track, starting at t (never a scenario event)."""
    type: Literal["say"]
    text: NonBlank


class End(_Strict):
    """Allowed only at duration_s, where the generator writes the meeting's end anyway."""
    t: StrictFloat
    type: Literal["end"]


Line = Annotated[Action | Chat | Reaction | Rename | Say | End, Field(discriminator="type")]


class Script(_Strict):
    """A whole script: the meeting, its people and what they do when."""
    meeting: ScriptMeeting
    audio_rate: Annotated[Whole, Field(ge=8000, le=48000)] | None = None  # of the WAVs; default eSpeak's
    participants: Annotated[list[ScriptParticipant], Field(min_length=1)]
    timeline: list[Line]

    @model_validator(mode="after")
    def _references(self) -> Script:
        """Checks across fields (keys, leak sources, lines against the people and the duration): their
        messages name the place themselves, as no one field is at fault."""
        keys = [p.key for p in self.participants]
        for i, p in enumerate(self.participants):
            if p.key in keys[:i]:
                raise ValueError(f"participants[{i}]: duplicate key {p.key!r}")
            for k in p.leaks_from(keys):
                if k not in keys or k == p.key:
                    raise ValueError(f"participant {p.key}: leak_from names unknown participant {k!r}")
        dur = self.meeting.duration_s
        for i, line in enumerate(self.timeline):
            problem = None
            if isinstance(line, End):
                if line.t != dur:
                    problem = f"'end' may only appear at t=duration_s ({dur:g}); it is written automatically"
            elif not 0 <= line.t <= dur:
                problem = f"t outside 0..duration_s ({dur:g})"
            elif line.who not in keys:
                problem = f"unknown participant {line.who!r}"
            elif isinstance(line, Chat) and line.to not in CHAT_TARGETS and line.to not in keys:
                problem = f"unknown chat target {line.to!r}"
            if problem:
                raise ValueError(f"{describe(i, dict(line))}: {problem}")
        return self

    def lines(self) -> list[tuple[int, Action | Chat | Reaction | Rename | Say]]:
        """The timeline with each line's index, in time order (ties keep the script's order), without
        ``end``."""
        return sorted(((i, ln) for i, ln in enumerate(self.timeline) if not isinstance(ln, End)),
                      key=lambda il: il[1].t)


def describe(index: int, line: object) -> str:
    """``timeline[3] (t=12, say, who=p2, text='Hello')``: a line as messages name it. Takes the line as
    written, so that it also names a line that failed validation."""
    if not isinstance(line, Mapping):
        return f"timeline[{index}]"
    bits = []
    if "t" in line:
        t = line["t"]
        bits.append(f"t={t:g}" if isinstance(t, (int, float)) and not isinstance(t, bool) else f"t={t!r}")
    if "type" in line:
        bits.append(str(line["type"]))
    if line.get("who") is not None:
        bits.append(f"who={line['who']}")
    if "text" in line:
        text = str(line["text"])
        bits.append(f"text={text[:40] + '...' if len(text) > 40 else text!r}")
    return f"timeline[{index}] ({', '.join(bits)})"


def _place(where: str, raw: dict[str, Any]) -> str:
    """A dotted field path in words: ``timeline.3.say.text`` -> ``timeline[3] (t=12, say, …): text`` (the
    union's tag, the line's type, dropped), ``participants.0.voice.rate`` -> ``participant p1: voice.rate``,
    anything else as it is (``meeting.start``)."""
    group, _, rest = where.partition(".")
    index, _, field = rest.partition(".")
    if group not in ("timeline", "participants") or not index.isdigit():
        return where
    item = raw[group][int(index)]
    if group == "timeline":
        place, field = describe(int(index), item), field.partition(".")[2]
    else:
        key = item.get("key") if isinstance(item, dict) else None
        place = f"participant {key}" if isinstance(key, str) and field != "key" else f"participants[{index}]"
    return f"{place}: {field}" if field else place


def parse_script(raw: Any) -> Script:
    """A parsed YAML script, validated; a ValueError says where and why it is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("script must be a YAML mapping")
    try:
        return Script.model_validate(raw)
    except ValidationError as exc:
        where, problem = first_problem(exc)
        located = bool(exc.errors()[0]["loc"])  # else a check across lines, whose message names the place
        raise ValueError(f"{_place(where, raw)}: {problem}" if located else problem) from None
