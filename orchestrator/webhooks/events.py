"""What happens to a Zoom webhook after the receiver has verified and queued it: parsed tolerantly,
appended to its meeting instance's webhook log (the evidence reconciliation merges with Zoom's reports),
and, for ``meeting.ended``, a reconciliation job queued for a little later
(``../shared/reference/zoom-rest-webhooks.md`` §3.1, §8).

Zoom retries, duplicates and reorders events (``participant_left`` can follow ``meeting.ended``), and the
consumer is at-least-once, so handling never depends on order and handling an event twice changes
nothing: the log is appended to only when the same entry is not already in it, and the queue keeps the
earlier due time of a job and skips one already done. E-mail addresses go to Redis (an identity key for
reconciliation) but never to Python logging; neither do names or download tokens.

``meeting.updated`` and ``meeting.deleted`` concern the schedule, not an instance's attendance: they are
parsed (so a malformed one is poison like any other) but not logged per instance. They, and
``meeting.started`` once logged, go to an optional ``on_meeting_change`` hook (the calendar sync,
``orchestrator/dispatch/calendar_sync.py``), which must be idempotent too; a Redis error it raises leaves the entry
unacknowledged, any other error makes it poison. ``meeting.rtms_started`` and ``rtms_stopped`` (their
fields in ``payload``, not in an ``object``; ``../shared/reference/zoom-rtms.md`` §2.1) are logged on
their instance by ``meeting_uuid`` (the record that a media stream ran, and of which stream) and go to the
same hook (the RTMS streams, ``orchestrator/dispatch/rtms_streams.py``).
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
import structlog

from orchestrator import keys
from orchestrator.reconciliation.queue import ReconcileJob, ReconcileQueue
from orchestrator.settings import Settings

log = structlog.get_logger(__name__)


class _Tolerant(BaseModel):
    """Unknown fields kept, blank strings read as None, numbers accepted where Zoom usually sends text."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v


class Participant(_Tolerant):
    """``object.participant``. Times stay as Zoom wrote them (ISO 8601); reconciliation parses them."""

    user_id: str | None = None  # per join: changes on rejoin, breakout move, waiting-room transition
    user_name: str | None = None
    id: str | None = None
    participant_uuid: str | None = None
    participant_user_id: str | None = None
    registrant_id: str | None = None
    customer_key: str | None = None  # set by SDK clients such as our bot
    email: str | None = None
    join_time: str | None = None
    leave_time: str | None = None
    leave_reason: str | None = None
    date_time: str | None = None  # waiting-room events carry this instead of join/leave times
    parent_user_id: str | None = None  # breakout events: the main-room user_id


class MeetingObject(_Tolerant):
    id: str | None = None  # the meeting number, a string in meeting.* events
    uuid: str | None = None  # the instance
    topic: str | None = None
    host_id: str | None = None
    start_time: str | None = None
    end_time: str | None = None  # meeting.ended only


class ChangedOccurrence(_Tolerant):
    occurrence_id: str | None = None  # the occurrence's start in epoch milliseconds
    start_time: str | None = None
    duration: int | None = None
    status: str | None = None


class ChangedMeetingObject(MeetingObject):
    """``meeting.updated``: only the fields that changed, with ``id``; one occurrence's change (or
    ``meeting.deleted`` of one occurrence) lists it in ``occurrences``."""

    occurrences: list[ChangedOccurrence] = Field(default_factory=list)

    @field_validator("occurrences", mode="before")
    @classmethod
    def _no_occurrences(cls, v: Any) -> Any:
        return [] if v is None else v


class ParticipantObject(MeetingObject):
    participant: Participant | None = None
    breakout_room_uuid: str | None = None


class RecordingFile(_Tolerant):
    id: str | None = None
    recording_start: str | None = None
    recording_end: str | None = None
    file_type: str | None = None
    recording_type: str | None = None
    download_url: str | None = None


class RecordingObject(_Tolerant):
    id: int | str | None = None  # the meeting number, a number in recording.* events
    uuid: str | None = None
    topic: str | None = None
    host_id: str | None = None
    start_time: str | None = None
    recording_files: list[RecordingFile] = Field(default_factory=list)

    @field_validator("recording_files", mode="before")
    @classmethod
    def _no_files(cls, v: Any) -> Any:
        return [] if v is None else v


