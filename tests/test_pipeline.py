"""The pipeline's handler methods: what a transport's SDK thread calls must never raise."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from analysis.events import MeetingEvent
from analysis.report import MeetingInfo
from bot.pipeline import MeetingPipeline
from bot.transport import AudioChunk


def _pipeline() -> MeetingPipeline:
    info = MeetingInfo(id="1", topic="t", start=datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=2.0)
    return MeetingPipeline(info)


def test_audio_from_unknown_users_and_bad_chunks_is_counted_not_raised() -> None:
    p = _pipeline()
    chunk = np.full(320, 1000, dtype="<i2").tobytes()
    p.on_one_way_audio(AudioChunk(chunk, 32000, 0.0), 99)  # nobody joined as user 99
    p.on_meeting_event(MeetingEvent(t=0.0, type="join", key="a", user_id=7, name="A"))
    p.on_one_way_audio(AudioChunk(chunk, 0, 10.0), 7)  # a sample rate the ingest refuses
    p.on_one_way_audio(AudioChunk(chunk, 32000, 20.0), 7)
    assert p.unknown_audio_chunks == 1 and p.rejected_audio_chunks == 1
    assert p.ingest.stats()[0]["pushed_samples"] == 320  # the good chunk went in


def test_final_snapshot_is_marked_and_matches_the_report() -> None:
    snaps = []
    info = MeetingInfo(id="1", topic="t", start=datetime(2026, 1, 1, tzinfo=timezone.utc), duration_s=3.0)
    p = MeetingPipeline(info, on_snapshot=snaps.append)
    p.on_meeting_event(MeetingEvent(t=0.0, type="join", key="a", user_id=7, name="A"))
    t = np.arange(3 * 32000) / 32000
    voiced = sum(np.sin(2 * np.pi * 150 * h * t) / h for h in range(1, 20))  # a buzzy 150 Hz voice
    audio = (4000 * voiced * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype("<i2")  # with syllables
    for i in range(300):
        p.on_one_way_audio(AudioChunk(audio[i * 320:(i + 1) * 320].tobytes(), 32000, i * 10.0), 7)
        if (i + 1) % 10 == 0:
            p.on_media_time((i + 1) / 100)
    p.on_meeting_event(MeetingEvent(t=3.0, type="end"))
    report = p.finish()
    assert snaps[-1].ended and not any(s.ended for s in snaps[:-1])
    assert report.participants[0].talk_time_s > 2.0
    assert snaps[-1].participants[0].talk_time_s == report.participants[0].talk_time_s
    talk = [s.participants[0].talk_time_s for s in snaps]
    assert talk == sorted(talk)  # live talk time never goes down


def test_an_opt_out_holds_for_the_whole_meeting_even_if_a_rejoin_says_otherwise() -> None:
    p = _pipeline()
    chunk = np.full(320, 3000, dtype="<i2").tobytes()
    p.on_meeting_event(MeetingEvent(t=0.0, type="join", key="a", user_id=1, name="A", consent=False))
    p.on_meeting_event(MeetingEvent(t=0.5, type="leave", key="a", user_id=1))
    p.on_meeting_event(MeetingEvent(t=0.6, type="join", key="a", user_id=2, name="A", consent=True))
    for i in range(100):
        p.on_one_way_audio(AudioChunk(chunk, 32000, 600.0 + i * 10), 2)
    stats = p.ingest.stats()[0]
    assert stats["dropped_consent_samples"] == 100 * 320 and stats["drained_samples"] == 0
