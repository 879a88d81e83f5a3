"""The host's live page (`GET /live/{meeting_id}?token=…`) and its server-sent events, fed by the
meeting's Redis live stream: the latest snapshot at once, then each new one as the bot publishes it.

One static page (``static/live.html``: no build step, no CDN), which reads the events with an
EventSource. Access as ``orchestrator/live_access.py`` decides; a manager's events carry only their
people's rows and no transcript.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from orchestrator import keys
from orchestrator.live_access import Access, Denied, check

router = APIRouter()
PAGE = (Path(__file__).parent / "static" / "live.html").read_text(encoding="utf-8")
KEEPALIVE_S = 15.0


def _access(request: Request, meeting_id: str) -> Access:
    s = request.app.state.settings
    try:
        return check(request.query_params.get("token"), meeting_id,
                     secret=s.live_secret.get_secret_value() if s.live_secret else None,
                     admin_token=s.admin_token.get_secret_value() if s.admin_token else None,
                     now=request.app.state.clock())
    except Denied as exc:
        raise HTTPException(exc.status, exc.reason) from None


def visible(snapshot: dict, access: Access) -> dict:
    """What ``access`` may see of a snapshot: a manager gets their people's rows, their alerts, no text."""
    if access.role != "manager":
        return snapshot
    rows = [p for p in snapshot["participants"] if p["key"] in access.people]
    return {"t": snapshot["t"], "ended": snapshot.get("ended", False), "participants": rows, "totals": None,
            "alerts": [a for a in snapshot.get("alerts", []) if a["key"] in access.people],
            "transcript": [], "interim": []}


@router.get("/live/{meeting_id}", response_class=HTMLResponse, include_in_schema=False)
def live_page(meeting_id: str, request: Request) -> HTMLResponse:
    _access(request, meeting_id)
    return HTMLResponse(PAGE, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                       "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
                                                                  "script-src 'unsafe-inline'"})


@router.get("/live/{meeting_id}/events")
def live_events(meeting_id: str, request: Request) -> StreamingResponse:
    """Server-sent events: ``snapshot`` (JSON), each with its stream id, so a reconnecting browser
    (``Last-Event-ID``) resumes where it was."""
    access = _access(request, meeting_id)
    r = request.app.state.redis
    stream = keys.live_stream(meeting_id)
    resume = request.headers.get("last-event-id")

    def events() -> Iterator[str]:
        last = resume
        if last is None:
            latest = r.xrevrange(stream, count=1)
            if latest:
                last, fields = latest[0]
                yield _event(last, visible(json.loads(fields["snapshot"]), access))
            else:
                last = "0-0"
        quiet_since = time.monotonic()
        while True:
            got = r.xread({stream: last}, count=50, block=1000)
            for _name, entries in got or []:
                for entry_id, fields in entries:
                    last = entry_id
                    snap = json.loads(fields["snapshot"])
                    yield _event(entry_id, visible(snap, access))
                    quiet_since = time.monotonic()
                    if snap.get("ended"):
                        return
            if time.monotonic() - quiet_since > KEEPALIVE_S:
                yield ": keepalive\n\n"  # proxies close idle connections
                quiet_since = time.monotonic()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _event(entry_id: str, data: dict) -> str:
    return f"id: {entry_id}\nevent: snapshot\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"