class MeetingPayload(_Tolerant):
    account_id: str | None = None
    object: MeetingObject = Field(default_factory=MeetingObject)


class MeetingChangePayload(_Tolerant):
    account_id: str | None = None
    operator: str | None = None
    object: ChangedMeetingObject = Field(default_factory=ChangedMeetingObject)
    old_object: ChangedMeetingObject | None = None  # meeting.updated: the changed fields' earlier values


class ParticipantPayload(_Tolerant):
    account_id: str | None = None
    object: ParticipantObject = Field(default_factory=ParticipantObject)


class RecordingPayload(_Tolerant):
    account_id: str | None = None
    object: RecordingObject = Field(default_factory=RecordingObject)
    download_token: str | None = None


class RtmsPayload(_Tolerant):
    """``meeting.rtms_started``/``rtms_stopped``: a Realtime Media Streams stream is ready, or over (with
    its ``stop_reason``). Its fields sit in ``payload``
    itself, with no ``object``; some of Zoom's samples nest them in ``object``, so a field missing at the
    top is taken from there. ``server_urls`` and Zoom's ``signature`` are for the stream's worker only."""

    account_id: str | None = None
    meeting_uuid: str | None = None  # the instance
    meeting_id: str | None = None  # the meeting number (added 2026-05)
    rtms_stream_id: str | None = None
    server_urls: str | None = None
    operator_id: str | None = None
    is_original_host: bool | None = None
    stop_reason: int | None = None  # meeting.rtms_stopped

    @model_validator(mode="before")
    @classmethod
    def _lift_object(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("object"), dict):
            return {**data["object"], **{k: v for k, v in data.items() if k != "object" and v is not None}}
        return data


class WebhookEvent(_Tolerant):
    event: str
    event_ts: int | None = None  # epoch milliseconds


class MeetingEvent(WebhookEvent):
    payload: MeetingPayload = Field(default_factory=MeetingPayload)


class RtmsEvent(WebhookEvent):
    payload: RtmsPayload = Field(default_factory=RtmsPayload)


class MeetingChangeEvent(WebhookEvent):
    payload: MeetingChangePayload = Field(default_factory=MeetingChangePayload)


class ParticipantEvent(WebhookEvent):
    payload: ParticipantPayload = Field(default_factory=ParticipantPayload)

    @property
    def participant(self) -> Participant:
        return self.payload.object.participant or Participant()


class RecordingEvent(WebhookEvent):
    payload: RecordingPayload = Field(default_factory=RecordingPayload)
    download_token: str | None = None  # beside ``payload`` in Zoom's envelope; 24 h access to the files

    @property
    def token(self) -> str | None:
        return self.download_token or self.payload.download_token


# Participant events: where the person is (Zoom's report ``status`` names where they exist) and
# whether the event starts or ends that stay.
PARTICIPANT_STATUS: dict[str, tuple[str, str]] = {
    "meeting.participant_joined": ("in_meeting", "join"),
    "meeting.participant_left": ("in_meeting", "leave"),
    "meeting.participant_joined_waiting_room": ("in_waiting_room", "join"),
    "meeting.participant_put_in_waiting_room": ("in_waiting_room", "join"),
    "meeting.participant_left_waiting_room": ("in_waiting_room", "leave"),
    "meeting.participant_admitted": ("in_waiting_room", "leave"),
    "meeting.participant_jbh_waiting": ("waiting_for_host", "join"),
    "meeting.participant_jbh_waiting_left": ("waiting_for_host", "leave"),
    "meeting.participant_jbh_joined": ("joined_before_host", "join"),
    "meeting.participant_joined_breakout_room": ("in_breakout_room", "join"),
    "meeting.participant_left_breakout_room": ("in_breakout_room", "leave"),
}

