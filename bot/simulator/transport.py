"""The simulator transport: replays a scenario through the same handler calls the Zoom transport makes.

Like Zoom: each (re)join gets a new user id while the persistent id stays; audio flows only while a
participant is joined and unmuted, in chunks of ``frame_ms`` at the scenario's 32/48 kHz rate, with
the SDK-style ``AudioRawData`` accessors; optional silence suppression sends nothing for quiet chunks.
Each microphone is decoded from its file as the meeting reaches it (``bot.scenario.Track``), not up front.
``speed=None`` runs on a virtual clock as fast as possible; ``speed=1.0`` paces to real time.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from analysis.events import MeetingEvent
from bot.scenario import EventSpec, Scenario, Track
from bot.transport import AudioChunk, MeetingHandler

FIRST_USER_ID = 16_778_240  # Zoom user ids are large integers; the value itself carries no meaning


class SimulatorTransport:
    def __init__(self, scenario_path: Path, scenario: Scenario, *, speed: float | None = None,
                 tick_s: float = 0.1, silence_suppression_dbfs: float | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 stop: Callable[[], bool] | None = None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (or None for as fast as possible)")
        self.scenario = scenario
        self.speed = speed
        self.tick_s = tick_s
        self._stop = stop  # asked every tick: true ends the meeting for this bot (it left)
        self._sleep, self._clock = sleep, clock
        m = scenario.meeting
        self.rate = m.sample_rate
        self.chunk = m.sample_rate * m.frame_ms // 1000
        self._tracks = {p.key: Track(scenario_path, i, p, m.sample_rate, m.duration_s) if p.audio is not None else None
                        for i, p in enumerate(scenario.participants)}
        self._spec = {p.key: p for p in scenario.participants}
        self._order = [p.key for p in scenario.participants]
        self._quiet = None
        if silence_suppression_dbfs is not None:
            self._quiet = (10 ** (silence_suppression_dbfs / 20) * 32768) ** 2 * self.chunk
        self._next_user_id = FIRST_USER_ID
        self.user_ids: dict[str, int] = {}  # current user id of each joined participant
        self._unmuted: set[str] = set()
        self._t = 0.0  # media time of the chunk being delivered
        self._replies: list[EventSpec] = []  # participants' answers to the bot's prompts, not yet delivered
        self._prompts = 0
        self.bot_messages: list[tuple[float, str | None, str]] = []  # what the bot said: (t, to key, text)

    def send_chat(self, text: str, to: str | None = None) -> None:
        """The bot's chat-out (to everyone, or privately to a participant key). A message to everyone is a
        roll-call prompt for the participants who answer prompts (``reply_to_prompt``)."""
        self.bot_messages.append((self._t, to, text))
        if to is not None:
            return
        self._prompts += 1
        for key, spec in self._spec.items():
            r = spec.reply_to_prompt
            if r is not None and key in self.user_ids and self._prompts not in r.skip:
                self._replies.append(EventSpec(t=self._t + r.after_s, type="chat", who=key, text=r.text, to=r.to))
        self._replies.sort(key=lambda e: e.t)

    def _to_meeting_event(self, ev: EventSpec) -> MeetingEvent:
        if ev.type == "end":
            return MeetingEvent(t=ev.t, type="end")
        key = ev.who
        assert key is not None  # validated by the scenario model
        spec = self._spec[key]
        if ev.type == "join":
            if key not in self.user_ids:
                self.user_ids[key] = self._next_user_id
                self._next_user_id += 1
            return MeetingEvent(t=ev.t, type="join", key=key, user_id=self.user_ids[key], name=spec.name,
                                role=spec.role, customer_key=spec.customer_key,
                                persistent_id=f"sim-{key}", consent=spec.consent)
        user_id = self.user_ids.get(key)
        if ev.type == "leave":
            self.user_ids.pop(key, None)
            self._unmuted.discard(key)
        elif ev.type == "unmute":
            if key in self.user_ids:  # like Zoom and MeetingState: only a joined participant can unmute
                self._unmuted.add(key)
        elif ev.type == "mute":
            self._unmuted.discard(key)
        return MeetingEvent(t=ev.t, type=ev.type, key=key, user_id=user_id, text=ev.text, to=ev.to,
                            emoji=ev.emoji, name=ev.name)

    def run(self, handler: MeetingHandler) -> None:
        m = self.scenario.meeting
        end_s = self.scenario.end_s
        # the bot cannot see Zoom's waiting room; only the REST side (the API emulator) knows about it
        events = [e for e in self.scenario.sorted_events() if e.type not in ("end", "waiting_room") and e.t <= end_s]
        n_chunks = math.ceil(end_s * 1000 / m.frame_ms - 1e-9)  # the last one may be short
        per_tick = max(1, int(round(self.tick_s * 1000 / m.frame_ms)))
        ei = 0
        wall0 = self._clock()
        for c in range(n_chunks):
            t = c * m.frame_ms / 1000
            self._t = t
            while ei < len(events) and events[ei].t <= t:
                handler.on_meeting_event(self._to_meeting_event(events[ei]))
                ei += 1
            while self._replies and self._replies[0].t <= t:
                reply = self._replies.pop(0)
                if reply.who in self.user_ids:  # still in the meeting
                    handler.on_meeting_event(self._to_meeting_event(reply.model_copy(update={"t": round(t, 3)})))
            i0 = c * self.chunk
            for key in self._order:
                track = self._tracks[key]
                if track is None or key not in self._unmuted or key not in self.user_ids:
                    continue
                piece = track.read(i0, self.chunk)
                if len(piece) == 0:
                    continue
                if self._quiet is not None and float(np.dot(piece, piece.astype(np.float64))) < self._quiet:
                    continue
                handler.on_one_way_audio(AudioChunk(piece.tobytes(), self.rate, t * 1000), self.user_ids[key])
            if (c + 1) % per_tick == 0:
                now = (c + 1) * m.frame_ms / 1000
                if self.speed is not None:
                    delay = wall0 + now / self.speed - self._clock()
                    if delay > 0:
                        self._sleep(delay)
                handler.on_media_time(now)
                if self._stop is not None and self._stop():
                    handler.on_meeting_event(MeetingEvent(t=now, type="end"))
                    handler.on_media_time(now)
                    return
        for ev in events[ei:]:
            handler.on_meeting_event(self._to_meeting_event(ev))
        handler.on_meeting_event(MeetingEvent(t=end_s, type="end"))
        handler.on_media_time(end_s)
