"""Training policies: what a mandatory training requires of each attendee (presence, lateness, leaving
early, camera, speaking, answering roll calls), validated with clear errors.

Pure: text in, a model out (``parse_policy``); reading the file is the caller's. ``DEFAULT_POLICY`` is
what applies when a meeting names none. Times are seconds; shares are of the scheduled duration
(presence) or of the person's own presence (camera).
"""
from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from analysis.scenario import validate_document


class PolicyError(Exception):
    """A policy that cannot be used, with where and why."""

    def __init__(self, path: Path | str, field: str, problem: str) -> None:
        self.path, self.field, self.problem = path, field, problem
        super().__init__(f"{path}: {field}: {problem}" if field else f"{path}: {problem}")


class _Strict(BaseModel):
    """As a scenario's models: unknown fields (typos) and non-finite numbers are errors."""
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Window(_Strict):
    start_s: Annotated[float, Field(ge=0)]
    end_s: Annotated[float, Field(gt=0)]

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self


class RollCall(_Strict):
    """Prompts posted in the chat; each must be answered within ``response_window_s``. Either a prompt
    every ``every_s`` from ``first_at_s``, or one at a random moment within each window (the same moments
    for the same meeting: the draw is seeded by the meeting id)."""

    # at least a second: the prompt clock must advance (120 + 1e-20 == 120) and the chat not flood
    every_s: Annotated[float, Field(ge=1)] | None = 300.0
    first_at_s: Annotated[float, Field(ge=0)] = 120.0
    windows: list[Window] | None = None
    response_window_s: Annotated[float, Field(gt=0)] = 60.0
    text: Annotated[str, Field(min_length=1)] = "Roll call: please reply \"here\" in the chat."
    # words that count as an answer (case and punctuation ignored); empty: any message to everyone or the bot
    accept: list[str] = ["here", "present", "yes", "hi", "hello"]
    max_missed: Annotated[int, Field(ge=0)] = 1  # missed prompts tolerated (the first is a warning)

    @model_validator(mode="after")
    def _one_plan(self) -> RollCall:
        if self.windows is not None and self.every_s is not None and "every_s" in self.model_fields_set:
            raise ValueError("give either every_s or windows, not both")
        return self

    def prompt_times(self, duration_s: float, meeting_id: str) -> list[float]:
        """When prompts are posted, in media seconds from the meeting's start (before its end, leaving
        room for the answer)."""
        last = duration_s - self.response_window_s
        if self.windows is not None:
            seed = int.from_bytes(hashlib.sha256(meeting_id.encode()).digest()[:8], "big")
            rng = random.Random(seed)
            return sorted(round(rng.uniform(w.start_s, min(w.end_s, last)), 1) for w in self.windows
                          if w.start_s <= last)
        times, t = [], self.first_at_s
        while self.every_s is not None and t <= last:
            times.append(t)
            t += self.every_s
        return times


class Grace(_Strict):
    drop_s: Annotated[float, Field(ge=0)] = 30.0  # an absence this short is a network drop, not an absence


class Notify(_Strict):
    host_on_at_risk: bool = True  # a private chat message to the host when someone becomes at risk
    min_interval_s: Annotated[float, Field(ge=0)] = 20.0  # messages closer than this are sent together
    summary_every_s: Annotated[float, Field(gt=0)] | None = None  # a periodic top-line message to the host


class TrainingPolicy(_Strict):
    name: str = "default"
    min_presence_share: Annotated[float, Field(ge=0, le=1)] = 0.8
    max_late_join_s: Annotated[float, Field(ge=0)] | None = 300.0
    max_early_leave_s: Annotated[float, Field(ge=0)] | None = 300.0
    min_camera_share: Annotated[float, Field(ge=0, le=1)] | None = None
    must_speak: bool = False
    min_talk_s: Annotated[float, Field(ge=0)] | None = None
    camera_warmup_s: Annotated[float, Field(ge=0)] = 60.0  # presence before the camera rule can warn
    roll_call: RollCall | None = RollCall()
    grace: Grace = Grace()
    notify: Notify = Notify()
    roles: list[str] = ["attendee", "cohost"]  # who the policy applies to (the host runs the training)


DEFAULT_POLICY = TrainingPolicy()
POLICIES = {"default": DEFAULT_POLICY}  # the built-in policies, by the name a meeting or --policy gives


def parse_policy(text: str, path: Path | str = "<policy>") -> TrainingPolicy:
    """Validate a policy's YAML; errors name the file, the field and the problem. Only PolicyError comes
    out of here, whatever the text."""
    return validate_document(text, TrainingPolicy, path, PolicyError,
                             "of rules (min_presence_share, roll_call, …)")