MODELS: dict[str, type[WebhookEvent]] = {
    "meeting.started": MeetingEvent,
    "meeting.ended": MeetingEvent,
    "meeting.updated": MeetingChangeEvent,
    "meeting.deleted": MeetingChangeEvent,
    **{name: ParticipantEvent for name in PARTICIPANT_STATUS},
    "recording.completed": RecordingEvent,
    "meeting.rtms_started": RtmsEvent,
    "meeting.rtms_stopped": RtmsEvent,
}

_PARTICIPANT_LOGGED = ("user_id", "participant_uuid", "id", "participant_user_id", "registrant_id", "customer_key",
                       "email", "user_name", "join_time", "leave_time", "date_time", "leave_reason", "parent_user_id")

# Append the entry unless the very same entry is already there (a redelivery handled twice). The log
# lives 35 days: Zoom's retries end after ~85 minutes and past-meeting instances expire after 30 days.
LOG_TTL_S = 35 * 86400
_APPEND_ONCE = """
if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


MAX_DEPTH = 32  # Zoom's events nest about six levels; the parsers and models here recurse
_SURROGATE = re.compile("[\\ud800-\\udfff]")  # a lone surrogate (JSON's \ud800 escape): not text, Redis cannot store it


class _Frame(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _PayloadFrame(_Frame):
    object: dict[str, Any] = Field(default_factory=dict)


class Envelope(_Frame):
    """Any event's frame, whatever its type: a short printable name, and ``payload`` and its ``object``
    JSON objects when present (what ``delivery_key``, the refusal record and the models here read)."""

    event: str = Field(pattern=r"^[!-~]{1,128}$")
    payload: _PayloadFrame = Field(default_factory=_PayloadFrame)


class InvalidEnvelope(ValueError):
    """Not an event the consumer can handle. The message is short and never quotes the body."""


def _unfit(value: Any) -> str | None:
    """Why a parsed body cannot be stored and handled later, or None. Iterative: no depth can overflow it."""
    todo = [(value, 1)]
    while todo:
        v, depth = todo.pop()
        if isinstance(v, str) and _SURROGATE.search(v):
            return "a string is not valid Unicode"
        if isinstance(v, dict | list):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            todo.extend((item, depth + 1) for item in ([*v, *v.values()] if isinstance(v, dict) else v))
    return None


def check_envelope(envelope: Any) -> None:
    """The receiver's one check of a verified body, so that what it stores the consumer can handle (a 4xx
    now is recorded and followed up; an entry dropped as poison later is not): raises InvalidEnvelope."""
    if why := _unfit(envelope):
        raise InvalidEnvelope(why)
    try:
        Envelope.model_validate(envelope)
        parse_event(envelope)
    except ValidationError as exc:  # its message would quote the input, which may hold an e-mail address
        error = exc.errors()[0]
        raise InvalidEnvelope(f"{'.'.join(map(str, error['loc'])) or 'body'}: {error['msg']}") from None


def parse_event(envelope: dict) -> WebhookEvent | None:
    """The typed event, or None for an event type Rollcall does not use. Raises ValidationError only for
    a structurally impossible envelope (``payload`` not an object, say)."""
    model = MODELS.get(envelope.get("event"))  # type: ignore[arg-type]
    return model.model_validate(envelope) if model else None


def log_entry(event: WebhookEvent) -> dict[str, Any]:
    """The part of an event reconciliation needs, without blanks."""
    entry: dict[str, Any] = {"event": event.event, "event_ts": event.event_ts}
    if isinstance(event, MeetingEvent):
        obj = event.payload.object
        entry |= {"meeting_id": obj.id, "start_time": obj.start_time, "end_time": obj.end_time}
    elif isinstance(event, ParticipantEvent):
        status, edge = PARTICIPANT_STATUS[event.event]
        entry |= {"status": status, "edge": edge, "breakout_room_uuid": event.payload.object.breakout_room_uuid}
        entry |= event.participant.model_dump(include=set(_PARTICIPANT_LOGGED))
    elif isinstance(event, RtmsEvent):
        p = event.payload
        entry |= {"meeting_id": p.meeting_id, "rtms_stream_id": p.rtms_stream_id, "operator_id": p.operator_id,
                  "stop_reason": p.stop_reason}
    elif isinstance(event, RecordingEvent):
        obj = event.payload.object
        entry |= {"meeting_id": None if obj.id is None else str(obj.id), "start_time": obj.start_time,
                  "files": [f.model_dump(include={"file_type", "recording_type", "recording_start", "recording_end"},
                                         exclude_none=True) for f in obj.recording_files]}
    return {k: v for k, v in entry.items() if v is not None}


MeetingChangeHook = Callable[[dict], object]
HOOKED = ("meeting.started", "meeting.updated", "meeting.deleted")  # the training calendar follows these
RTMS_EVENTS = ("meeting.rtms_started", "meeting.rtms_stopped")  # ... and the RTMS streams these


def handle_event(envelope: dict, r: redis.Redis, queue: ReconcileQueue, *, reconcile_delay_s: float,
                 on_meeting_change: MeetingChangeHook | None = None) -> WebhookEvent | None:
    """Apply one verified envelope; returns the parsed event, or None when it was ignored.
    ``on_meeting_change`` gets the envelopes of ``HOOKED`` and ``RTMS_EVENTS`` once they are understood (and
    logged)."""
    event = parse_event(envelope)
    if event is None:
        log.debug("ignoring webhook event %r", envelope.get("event"))
        return None
    if isinstance(event, MeetingChangeEvent):
        meeting_id = event.payload.object.id
        if not meeting_id:
            log.warning("webhook event %r has no meeting id; ignored", event.event)
            return None
        log.info("webhook %s for meeting %s (%d occurrences named)", event.event, meeting_id,
                 len(event.payload.object.occurrences))
        if on_meeting_change is not None:
            on_meeting_change(envelope)
        return event
    if isinstance(event, RtmsEvent):
        uuid = event.payload.meeting_uuid
    else:
        uuid = event.payload.object.uuid  # type: ignore[attr-defined]
    if not uuid:
        log.warning("webhook event %r has no meeting uuid; ignored", event.event)
        return None
    entry = json.dumps(log_entry(event), separators=(",", ":"), ensure_ascii=False)
    added = r.eval(_APPEND_ONCE, 1, keys.meeting_webhook_log(uuid), entry, LOG_TTL_S)
    log.debug("webhook %s for meeting %s %s", event.event, uuid, "logged" if added else "already logged")
    if event.event == "meeting.ended":
        obj = event.payload.object  # type: ignore[attr-defined]
        job = ReconcileJob(uuid=uuid, meeting_id=obj.id, start_time=obj.start_time, end_time=obj.end_time,
                           source="webhook")
        if not queue.add(job, due=queue.clock() + reconcile_delay_s):
            log.debug("meeting %s already reconciled; meeting.ended not queued again", uuid)
    if on_meeting_change is not None and event.event in HOOKED + RTMS_EVENTS:
        on_meeting_change(envelope)
    return event


@dataclass
class Processed:
    """What one pass over the stream did: entries handled (ignored ones included), and poison entry ids."""

    handled: int = 0
    poison: list[str] = field(default_factory=list)


class _Poison(Exception):
    """A stream entry that can never be handled: acknowledged and reported, not retried."""


def ensure_group(r: redis.Redis) -> None:
    try:
        r.xgroup_create(keys.WEBHOOK_STREAM, keys.WEBHOOK_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _text(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


def _handle_entry(r: redis.Redis, queue: ReconcileQueue, fields: dict | None, reconcile_delay_s: float,
                  on_meeting_change: MeetingChangeHook | None = None) -> None:
    """Raises _Poison for an entry that cannot be handled; any Redis error passes through (the entry stays
    unacknowledged and is handled again: a failover's read-only replica or a full memory is temporary)."""
    if not fields:
        raise _Poison("entry trimmed from the stream before it was handled")
    body = _text({_text(k): v for k, v in fields.items()}.get("body"))
    try:
        envelope = json.loads(body) if isinstance(body, str) else None
    except (ValueError, RecursionError):  # stored before the receiver refused deep nesting
        envelope = None
    if not isinstance(envelope, dict):
        raise _Poison("body is not a JSON object")
    try:
        handle_event(envelope, r, queue, reconcile_delay_s=reconcile_delay_s, on_meeting_change=on_meeting_change)
    except ValidationError as exc:  # the message would quote the input, which may hold an e-mail address
        raise _Poison(f"invalid {envelope.get('event')!r}: {[e['loc'] for e in exc.errors()]}") from None
    except redis.RedisError:
        raise
    except Exception as exc:  # only the type: a message may quote the event's contents
        raise _Poison(f"{type(exc).__name__} handling {envelope.get('event')!r}") from None


def _entries(reply: Any) -> list[tuple[str, dict | None]]:
    """XREADGROUP's entries for the one stream read, in RESP2 (list) or RESP3 (dict) shape."""
    if not reply:
        return []
    streams = reply.values() if isinstance(reply, dict) else [s[1] for s in reply]
    return [(_text(entry_id), fields) for entries in streams for entry_id, fields in entries]


def _read_batch(r: redis.Redis, queue: ReconcileQueue, settings: Settings, consumer_name: str, start: str,
                count: int, block_ms: int | None, done: Processed,
                on_meeting_change: MeetingChangeHook | None = None) -> int:
    """Read up to ``count`` entries (``start`` "0": this consumer's unacknowledged ones; ">": new ones),
    handle and acknowledge each. Returns how many were read."""
    reply = r.xreadgroup(keys.WEBHOOK_GROUP, consumer_name, {keys.WEBHOOK_STREAM: start}, count=count, block=block_ms)
    entries = _entries(reply)
    for entry_id, fields in entries:
        try:
            _handle_entry(r, queue, fields, settings.reconcile_delay_s, on_meeting_change)
            done.handled += 1
        except _Poison as exc:
            log.warning("webhook stream entry %s dropped: %s", entry_id, exc)
            done.poison.append(entry_id)
        r.xack(keys.WEBHOOK_STREAM, keys.WEBHOOK_GROUP, entry_id)
    return len(entries)


def _claim_abandoned(r: redis.Redis, consumer_name: str, min_idle_ms: int) -> None:
    """Take over entries another consumer read but never acknowledged (it died, or was renamed)."""
    start = "0-0"
    while True:
        reply = r.xautoclaim(keys.WEBHOOK_STREAM, keys.WEBHOOK_GROUP, consumer_name, min_idle_ms, start_id=start,
                             count=100)  # not justid: redis-py then drops the cursor
        start = _text(reply[0])
        if start == "0-0":
            return


def process_pending_once(r: redis.Redis, queue: ReconcileQueue, settings: Settings, *,
                         consumer_name: str = "rollcall", count: int = 100,
                         on_meeting_change: MeetingChangeHook | None = None) -> Processed:
    """Handle everything available now (this consumer's unacknowledged entries first), without blocking."""
    ensure_group(r)
    done = Processed()
    for start in ("0", ">"):
        while _read_batch(r, queue, settings, consumer_name, start, count, None, done, on_meeting_change):
            pass
    return done


def consume(r: redis.Redis, queue: ReconcileQueue, settings: Settings, *, consumer_name: str, block_ms: int = 1000,
            stop: threading.Event, claim_idle_ms: int = 300_000,
            on_meeting_change: MeetingChangeHook | None = None) -> None:
    """Handle webhook entries until ``stop`` is set (checked every ``block_ms``). At-least-once: an entry is
    acknowledged after it was handled, so one read when the process died is handled again on restart
    (under the same ``consumer_name``, or by anyone after ``claim_idle_ms``). A Redis error (a lost
    connection, the group deleted) is waited out; the entries it interrupted are read again."""
    backlog = True
    while not stop.is_set():
        try:
            if backlog:
                ensure_group(r)
                _claim_abandoned(r, consumer_name, claim_idle_ms)
                while _read_batch(r, queue, settings, consumer_name, "0", 100, None, Processed(), on_meeting_change):
                    pass
                backlog = False
            _read_batch(r, queue, settings, consumer_name, ">", 100, max(1, block_ms), Processed(), on_meeting_change)
        except redis.RedisError as exc:  # lost connection, or the stream or group deleted under us
            log.warning("webhook consumer: %s from Redis; retrying", type(exc).__name__)
            backlog = True
            stop.wait(1.0)
