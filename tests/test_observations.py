"""A dead bot's report rebuilt from its observation log: turns still open at the last flush count up to
where they were decided, a line sent twice counts once, nothing after the flush is invented."""
from __future__ import annotations

from datetime import UTC, datetime

from analysis.observations import report_from_log
from analysis.report import MeetingInfo

INFO = MeetingInfo(id="85000000001", start=datetime(2026, 11, 22, 10, 0, tzinfo=UTC))
LOG = [
    {"kind": "event", "t": 0.0, "type": "join", "key": "p1", "user_id": 1, "name": "Ana", "seq": 1},
    {"kind": "event", "t": 0.0, "type": "join", "key": "p2", "user_id": 2, "name": "Bo", "seq": 2},
    {"kind": "speech", "key": "p1", "start_s": 1.0, "end_s": 4.0, "seq": 3},
    {"kind": "event", "t": 5.0, "type": "chat", "key": "p2", "user_id": 2, "text": "hi", "to": "everyone", "seq": 4},
    {"kind": "event", "t": 5.0, "type": "chat", "key": "p2", "user_id": 2, "text": "hi", "to": "everyone", "seq": 4},
    {"kind": "decided", "t": 8.0, "open": {"p2": [6.0, 8.0]}, "seq": 5},
    {"kind": "decided", "t": 10.0, "open": {"p2": [6.0, 9.5]}, "seq": 6},
    {"kind": "event", "t": 11.0, "type": "raise_hand", "key": "p1", "user_id": 1, "seq": 7},
]


def test_open_turns_count_duplicates_do_not_and_nothing_after_the_flush():
    report = report_from_log(INFO, LOG, end_s=10.0)
    people = {p.key: p for p in report.participants}
    assert people["p1"].talk_time_s == 3.0
    assert people["p2"].talk_time_s == 3.5  # the turn open at the last "decided" record, to 9.5 s
    assert people["p2"].chat_messages == 1  # the same line twice (a retried flush) counts once
    assert people["p1"].hand_raises == 0  # after the flush
    assert report.meeting.duration_s == 10.0 and people["p1"].present_s == 10.0


def test_an_open_turn_that_became_final_is_not_counted_twice():
    final = LOG[:6] + [{"kind": "speech", "key": "p2", "start_s": 6.0, "end_s": 9.0, "seq": 8},
                       {"kind": "decided", "t": 10.0, "open": {"p2": [6.0, 9.0]}, "seq": 9}]
    people = {p.key: p for p in report_from_log(INFO, final, end_s=10.0).participants}
    assert people["p2"].talk_time_s == 3.0


def test_what_the_bot_could_not_see_survives_the_rebuild_and_an_open_gap_ends_with_the_meeting():
    log = LOG[:2] + [
        {"kind": "event", "t": 2.0, "type": "gap_start", "reason": "recording_revoked", "seq": 10},
        {"kind": "event", "t": 4.0, "type": "gap_end", "reason": "recording_revoked", "seq": 11},
        {"kind": "event", "t": 7.0, "type": "gap_start", "reason": "breakout", "seq": 12},
    ]
    observer = report_from_log(INFO, log, end_s=10.0).observer
    assert [(g.reason, g.start_s, g.end_s, g.audio_only) for g in observer.gaps] == [
        ("recording_revoked", 2.0, 4.0, True), ("breakout", 7.0, 10.0, False)]
    assert observer.audio_observed_s == 5.0  # 10 s, less 2 s without recording and 3 s in breakout rooms
