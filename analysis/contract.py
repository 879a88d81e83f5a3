"""The contract between bot processes and the orchestrator: the Redis keys they share, a bot's job
statuses and state fields, and how reports, observations and live snapshots are written into Redis.

Both sides import it and neither imports the other (docs/architecture.md). It lives in the shared core
because it is pure: names and codecs, no connection. The orchestrator's own keys (schedules, webhooks,
reconciliation) are in ``orchestrator/keys.py``.
"""
from __future__ import annotations

from enum import StrEnum
from string import Template
from typing import NamedTuple

PREFIX = "rollcall"  # every key starts with it, so a shared Redis can hold other applications' data too


class BotStatus(StrEnum):
    """A bot job's state in its hash (``bot(job)``, field ``status``)."""

    LAUNCHING = "launching"
    """The orchestrator launched it; no heartbeat yet."""
    RUNNING = "running"
    """Its heartbeat renews the lease."""
    FINISHED = "finished"
    """It ended as it should: the meeting ended, or there was nothing to do."""
    EXITED = "exited"
    """It failed and said so (exit code and reason beside it): the orchestrator decides what follows."""
    DIED = "died"
    """The orchestrator gave up on it (exit without a word, or its lease lapsed); replaced if worth it."""
    FAILED = "failed"
    """Given up on and not replaced: an alert is raised."""
    DUPLICATE = "duplicate"
    """Never launched: another bot already holds the meeting."""


LIVE = (BotStatus.LAUNCHING, BotStatus.RUNNING)  # the statuses of a bot that may still be in its meeting


class BotField(StrEnum):
    """The fields of a bot job's hash."""

    STATUS = "status"
    """A :class:`BotStatus`."""
    MEETING_ID = "meeting_id"
    SCHEDULE = "schedule"
    """The schedule the job serves (orchestrator)."""
    ATTEMPT = "attempt"
    """1 for the first bot of a schedule, then one more per replacement."""
    REPLACES = "replaces"
    """The job this one replaces ("" for none)."""
    LAUNCHER = "launcher"
    HANDLE = "handle"
    """The launcher's handle (a process id, a Kubernetes job name)."""
    LAUNCHED_AT = "launched_at"
    DUE = "due"
    HEARTBEAT_AT = "heartbeat_at"
    """Wall time (epoch seconds) of the last heartbeat (bot)."""
    JOINED_AT = "joined_at"
    """Wall time of the bot's media time 0: its join (bot)."""
    JOIN_S = "join_s"
    """Seconds into the meeting at which the bot joined (0 for a bot there from the start) (bot)."""
    CUSTOMER_KEY = "customer_key"
    SCENARIO_START = "scenario_start"
    FLUSHED_MEDIA_S = "flushed_media_s"
    """Media time up to which the bot's observation log is complete (bot)."""
    EXIT_CODE = "exit_code"
    REASON = "reason"
    ENDED_AT = "ended_at"
    LATE_STATUS = "late_status"
    """How the bot itself ended, when the orchestrator had already given up on it."""
    LATE_EXIT_CODE = "late_exit_code"
    TRANSPORT = "transport"
    """How the bot observes the meeting: "zoom_sdk" (a participant) or "rtms" (a stream Zoom sends) (bot)."""
    RTMS_STREAM = "rtms_stream"
    """The RTMS stream an RTMS worker receives (bot)."""
    STOP_REQUESTED = "stop_requested"
    """Wall time the orchestrator asked the bot to leave (its RTMS stream was stopped and it stayed)."""


# what each transport cannot observe (``MeetingInfo.not_observed``): the worker's own report says so, and
# so must a report the orchestrator rebuilds from a dead worker's log
NOT_OBSERVED_BY: dict[str, list[str]] = {
    "zoom_sdk": [], "rtms": ["hands", "reactions", "chat", "camera", "mute", "share", "roles"]}


def lua(script: str) -> str:
    """A Lua script with ``$status`` names (``$running``, ``$died`` …) replaced by the statuses' values,
    and ``$f_field`` names by the fields' (``$f_status``): one spelling of each, here."""
    names = {s.name.lower(): s.value for s in BotStatus} | {f"f_{f.name.lower()}": f.value for f in BotField}
    return Template(script).substitute(names)


# ---- keys ------------------------------------------------------------------------------------------
def bot(job_id: str) -> str:
    """Hash: the job's state (:class:`BotField`)."""
    return f"{PREFIX}:bot:{job_id}"


def bot_lease(job_id: str) -> str:
    """The heartbeat lease: it expires when the bot stops renewing it."""
    return f"{PREFIX}:bot:{job_id}:lease"


def bot_observations(job_id: str) -> str:
    """Stream: the bot's observation log (:func:`observation_entry`)."""
    return f"{PREFIX}:bot:{job_id}:obs"


def meeting_lock(meeting_id: str) -> str:
    """One live bot per meeting: the job id of the bot that holds it."""
    return f"{PREFIX}:lock:meeting:{meeting_id}"


def live_channel(meeting_id: str) -> str:
    """Pub/sub channel of the meeting's live snapshots (fan-out)."""
    return f"{PREFIX}:live:{meeting_id}"


def live_stream(meeting_id: str) -> str:
    """Capped stream of the meeting's live snapshots (:func:`live_entry`), for late joiners and replay."""
    return f"{PREFIX}:live:{meeting_id}:stream"


def bot_reports(meeting_id: str) -> str:
    """Hash of one meeting number's bot reports: field :func:`report_field`, value the report's JSON."""
    return f"{PREFIX}:bot_reports:{meeting_id}"


# ---- records -----------------------------------------------------------------------------------------
def report_field(started_at: str, job_id: str) -> str:
    """The field of a bot's report in :func:`bot_reports`: its start (ISO 8601) and job."""
    return f"{started_at}|{job_id}"


def report_job(field: str) -> str:
    """The job of a :func:`report_field`."""
    return field.rpartition("|")[2]


_OBSERVATION = "r"
_SNAPSHOT, _JOB = "snapshot", "job"


def observation_entry(line: str) -> dict[str, str]:
    """A stream entry of the observation log: one JSON line (``analysis.observations``)."""
    return {_OBSERVATION: line}


def observation_line(fields: dict[str, str]) -> str:
    return fields[_OBSERVATION]


class LiveEntry(NamedTuple):
    """An entry of the live stream: which bot sent it, and the snapshot's JSON."""

    job: str
    snapshot: str

    def fields(self) -> dict[str, str]:
        return {_JOB: self.job, _SNAPSHOT: self.snapshot}

    @classmethod
    def parse(cls, fields: dict[str, str]) -> LiveEntry:
        return cls(fields.get(_JOB, ""), fields[_SNAPSHOT])
