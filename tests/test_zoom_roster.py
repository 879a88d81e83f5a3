"""The Zoom roster: observations of the SDK's users become the simulator's events, whoever reported them."""
from __future__ import annotations

from dataclasses import replace

from analysis.meeting_state import MeetingState
from bot.zoom.roster import Roster, UserState

ANA = UserState(user_id=16778240, persistent_id="pA", name="Ana", customer_key="emp-1", muted=False)
BEN = UserState(user_id=16779264, persistent_id="pB", name="Ben", role="host", video=True)
BOT = UserState(user_id=16780288, persistent_id="pBot", name="Rollcall", is_me=True)


def kinds(events):
    return [(e.type, e.key) for e in events]


def test_snapshot_joins_everyone_present_with_their_state_and_skips_the_bot():
    r = Roster()
    ev = r.snapshot(3.0, [ANA, BEN, BOT])
    assert kinds(ev) == [("join", "pA"), ("unmute", "pA"), ("join", "pB"), ("video_on", "pB")]
    join = ev[0]
    assert (join.name, join.customer_key, join.persistent_id, join.user_id, join.t) == (
        "Ana", "emp-1", "pA", 16778240, 3.0)
    assert ev[2].role == "host"


def test_changes_are_reported_once_whether_from_an_event_or_a_poll():
    r = Roster()
    r.snapshot(0.0, [ANA, BEN])
    assert kinds(r.observe(5.0, replace(ANA, video=True, hand=True))) == [("video_on", "pA"), ("raise_hand", "pA")]
    assert r.observe(6.0, replace(ANA, video=True, hand=True)) == []  # the next poll: nothing new
    ev = r.observe(7.0, replace(ANA, name="Ana (Sales)", role="cohost", video=True, hand=False, muted=True))
    assert kinds(ev) == [("rename", "pA"), ("host_change", "pA"), ("mute", "pA"), ("lower_hand", "pA")]
    assert ev[0].name == "Ana (Sales)" and ev[1].role == "cohost"


def test_rejoin_with_a_new_user_id_is_the_same_participant():
    r = Roster()
    first = r.snapshot(0.0, [ANA])
    ev = r.left(10.0, ANA.user_id) + r.observe(12.0, replace(ANA, user_id=16781312))
    assert kinds(ev) == [("leave", "pA"), ("join", "pA"), ("unmute", "pA")]
    state = MeetingState()
    for e in first + ev:  # the meeting state merges the two presences under one key
        state.apply(e)
    assert list(state.participants) == ["pA"]
    assert state.presence_intervals("pA", until=20.0).tolist() == [[0.0, 10.0], [12.0, 20.0]]


def test_a_later_snapshot_closes_those_who_left_unnoticed():
    r = Roster()
    r.snapshot(0.0, [ANA, BEN])
    assert kinds(r.snapshot(30.0, [BEN])) == [("leave", "pA")]
    assert r.left(31.0, ANA.user_id) == []  # a late leave callback changes nothing


def test_users_without_a_persistent_id_are_keyed_by_user_id():
    r = Roster()
    phone = UserState(user_id=42, persistent_id="", name="+1 555 0100")
    assert kinds(r.observe(1.0, phone)) == [("join", "user-42")] and r.key_of(42) == "user-42"
