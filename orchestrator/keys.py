"""Every Redis key the orchestrator uses, in one place (documented in docs/architecture.md).

All keys start with ``rollcall:`` so a shared Redis can hold other applications' data too. The keys it
shares with bot processes are the contract's (``analysis/contract.py``), named here too so the
orchestrator's code finds every key in one namespace.
"""
from __future__ import annotations

from analysis.contract import (PREFIX, bot, bot_lease, bot_observations, bot_reports, live_channel,  # noqa: F401
                               live_stream, meeting_lock)

# webhooks from Zoom: the verified envelopes, in arrival order, and the delivery keys already taken
WEBHOOK_STREAM = f"{PREFIX}:webhooks:events"
WEBHOOK_GROUP = "rollcall-events"


def webhook_seen(delivery: str) -> str:
    return f"{PREFIX}:webhooks:seen:{delivery}"


# deliveries the receiver refused (never retried by Zoom): why, and the meeting instances they name, to be
# looked at through the API (sorted set: UUID by next look; hash: UUID → first refusal and looks so far)
WEBHOOK_REFUSED = f"{PREFIX}:webhooks:refused"
WEBHOOK_HINTS = f"{PREFIX}:webhooks:hints"
WEBHOOK_HINTS_SEEN = f"{PREFIX}:webhooks:hints:seen"


def meeting_webhook_log(uuid: str) -> str:
    """Every understood webhook event of one meeting instance, oldest first (JSON per entry)."""
    return f"{PREFIX}:meeting:{uuid}:webhooks"


def rtms_meeting(meeting_id: str) -> str:
    """The schedule that chose RTMS for a meeting (its streams start workers whatever the account)."""
    return f"{PREFIX}:rtms:meeting:{meeting_id}"


def rtms_stream(stream_id: str) -> str:
    """One RTMS stream (hash): its meeting, server URLs, start and status (started | stopped)."""
    return f"{PREFIX}:rtms:{stream_id}"


# reconciliation work: due jobs by time, the job's details, leases of running jobs, outcomes
RECONCILE_PENDING = f"{PREFIX}:reconcile:pending"
RECONCILE_INFLIGHT = f"{PREFIX}:reconcile:inflight"
RECONCILE_DONE = f"{PREFIX}:reconcile:done"
RECONCILE_FAILED = f"{PREFIX}:reconcile:failed"


def reconcile_job(uuid: str) -> str:
    return f"{PREFIX}:reconcile:job:{uuid}"


# schedules: each meeting instance a bot should attend (spec + state), due ones by join time, all by start;
# due schedules become entries of the job stream, which dispatchers read through a consumer group
SCHEDULES_DUE = f"{PREFIX}:schedules:due"
SCHEDULES = f"{PREFIX}:schedules"
JOB_STREAM = f"{PREFIX}:jobs"
JOB_GROUP = "dispatchers"
JOBS_DELAYED = f"{PREFIX}:jobs:delayed"  # sorted set: replacement jobs waiting out their backoff
SCHEDULES_ACTIVE = f"{PREFIX}:schedules:active"  # dispatched and not yet ended
BOTS_RUNNING = f"{PREFIX}:bots:running"  # set of job ids the monitor watches
ALERTS = f"{PREFIX}:alerts"  # stream: failures a person should look at
CALENDAR_LOCK = f"{PREFIX}:calendar:lock"  # one calendar sync or webhook change at a time, across processes


def schedule(sid: str) -> str:
    return f"{PREFIX}:schedule:{sid}"


def schedule_jobs(sid: str) -> str:
    """List of the job ids sent for a schedule, in order (a replacement after a crash is the next one)."""
    return f"{PREFIX}:schedule:{sid}:jobs"


# the report store: what bots wrote (``bot_reports``, the contract's), and the reconciled final records
def registrant_bindings(meeting_id: str) -> str:
    """Hash: registrant id → the customer key (employee id) Rollcall registered it for."""
    return f"{PREFIX}:registrants:{meeting_id}"


def record(uuid: str) -> str:
    return f"{PREFIX}:record:{uuid}"


RECORDS = f"{PREFIX}:records"  # sorted set of instance UUIDs by meeting start


def records_of_meeting(meeting_id: str) -> str:
    return f"{PREFIX}:records:meeting:{meeting_id}"


# outbound webhooks: one entry per delivery attempt; deliveries that keep failing wait in the outbox
OUTBOUND_DELIVERIES = f"{PREFIX}:outbound:deliveries"
OUTBOUND_OUTBOX = f"{PREFIX}:outbound:outbox"  # sorted set: delivery:host by next attempt


def outbound_pending(item: str) -> str:
    return f"{PREFIX}:outbound:pending:{item}"


def rate_limit(account: str, *parts: str) -> str:
    return ":".join((PREFIX, "ratelimit", account, *parts))
