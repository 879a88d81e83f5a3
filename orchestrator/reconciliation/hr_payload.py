"""The compliance outcome of a training, shaped for an HR system: one entry per attendee the policy
applied to (identity as far as it is known, passed or failed, the failed rules and by how much), sent
signed to the outbound webhooks as ``training.compliance`` when a record has compliance in it."""
from __future__ import annotations

from typing import Any


def compliance_payload(record: dict[str, Any]) -> dict[str, Any] | None:
    """None when no policy applied in the meeting (not a training)."""
    people = [p for p in record.get("participants", []) if p.get("compliance")]
    if not people:
        return None
    return {
        "meeting": {k: record["meeting"].get(k) for k in ("id", "uuid", "topic", "started_at", "ended_at")},
        "attendees": [{
            "name": p.get("name"), "customer_key": p.get("customer_key"),
            "email": (p.get("identity") or {}).get("email"), "status": p["compliance"]["status"],
            "present_s": p.get("present_s"), "coverage": p.get("coverage"),
            "failed": [{"rule": c["name"], "detail": c.get("detail")} for c in p["compliance"].get("checks", [])
                       if c.get("status") == "fail"],
        } for p in people],
        "passed": sum(1 for p in people if p["compliance"]["status"] == "passed"),
        "failed": sum(1 for p in people if p["compliance"]["status"] == "failed"),
    }
