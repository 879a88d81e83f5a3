"""Zoom's participants as the normalised events the simulator emits.

The SDK reports some changes as events (join, leave, rename, hand, mute) and others not at all (video is
only visible by polling ``IsVideoOn()``; people already present when the bot arrives get no join). So the
roster keeps each user's last observed state, and every observation, from an event or a poll, is diffed
against it: one code path whatever told us. A participant's key is their persistent id, which survives
rejoins (their per-join user id does not); users without one (some phone dial-ins) are keyed by user id.

While breakout rooms are open the bot sees only its own room: someone who disappears from view then is
*held* (not left), and either comes back into view (a join with the new user id, which the meeting state
takes as the same, continuing presence) or is released as left when the rooms have closed.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from analysis.events import MeetingEvent, Role


@dataclass(frozen=True)
class UserState:
    """What the SDK's ``IUserInfo`` tells about one user at one moment."""

    user_id: int
    persistent_id: str
    name: str
    customer_key: str = ""
    role: Role = "attendee"
    muted: bool = True
    video: bool = False
    hand: bool = False
    is_me: bool = False
    is_bot: bool = False  # another notetaker or meeting bot: present, but not company


class Roster:
    def __init__(self) -> None:
        self.users: dict[int, UserState] = {}  # user id -> last observed state, for users present now
        self.held: dict[str, UserState] = {}  # key -> last state, for users out of view in breakout rooms

    @staticmethod
    def key(state: UserState) -> str:
        return state.persistent_id or f"user-{state.user_id}"

    def key_of(self, user_id: int) -> str | None:
        state = self.users.get(user_id)
        return self.key(state) if state is not None else None

    def observe(self, t: float, state: UserState) -> list[MeetingEvent]:
        """A user as seen now: a join for someone new, otherwise one event per change. The bot itself is
        not a participant and produces nothing."""
        if state.is_me:
            return []
        old = self.users.get(state.user_id)
        key = self.key(state)
        if old is None:  # joining: no audio, camera or hand yet, unless seen before under another user id
            old = self._last_seen(key) or replace(state, muted=True, video=False, hand=False)
            self.users[state.user_id] = state
            events = [MeetingEvent(t, "join", key, state.user_id, name=state.name, role=state.role,
                                   customer_key=state.customer_key or None,
                                   persistent_id=state.persistent_id or None)]
        else:
            self.users[state.user_id] = state
            events = []
            if state.name != old.name:
                events.append(MeetingEvent(t, "rename", key, state.user_id, name=state.name))
            if state.role != old.role:
                events.append(MeetingEvent(t, "host_change", key, state.user_id, role=state.role))
        for changed, on, off in ((state.muted != old.muted, "mute", "unmute"),
                                 (state.video != old.video, "video_on", "video_off"),
                                 (state.hand != old.hand, "raise_hand", "lower_hand")):
            if changed:
                now = {"mute": state.muted, "video_on": state.video, "raise_hand": state.hand}[on]
                events.append(MeetingEvent(t, on if now else off, key, state.user_id))
        return events

    def _last_seen(self, key: str) -> UserState | None:
        """The state of ``key`` under an earlier user id: out of view in a breakout room, or still listed
        because its leave has not arrived yet (a move between rooms). Forgotten under that id."""
        stale = next((uid for uid, st in self.users.items() if self.key(st) == key), None)
        return self.users.pop(stale) if stale is not None else self.held.pop(key, None)

    def left(self, t: float, user_id: int, *, hold: bool = False) -> list[MeetingEvent]:
        """A user gone from view: left, or (``hold``, breakout rooms open) held until seen again or released."""
        state = self.users.pop(user_id, None)
        if state is None:
            return []
        if hold:
            self.held[self.key(state)] = state
            return []
        return [MeetingEvent(t, "leave", self.key(state), user_id)]

    def release(self, t: float) -> list[MeetingEvent]:
        """Breakout rooms are over: whoever is still out of view has left."""
        held, self.held = self.held, {}
        return [MeetingEvent(t, "leave", key, state.user_id) for key, state in held.items()]

    def snapshot(self, t: float, states: list[UserState], *, hold: bool = False) -> list[MeetingEvent]:
        """The whole participant list (at joining, and after reconnecting or moving rooms): everyone
        observed, and anyone no longer listed has left (or, with ``hold``, is held)."""
        seen = {s.user_id for s in states}
        events = [e for uid in list(self.users) if uid not in seen for e in self.left(t, uid, hold=hold)]
        return events + [e for s in states for e in self.observe(t, s)]

    def company(self) -> bool:
        """Someone other than bots is here, or is out of view in a breakout room."""
        return bool(self.held) or any(not s.is_bot for s in self.users.values())
