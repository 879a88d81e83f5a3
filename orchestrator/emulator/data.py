"""What the Zoom API emulator knows about past meetings, built from the brief's scenario format (or
generated in bulk for load runs).

Rows follow Zoom's report semantics (``../shared/reference/zoom-rest-webhooks.md`` §1.1, §8): one row
per join, a new per-join ``user_id`` each time (stepping by 1024, as observed), waiting-room stays as
their own ``in_waiting_room`` rows, the bot as a Meeting SDK client carrying its ``customer_key``,
people from outside the account with blank ``id``/``participant_user_id``/``user_email`` (known, if at
all, by ``registrant_id``).
"""
from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from analysis.scenario import Scenario

FIRST_USER_ID = 16_778_240
USER_ID_STEP = 1024


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class EmulatedMeeting:
    id: str  # meeting number
    uuid: str  # this instance
    topic: str
    start_time: datetime
    end_time: datetime | None
    rows: list[dict] = field(default_factory=list)  # report-participant rows, Zoom's JSON shape
    host_id: str = "host-user-1"
    registrants: list[dict] = field(default_factory=list)
    hide_end_time: bool = False  # the details answer leaves end_time out (seen in the wild)


@dataclass(frozen=True)
class BotStay:
    """The bot's own time in the meeting, seconds from the meeting's start."""

    customer_key: str
    join_s: float
    leave_s: float
    name: str = "Rollcall"


def zoom_user_id(key: str) -> str:
    """A stable Zoom user id for a signed-in participant (the same person in every meeting)."""
    return "zu" + hashlib.sha256(key.encode()).hexdigest()[:20]


def instance_uuid(meeting_id: str, start: datetime) -> str:
    digest = hashlib.sha256(f"{meeting_id}@{start.isoformat()}".encode()).digest()
    return base64.b64encode(digest[:16]).decode()


class _UserIds:
    def __init__(self) -> None:
        self.next = FIRST_USER_ID

    def __call__(self) -> str:
        self.next += USER_ID_STEP
        return str(self.next - USER_ID_STEP)


def meeting_from_scenario(scenario: Scenario, *, uuid: str | None = None, bot: BotStay | None = None,
                          host_id: str = "host-user-1") -> EmulatedMeeting:
    """Zoom's view of a simulated meeting: a row per join (and per waiting-room stay), the bot's row."""
    m = scenario.meeting
    start = m.start
    end_s = scenario.end_s
    at = lambda s: start + timedelta(seconds=s)  # noqa: E731
    spec = {p.key: p for p in scenario.participants}
    ids = _UserIds()
    rows: list[dict] = []
    open_rows: dict[str, dict] = {}

    def close(key: str, t: float) -> None:
        row = open_rows.pop(key, None)
        if row is not None:
            row["leave_time"] = iso(at(t))
            row["duration"] = int(round(t - row.pop("_join_s")))

    names = {p.key: p.name for p in scenario.participants}

    def open_row(key: str, t: float, status: str) -> None:
        p = spec[key]
        internal = not p.external
        row = {"id": zoom_user_id(p.key) if internal else "", "user_id": ids(), "name": names[key],
               "user_email": (p.email or "") if internal else "",
               "participant_user_id": zoom_user_id(p.key) if internal else "",
               "registrant_id": p.registrant_id or "", "join_time": iso(at(t)), "status": status,
               "customer_key": p.customer_key or "", "failover": False, "_join_s": t}
        rows.append(row)
        open_rows[key] = row

    for ev in scenario.sorted_events():
        if ev.t > end_s or ev.type not in ("join", "leave", "waiting_room", "rename") or ev.who is None:
            continue
        if ev.type == "rename" and ev.name:  # later rows carry the new name
            names[ev.who] = ev.name
            continue
        if ev.type == "waiting_room":
            close(ev.who, ev.t)
            open_row(ev.who, ev.t, "in_waiting_room")
        elif ev.type == "join":
            if ev.who in open_rows and open_rows[ev.who]["status"] == "in_meeting":
                continue
            close(ev.who, ev.t)
            open_row(ev.who, ev.t, "in_meeting")
        else:
            close(ev.who, ev.t)
    for key in list(open_rows):
        close(key, end_s)
    if bot is not None:
        rows.append({"id": "", "user_id": ids(), "name": bot.name, "user_email": "", "participant_user_id": "",
                     "registrant_id": "", "join_time": iso(at(bot.join_s)), "leave_time": iso(at(bot.leave_s)),
                     "duration": int(round(bot.leave_s - bot.join_s)), "status": "in_meeting",
                     "customer_key": bot.customer_key, "failover": False})
    rows.sort(key=lambda r: r["join_time"])
    registrants = [{"id": p.registrant_id, "email": p.email or "", "first_name": p.name.split()[0],
                    "last_name": " ".join(p.name.split()[1:]), "status": "approved"}
                   for p in scenario.participants if p.registrant_id]
    return EmulatedMeeting(id=m.id, uuid=uuid or instance_uuid(m.id, start), topic=m.topic, start_time=start,
                           end_time=at(end_s), rows=rows, host_id=host_id, registrants=registrants)


def synthetic_meetings(n: int, participants: int, *, start: datetime, seed: int = 0,
                       bot_prefix: str = "rollcall-") -> list[EmulatedMeeting]:
    """``n`` past one-hour meetings of ``participants`` people each (plus the bot), for load runs. Some
    UUIDs start with ``/`` or contain ``//``, as real ones do, so the encoding is exercised at scale."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        meeting_id = str(81_000_000_000 + i)
        t0 = start + timedelta(minutes=30 * i)
        raw = instance_uuid(meeting_id, t0)
        uuid = ("/" + raw[1:]) if i % 50 == 7 else (raw[:5] + "//" + raw[7:]) if i % 50 == 19 else raw
        ids = _UserIds()
        rows = []
        for j in range(participants):
            join = rng.uniform(0, 300)
            leave = rng.uniform(3000, 3600)
            key = f"m{i}p{j}"
            rows.append({"id": zoom_user_id(key), "user_id": ids(), "name": f"Person {j} of {i}",
                         "user_email": f"p{j}.m{i}@example.com", "participant_user_id": zoom_user_id(key),
                         "registrant_id": "", "join_time": iso(t0 + timedelta(seconds=join)),
                         "leave_time": iso(t0 + timedelta(seconds=leave)), "duration": int(leave - join),
                         "status": "in_meeting", "customer_key": "", "failover": False})
        rows.append({"id": "", "user_id": ids(), "name": "Rollcall", "user_email": "", "participant_user_id": "",
                     "registrant_id": "", "join_time": iso(t0), "leave_time": iso(t0 + timedelta(seconds=3600)),
                     "duration": 3600, "status": "in_meeting", "customer_key": f"{bot_prefix}job-{i}", "failover": False})
        out.append(EmulatedMeeting(id=meeting_id, uuid=uuid, topic=f"Training {i}", start_time=t0,
                                   end_time=t0 + timedelta(seconds=3600), rows=rows))
    return out
