"""No speech lost when the recogniser falls behind (issue 14): four people read aloud one after another
(about 3 minutes of read speech, with pauses of 0.3-2 s), replayed as fast as possible so that every
utterance queues at once, far beyond what the CPU decodes in real time. Before the fix, the queue gave up
its oldest minute of speech without a word in the report; now every second of talk is transcribed, and
the report's ``asr`` section accounts for it."""
from __future__ import annotations

import pytest
from conftest import SHARED_DATA, require_shared_data

from bot.bench.asr import read_speech_meeting
from bot.simulator.replay import replay
from bot.transcriber import AsrConfig


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    require_shared_data(SHARED_DATA / "asr")
    tmp = tmp_path_factory.mktemp("readers")
    scenario = read_speech_meeting(tmp / "meeting", readers=4, each_s=40.0)
    return replay(scenario, tmp / "out", speed=None, asr=AsrConfig())


def test_every_reader_is_transcribed_through_a_backlog(result):
    report = result.report
    assert report.meeting.duration_s > 180
    for p in report.participants:
        lines = [e for e in report.transcript if e.participant == p.key]
        assert lines, f"{p.key}: no transcript line at all"
        words = sum(len(e.text.split()) for e in lines)
        assert words >= 1.5 * (p.talk_time_s or 0), f"{p.key}: {words} words for {p.talk_time_s} s of reading"


def test_the_report_accounts_for_every_second_of_talk(result):
    asr = result.report.asr
    assert asr is not None and asr.talk_s > 150
    assert asr.uncovered_s == 0 and asr.dropped_s == {} and asr.drops == []
    assert asr.transcribed_s == pytest.approx(asr.talk_s)
    assert asr.lines_settled > 0  # behind by minutes, the stretches were decoded once each, settled
