"""What Zoom's published Meeting API definitions say about each endpoint the emulator serves: its rate-limit
label, the scopes that admit a call, whether the plan must be paid, how many rows a page may hold, and
Zoom's texts for the refusals. The sources of each rule are listed in ``tests/STAND-INS.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

from orchestrator.zoom.rate_limits import Category

MAX_PAGE_SIZE = 300


@dataclass(frozen=True)
class Endpoint:
    category: Category
    scopes: tuple[str, ...]  # any one admits the call (classic, then granular); a 4700 names the first
    free_plan_refusal: str | None = None  # the 400 (code 200) message on a free plan; None: any plan
    not_ended: str | None = None  # the 404 (code 3001) message for a meeting still running
    max_page_size: int = MAX_PAGE_SIZE


_READ = ("meeting:read:admin", "meeting:read")
ENDPOINTS: dict[str, Endpoint] = {
    "report_participants": Endpoint(Category.HEAVY, ("report:read:admin", "report:read:list_meeting_participants:admin"),
                                    free_plan_refusal="No permission.",
                                    not_ended="Meeting ID is invalid or not end."),
    "report_meeting": Endpoint(Category.HEAVY, ("report:read:admin", "report:read:meeting:admin"),
                               free_plan_refusal="No permission."),
    "past_participants": Endpoint(Category.MEDIUM, (*_READ, "meeting:read:list_past_participants:admin",
                                                    "meeting:read:list_past_participants"),
                                  free_plan_refusal="Only available for paid account: {account}",
                                  not_ended="Meeting ID is invalid or not end."),
    "past_meeting": Endpoint(Category.LIGHT, (*_READ, "meeting:read:past_meeting:admin", "meeting:read:past_meeting"),
                             not_ended="The meeting ID is invalid or the meeting has not ended."),
    "past_instances": Endpoint(Category.MEDIUM, (*_READ, "meeting:read:list_past_instances:admin",
                                                 "meeting:read:list_past_instances")),
    "registrants": Endpoint(Category.MEDIUM, _READ),
    "add_registrant": Endpoint(Category.LIGHT, ("meeting:write:admin", "meeting:write", "meeting:write:registrant:admin",
                                                "meeting:write:registrant")),
    "upcoming_meetings": Endpoint(Category.MEDIUM, _READ),
    "meeting": Endpoint(Category.LIGHT, _READ),
    "user_token": Endpoint(Category.LIGHT, ("user:read:admin", "user:read")),
}

# what a Server-to-Server app with every scope Rollcall needs is granted
ALL_SCOPES = frozenset({"report:read:admin", "meeting:read:admin", "meeting:write:admin", "user:read:admin"})


def missing_scope_message(endpoint: Endpoint) -> str:
    return f"Invalid access token, does not contain scopes:[{endpoint.scopes[0]}]."
