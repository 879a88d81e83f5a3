"""The orchestrator's API (`rollcall serve`): schedules (list, create, cancel), bots, final records.

Every endpoint needs ``Authorization: Bearer <ROLLCALL_ADMIN_TOKEN>`` (compared in constant time), the
OpenAPI description (/openapi.json, which lists every endpoint and field) included; without a configured
token the API is closed (503), never open. There is no /docs page: a browser cannot send the token.
Passcodes are write-only: no answer carries one. Bodies are checked once, by the models here: a value out
of range is a 422, never a 500 from the arithmetic behind it.
"""
from __future__ import annotations

import hmac
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from analysis.contract import BotField
from analysis.scenario import Scenario, ScenarioError
from orchestrator import keys
from orchestrator.paths import InvalidIdentifier, check_id
from orchestrator.report_store import ReportStore
from orchestrator.scenario_file import read_scenario
from orchestrator.dispatch.schedule_store import MAX_LENGTH_S, Schedule, ScheduleStore, start_problem


def admin(request: Request) -> None:
    token = request.app.state.settings.admin_token
    if token is None:
        raise HTTPException(503, "the API is closed: set ROLLCALL_ADMIN_TOKEN")
    given = request.headers.get("authorization", "")
    if not given.startswith("Bearer ") or not hmac.compare_digest(given[7:].encode(),
                                                                    token.get_secret_value().encode()):
        raise HTTPException(401, "a valid admin token is needed", headers={"WWW-Authenticate": "Bearer"})


router = APIRouter(dependencies=[Depends(admin)])
MAX_SCENARIO_BYTES = 1024 * 1024  # scenario files are a few KiB


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


class ScheduleIn(BaseModel):
    """A bot for a Zoom meeting (``meeting_id``) or a simulated one (``scenario``: a path on the server)."""

    model_config = ConfigDict(allow_inf_nan=False)

    at: datetime = Field(description="When the meeting starts (with a time zone): from a minute ago to two years "
                                     "ahead.")
    meeting_id: str | None = Field(default=None, pattern=r"^\d{9,12}$")
    scenario: str | None = Field(default=None, min_length=1, max_length=4096)
    duration_s: float | None = Field(default=None, gt=0, le=MAX_LENGTH_S)
    lead_s: float | None = Field(default=None, ge=0, le=MAX_LENGTH_S,
                                 description="Seconds before the start the bot is sent.")
    passcode: str | None = Field(default=None, max_length=256)
    topic: str = Field(default="", max_length=500)
    asr: bool = True
    transport: Literal["zoom_sdk", "rtms"] = Field(
        default="zoom_sdk", description="A Zoom meeting: a bot joins (zoom_sdk), or its RTMS stream is received.")

    @field_validator("scenario")
    @classmethod
    def _a_path(cls, v: str | None) -> str | None:
        if v is not None and "\0" in v:
            raise ValueError("scenario: not a file name")
        return v

    @model_validator(mode="after")
    def _one_target(self) -> ScheduleIn:
        if (self.meeting_id is None) == (self.scenario is None):
            raise ValueError("give either meeting_id or scenario")
        if self.at.tzinfo is None:
            raise ValueError("at needs a time zone")
        problem = start_problem(self.at, datetime.now(UTC))
        if problem is not None:
            raise ValueError(f"at: {problem}")
        return self


class ScheduleOut(BaseModel):
    id: str
    kind: Literal["zoom", "scenario"]
    meeting_id: str
    topic: str
    start_at: datetime
    join_at: datetime
    end_at: datetime
    status: str
    source: str
    bots: list[str]


class Created(BaseModel):
    id: str
    new: bool


def _out(r, sid: str, s: Schedule) -> ScheduleOut:
    return ScheduleOut(id=sid, kind=s.kind, meeting_id=s.meeting_id, topic=s.topic, start_at=s.start_at,
                       join_at=s.join_at, end_at=s.end_at, status=s.status, source=s.source,
                       bots=r.lrange(keys.schedule_jobs(sid), 0, -1))


