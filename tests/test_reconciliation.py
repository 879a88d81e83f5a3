"""Reconciliation on emulated Zoom reports built from a scenario, against the bot's real report of the
same scenario: presence, waiting room, identities and coverage come out right for the hard cases."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analysis.scenario import Scenario
from orchestrator.reconciliation.attendance import MeetingWindow, group_rows, normalise_name, reconcile
from orchestrator.emulator.data import BotStay, iso, meeting_from_scenario
from orchestrator.zoom.models import ReportParticipant
from tests.zoom_cloud import bot_report

START = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
BOT_KEY = "rollcall-job-42"
BOT_JOIN, BOT_LEAVE = 120.0, 1500.0

DOC = {
    "meeting": {"id": "85012345678", "topic": "Compliance training", "start": iso(START), "duration_s": 1800},
    "participants": [
        {"key": "p1", "name": "Dana Host", "role": "host", "email": "dana@example.com"},
        {"key": "p2", "name": "Eve Early", "email": "eve@example.com"},
        {"key": "p3", "name": "Tom Twodevices", "email": "tom@example.com"},
        {"key": "p4", "name": "Xena Guest", "email": "xena@outside.org", "registrant_id": "reg-x", "external": True},
        {"key": "p5", "name": "Walt Waiting", "email": "walt@example.com"},
    ],
    "events": [
        {"t": 0, "type": "join", "who": "p1"},
        {"t": 30, "type": "join", "who": "p2"},  # before the bot (120) …
        {"t": 100, "type": "join", "who": "p3"},
        {"t": 200, "type": "waiting_room", "who": "p5"},  # five minutes in the waiting room
        {"t": 300, "type": "join", "who": "p4"},
        {"t": 500, "type": "join", "who": "p5"},
        {"t": 600, "type": "video_on", "who": "p5"},
        {"t": 700, "type": "leave", "who": "p4"},
        {"t": 750, "type": "rename", "who": "p4", "name": "X. W. (guest)"},  # rejoins under another name
        {"t": 800, "type": "join", "who": "p4"},
        {"t": 900, "type": "leave", "who": "p3"},
        {"t": 1000, "type": "join", "who": "p3"},
        {"t": 1400, "type": "leave", "who": "p3"},
        {"t": 1600, "type": "leave", "who": "p4"},
        {"t": 1650, "type": "leave", "who": "p2"},  # … and left after it (1500)
        {"t": 1800, "type": "end"},
    ],
}


@pytest.fixture(scope="module")
def zoom_and_bot(tmp_path_factory):
    scenario = Scenario.model_validate(DOC)
    meeting = meeting_from_scenario(scenario, bot=BotStay(BOT_KEY, BOT_JOIN, BOT_LEAVE))
    # Tom's phone: a second device, overlapping his laptop's first and second stays
    tom = next(r for r in meeting.rows if r["name"] == "Tom Twodevices")
    meeting.rows.append({**tom, "user_id": "99999999", "join_time": iso(START + timedelta(seconds=850)),
                         "leave_time": iso(START + timedelta(seconds=1100)), "duration": 250})
    report = bot_report(DOC, tmp_path_factory.mktemp("bot"), join_s=BOT_JOIN, leave_s=BOT_LEAVE, customer_key=BOT_KEY)
    return meeting, report


def window(meeting, *, end=True) -> MeetingWindow:
    return MeetingWindow(uuid=meeting.uuid, meeting_id=meeting.id, topic=meeting.topic, start=meeting.start_time,
                         end=meeting.end_time if end else None)


def rows_of(meeting) -> list[ReportParticipant]:
    return [ReportParticipant.model_validate({k: v for k, v in r.items() if not k.startswith("_")}) for r in meeting.rows]


def person(record, name_part: str) -> dict:
    found = [p for p in record["participants"] if name_part in p["name"]]
    assert len(found) == 1, [p["name"] for p in record["participants"]]
    return found[0]


def spans(p) -> list[tuple[float, float]]:
    return [(s["join_s"], s["leave_s"]) for s in p["presence"]]


def test_the_bot_is_not_a_participant_and_aligns_the_clocks(zoom_and_bot):
    meeting, report = zoom_and_bot
    rec = reconcile(window(meeting), rows_of(meeting), [report])
    assert len(rec["participants"]) == 5
    assert all("Rollcall" not in p["name"] for p in rec["participants"])
    assert rec["observer"]["observed"] == [{"start_s": 120.0, "end_s": 1500.0}]
    assert rec["observer"]["clock"] == ["zoom_bot_row"]
    # Walt's camera went on at t=600 Zoom time = 480 s on the bot's clock; the bot's talk/camera figures
    # for him are the bot's, his presence is Zoom's
    walt = person(rec, "Walt")
    assert walt["camera_on_s"] == pytest.approx(1500 - 600, abs=0.05)
    assert rec["meeting"]["duration_s"] == 1800 and rec["meeting"]["source"]["end"] == "zoom"


def test_joined_before_the_bot_and_left_after_it(zoom_and_bot):
    meeting, report = zoom_and_bot
    eve = person(reconcile(window(meeting), rows_of(meeting), [report]), "Eve")
    assert spans(eve) == [(30.0, 1650.0)] and eve["present_s"] == 1620.0  # Zoom knows what the bot missed
    assert eve["observed_s"] == 1380.0 and eve["coverage"] == pytest.approx(1380 / 1620, abs=1e-4)
    assert eve["identity"]["matched_by"] == "name" and eve["key"] == "p2"
    assert eve["source"]["presence"] == "zoom_report" and eve["source"]["talk"] == "bot"


def test_two_devices_with_overlapping_sessions_count_once(zoom_and_bot):
    meeting, report = zoom_and_bot
    tom = person(reconcile(window(meeting), rows_of(meeting), [report]), "Tom")
    # laptop 100–900 and 1000–1400, phone 850–1100: one unbroken stretch, not 1050 s summed
    assert spans(tom) == [(100.0, 1400.0)] and tom["present_s"] == 1300.0
    assert tom["identity"]["zoom_rows"] == 3 and tom["identity"]["email"] == "tom@example.com"
    assert tom["coverage"] == pytest.approx((1400 - 120) / 1300, abs=1e-4)


def test_an_external_attendee_with_blank_ids_is_matched_by_registrant_id(zoom_and_bot):
    meeting, report = zoom_and_bot
    xena_rows = [r for r in meeting.rows if r.get("registrant_id") == "reg-x"]
    assert len(xena_rows) == 2 and all(r["id"] == "" and r["user_email"] == "" for r in xena_rows)
    assert {r["name"] for r in xena_rows} == {"Xena Guest", "X. W. (guest)"}  # names do not link them
    rec = reconcile(window(meeting), rows_of(meeting), [report], bindings={"reg-x": "emp-2004"})
    xena = person(rec, "Xena")
    assert spans(xena) == [(300.0, 700.0), (800.0, 1600.0)] and xena["present_s"] == 1200.0
    assert xena["identity"]["registrant_id"] == "reg-x" and xena["identity"]["zoom_rows"] == 2
    assert xena["identity"]["rows_linked_by"] == ["registrant_id"]
    assert xena["customer_key"] == "emp-2004"  # the employee she was registered as
    assert xena["coverage"] == pytest.approx((400 + 700) / 1200, abs=1e-4)  # the bot left at 1500
    assert xena["key"] == "p4"  # the bot's participant is the same person


def test_five_minutes_in_the_waiting_room_are_not_presence(zoom_and_bot):
    meeting, report = zoom_and_bot
    walt = person(reconcile(window(meeting), rows_of(meeting), [report]), "Walt")
    assert walt["waiting_room"] == [{"start_s": 200.0, "end_s": 500.0}] and walt["waiting_s"] == 300.0
    assert spans(walt) == [(500.0, 1800.0)] and walt["present_s"] == 1300.0
    assert walt["coverage"] == pytest.approx(1000 / 1300, abs=1e-4)
    assert walt["attention"]["presence_share"] == pytest.approx(1300 / 1800, abs=1e-3)


def test_a_report_without_an_end_time(zoom_and_bot):
    meeting, report = zoom_and_bot
    rows = rows_of(meeting)
    for r in rows:  # Dana's live row never got a leave time
        if r.name == "Dana Host":
            r.leave_time, r.duration = None, None
    rec = reconcile(window(meeting, end=False), rows, [report])
    assert rec["meeting"]["source"]["end"] == "inferred"
    assert rec["meeting"]["duration_s"] == 1800.0  # the latest leave anyone had (Walt's)
    dana = person(rec, "Dana")
    assert spans(dana) == [(0.0, 1800.0)] and dana["source"]["presence_end"] == "inferred"
    # with an end from the meeting.ended webhook, that end is used (and said so)
    early = MeetingWindow(uuid=meeting.uuid, meeting_id=meeting.id, topic="", start=START,
                          end=START + timedelta(seconds=1700), end_source="webhook")
    rec = reconcile(early, rows, [report])
    assert rec["meeting"]["source"]["end"] == "webhook" and spans(person(rec, "Dana")) == [(0.0, 1700.0)]
    assert spans(person(rec, "Walt")) == [(500.0, 1700.0)]  # clipped to the meeting's window


def test_without_the_bot_report_zoom_alone_still_gives_attendance(zoom_and_bot):
    meeting, _ = zoom_and_bot
    rec = reconcile(window(meeting), rows_of(meeting), [])
    eve = person(rec, "Eve")
    assert eve["present_s"] == 1620.0 and eve["coverage"] == pytest.approx(1380 / 1620, abs=1e-4)
    assert eve["talk_time_s"] is None and eve["source"]["talk"] == "none"


def test_rows_without_strong_keys_join_the_person_of_the_same_name():
    rows = [ReportParticipant.model_validate(r) for r in (
        {"id": "u1", "name": "Ana Li", "user_email": "ana@example.com"},
        {"id": "", "name": "ana li", "bo_mtg_id": "bo-1"},  # breakout row, id blank
        {"registrant_id": "r-1", "name": "Ana Li (phone)"},  # another person for all we know
        {"id": "u2", "name": "Bo"}, {"id": "u3", "name": "Bo"},  # two people called Bo
        {"name": "Bo"},  # ambiguous: belongs to neither
    )]
    groups = group_rows(rows)
    assert sorted(map(sorted, groups)) == [[0, 1], [2], [3], [4], [5]]
    # with no names either (a BAA account's outsiders), every row is somebody else
    blank = [ReportParticipant.model_validate({"user_id": str(i), "name": ""}) for i in range(3)]
    assert sorted(map(sorted, group_rows(blank))) == [[0], [1], [2]]
    assert normalise_name("  Smith# ANA  ") == normalise_name("smith, ana") == "smith ana"


def test_the_bots_waiting_room_time_is_not_observation(zoom_and_bot):
    meeting, report = zoom_and_bot
    rows = rows_of(meeting)
    bot = next(r for r in rows if r.customer_key == BOT_KEY)
    waited = bot.model_copy(update={"join_time": START + timedelta(seconds=60), "leave_time": bot.join_time,
                                    "status": "in_waiting_room", "user_id": "1"})
    rec = reconcile(window(meeting), [waited, *rows], [report])
    assert rec["observer"]["observed"] == [{"start_s": 120.0, "end_s": 1500.0}]  # from its admission
    assert person(rec, "Eve")["coverage"] == pytest.approx(1380 / 1620, abs=1e-4)


def test_the_bots_own_gaps_narrow_what_it_observed_and_heard(zoom_and_bot):
    meeting, report = zoom_and_bot
    gapped = {**report, "observer": {**report["observer"], "gaps": [
        {"start_s": 0.0, "end_s": 60.0, "reason": "recording_not_permitted", "audio_only": True},
        {"start_s": 300.0, "end_s": 400.0, "reason": "breakout", "audio_only": False}]}}
    rec = reconcile(window(meeting), rows_of(meeting), [gapped])
    # bot clock 0 = Zoom's 120 s: no audio 120–180, nothing seen 420–520
    assert rec["observer"]["observed"] == [{"start_s": 120.0, "end_s": 420.0}, {"start_s": 520.0, "end_s": 1500.0}]
    assert rec["observer"]["observed_s"] == 1280.0 and rec["observer"]["heard_s"] == 1220.0
    assert [(g["reason"], g["start_s"], g["end_s"]) for g in rec["observer"]["bot_gaps"]] == [
        ("recording_not_permitted", 120.0, 180.0), ("breakout", 420.0, 520.0)]
    eve = person(rec, "Eve")  # present 30–1650
    assert (eve["observed_s"], eve["heard_s"]) == (1280.0, 1220.0)
    assert eve["speaking_pct"] == pytest.approx(100 * eve["talk_time_s"] / 1220.0, abs=0.01)


def test_an_rtms_report_is_on_the_streams_clock_and_two_namesakes_are_told_apart_by_join_time():
    """An RTMS worker has no row of its own and knows people by name and per-join id: its report sits on
    Zoom's clock by the stream's start, and of two people called Bo the one who joined when it saw Bo
    join is the one it measured."""
    rows = [ReportParticipant.model_validate(r) for r in (
        {"id": "u2", "user_id": "100", "name": "Bo", "join_time": iso(START + timedelta(seconds=10)),
         "leave_time": iso(START + timedelta(seconds=600)), "duration": 590},
        {"id": "u3", "user_id": "200", "name": "Bo", "join_time": iso(START + timedelta(seconds=300)),
         "leave_time": iso(START + timedelta(seconds=600)), "duration": 300})]
    stream_start = START + timedelta(seconds=60)
    report = {"meeting": {"started_at": iso(stream_start), "duration_s": 540.0},
              "observer": {"name": "Rollcall (RTMS)", "transport": "rtms", "not_observed": ["hands"]},
              "participants": [{"key": "rtms:Bo", "name": "Bo", "first_join_s": 240.5, "talk_time_s": 42.0,
                                "turns": 5, "hand_raises": None,
                                "presence": [{"join_s": 240.5, "leave_s": 540.0}]}]}
    win = MeetingWindow(uuid="u==", meeting_id="85000000001", topic="", start=START,
                        end=START + timedelta(seconds=600))
    record = reconcile(win, rows, [report])
    assert record["observer"]["clock"] == ["rtms_stream"] and record["observer"]["transports"] == ["rtms"]
    assert record["observer"]["observed"] == [{"start_s": 60.0, "end_s": 600.0}]
    measured = [p for p in record["participants"] if p["talk_time_s"] is not None]
    assert [(p["identity"]["matched_by"], p["first_join_s"]) for p in measured] == [("name+join_time", 300.0)]
    assert measured[0]["hand_raises"] is None
