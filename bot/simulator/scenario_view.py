"""A scenario as seen by a bot that joins late (or leaves early): its clock starts at its join, people
already there appear at t=0 with their mute and camera state, the waiting room stays invisible, and the
meeting ends for it when it leaves. A replacement bot (after a crash) runs the scenario this way."""
from __future__ import annotations

from datetime import timedelta

from analysis.scenario import EventSpec, Scenario

_STATE = {"join": ("joined", True), "leave": ("joined", False), "unmute": ("unmuted", True),
          "mute": ("unmuted", False), "video_on": ("video", True), "video_off": ("video", False)}


def join_late(scenario: Scenario, join_s: float, leave_s: float | None = None) -> Scenario:
    end = scenario.end_s if leave_s is None else min(leave_s, scenario.end_s)
    if not 0 <= join_s < end:
        raise ValueError(f"cannot join at {join_s:.1f} s: the meeting runs 0–{end:.1f} s")
    state: dict[str, dict[str, bool]] = {p.key: {"joined": False, "unmuted": False, "video": False}
                                         for p in scenario.participants}
    names = {p.key: p.name for p in scenario.participants}
    later: list[EventSpec] = []
    for ev in scenario.sorted_events():
        if ev.type == "waiting_room" or ev.t > end:
            continue
        if ev.t <= join_s:
            if ev.type in _STATE and ev.who:
                field, on = _STATE[ev.type]
                state[ev.who][field] = on
                if ev.type == "leave":
                    state[ev.who].update(unmuted=False, video=False)
            elif ev.type == "rename" and ev.who and ev.name:
                names[ev.who] = ev.name
            continue
        later.append(ev.model_copy(update={"t": round(ev.t - join_s, 6)}))
    first: list[EventSpec] = []
    for p in scenario.participants:
        s = state[p.key]
        if s["joined"]:
            first.append(EventSpec(t=0.0, type="join", who=p.key))
            first += [EventSpec(t=0.0, type=kind, who=p.key) for kind, on in (("unmute", s["unmuted"]),
                                                                            ("video_on", s["video"])) if on]
    participants = [p.model_copy(update={"name": names[p.key], "audio_offset_s": p.audio_offset_s - join_s})
                    for p in scenario.participants]
    meeting = scenario.meeting.model_copy(update={
        "start": scenario.meeting.start + timedelta(seconds=join_s),
        "duration_s": round(end - join_s, 6)})  # rounded as the events are: none falls after the end
    return Scenario(meeting=meeting, participants=participants, events=first + later)
