"""Test support for the Zoom cloud side: the bot's own view of a scenario it joined late (or left early),
replayed through the real pipeline into the report a bot would have stored."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from bot.replay import replay


def bot_view(doc: dict, join_s: float, leave_s: float) -> dict:
    """The scenario as a bot present from ``join_s`` to ``leave_s`` experiences it: its clock starts at its
    join, people already there appear at t=0 (with their mute and camera state), the waiting room is
    invisible, and the meeting ends for it when it leaves."""
    out = copy.deepcopy(doc)
    start = datetime.fromisoformat(doc["meeting"]["start"].replace("Z", "+00:00")) + timedelta(seconds=join_s)
    out["meeting"]["start"] = start.isoformat().replace("+00:00", "Z")
    out["meeting"]["duration_s"] = leave_s - join_s
    joined, unmuted, video = set(), set(), set()
    events = []
    for ev in sorted(doc["events"], key=lambda e: e["t"]):
        kind, who = ev["type"], ev.get("who")
        if kind == "waiting_room":
            continue
        if ev["t"] <= join_s:
            {"join": joined.add, "leave": joined.discard, "unmute": unmuted.add, "mute": unmuted.discard,
             "video_on": video.add, "video_off": video.discard}.get(kind, lambda _w: None)(who)
            if kind == "leave":
                unmuted.discard(who)
                video.discard(who)
            continue
        if ev["t"] > leave_s:
            continue
        events.append({**ev, "t": round(ev["t"] - join_s, 3)})
    first = []
    for p in doc["participants"]:
        k = p["key"]
        if k in joined:
            first.append({"t": 0.0, "type": "join", "who": k})
            first += [{"t": 0.0, "type": t, "who": k} for t, on in (("unmute", k in unmuted), ("video_on", k in video)) if on]
    out["events"] = first + events
    for p in out["participants"]:
        if p.get("audio"):
            p["audio_offset_s"] = p.get("audio_offset_s", 0.0) - join_s
    return out


def bot_report(doc: dict, tmp: Path, *, join_s: float, leave_s: float, customer_key: str) -> dict:
    """What the bot would have written for ``doc`` (no ASR), as the report store keeps it."""
    view = bot_view(doc, join_s, leave_s)
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "bot-view.yaml"
    path.write_text(yaml.safe_dump(view, sort_keys=False), encoding="utf-8")
    report = replay(path, tmp / "out").report
    data = report.model_dump(mode="json")
    data["observer"] = {"name": "Rollcall", "customer_key": customer_key}
    return data