@router.get("/schedules", response_model=list[ScheduleOut])
def list_schedules(request: Request) -> list[ScheduleOut]:
    r = request.app.state.redis
    return [_out(r, sid, s) for sid, s in ScheduleStore(r).all()]


def _scenario(path: Path) -> Scenario:
    """The scenario file at ``path`` on this server, or a 422 that names the field and nothing else: the
    parser's message quotes the file, and the file could be any the server can read. Only a regular file of
    reasonable size is read (not /dev/zero, not a FIFO)."""
    try:
        info = path.stat()
        if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_SCENARIO_BYTES:
            return read_scenario(path)
    except (OSError, ScenarioError):
        pass
    raise HTTPException(422, "scenario: file not found, unreadable, or not a valid scenario")


@router.post("/schedules", response_model=Created, status_code=201)
def create_schedule(body: ScheduleIn, request: Request) -> Created:
    if body.scenario is not None:
        path = Path(body.scenario)
        sc = _scenario(path)
        try:
            check_id(sc.meeting.id, "scenario: meeting.id")  # it names the bot's folder
        except InvalidIdentifier as exc:
            raise HTTPException(422, str(exc)) from None
        s = Schedule(meeting_id=sc.meeting.id, kind="scenario", scenario=str(path.resolve()), start_at=body.at,
                     join_at=body.at - timedelta(seconds=3.0 if body.lead_s is None else body.lead_s),
                     end_at=body.at + timedelta(seconds=body.duration_s or sc.end_s), topic=body.topic or sc.meeting.topic,
                     asr=body.asr)
    else:
        assert body.meeting_id is not None
        s = Schedule(meeting_id=body.meeting_id, start_at=body.at,
                     join_at=body.at - timedelta(seconds=60.0 if body.lead_s is None else body.lead_s),
                     end_at=body.at + timedelta(seconds=body.duration_s or 3600), passcode=body.passcode,
                     topic=body.topic, asr=body.asr, transport=body.transport)
    sid, new = ScheduleStore(request.app.state.redis).add(s)
    return Created(id=sid, new=new)


@router.delete("/schedules/{schedule_id}", status_code=204)
def cancel_schedule(schedule_id: str, request: Request) -> Response:
    if not ScheduleStore(request.app.state.redis).cancel(schedule_id):
        raise HTTPException(404, f"no schedule {schedule_id}")
    return Response(status_code=204)


_BOT_FIELDS = (BotField.STATUS, BotField.SCHEDULE, BotField.MEETING_ID, BotField.ATTEMPT, BotField.REPLACES,
               BotField.LAUNCHER, BotField.LAUNCHED_AT, BotField.HEARTBEAT_AT, BotField.JOIN_S,
               BotField.FLUSHED_MEDIA_S, BotField.EXIT_CODE, BotField.REASON, BotField.ENDED_AT)


@router.get("/bots/{job_id}")
def bot(job_id: str, request: Request) -> dict:
    h = request.app.state.redis.hgetall(keys.bot(job_id))
    if not h:
        raise HTTPException(404, f"no bot {job_id}")
    return {"job": job_id, **{k: h[k] for k in _BOT_FIELDS if k in h},
            "alive": bool(request.app.state.redis.exists(keys.bot_lease(job_id)))}


@router.get("/bots")
def bots(request: Request) -> list[dict]:
    r = request.app.state.redis
    return [bot(job, request) for sid, _ in ScheduleStore(r).all() for job in r.lrange(keys.schedule_jobs(sid), 0, -1)]


@router.get("/reports/{meeting}")
def report(meeting: Annotated[str, "an instance UUID, a schedule id, or a meeting number (latest)"],
           request: Request) -> dict:
    record = ReportStore(request.app.state.redis).record(meeting)
    if record is None:
        raise HTTPException(404, f"no final record for {meeting}")
    return record
