"""The transcriber, two-stage: each final talk turn is decoded live, once; a speaker's stretch of turns is
decoded again as one once it settles (settled text replacing the live lines), and under backlog the
settled decode stands in for live utterances still queued. A stand-in recogniser answers with how much
audio it was given, so the tests see exactly which spans were decoded."""
from __future__ import annotations

import threading
import time

import numpy as np

from analysis.events import SpeechSegment
from analysis.frames import FrameBatch
from analysis.transcript import SAMPLE_RATE, Word
from analysis.transcript_coverage import DropReason
from bot.transcriber import AsrConfig, Transcriber

FRAME_MS = 30


class SpanRecognizer:
    """Answers every audio with one word: its length in seconds. Can be held to keep the ASR thread busy."""

    name = "span-length stand-in"

    def __init__(self) -> None:
        self.decoded: list[float] = []
        self.beams: list[int | None] = []  # the beam each audio was decoded with (None: the recogniser's)
        self.release = threading.Event()
        self.release.set()

    def recognize(self, audios: list[np.ndarray], beam_size: int | None = None) -> list[list[Word]]:
        assert self.release.wait(10)
        secs = [round(len(a) / SAMPLE_RATE, 2) for a in audios]
        self.decoded += secs
        self.beams += [beam_size] * len(audios)
        return [[Word(0.0, s, f" {s:.2f}")] for s in secs]


def transcriber(rec: SpanRecognizer, **config) -> Transcriber:
    tr = Transcriber(AsrConfig(**{"settle_wait_s": 0.0, "settle_pad_s": 0.2, **config}), FRAME_MS, recognizer=rec)
    n = 400  # 12 s of audio for two participants
    idx = np.tile(np.arange(n), 2)
    pcm = np.full((2 * n, 16 * FRAME_MS), 1000, dtype=np.int16)
    tr.add_frames(FrameBatch(["a", "b"], np.repeat([0, 1], n), idx, pcm, np.ones(2 * n, np.float32),
                             np.ones(2 * n, np.float32)))
    return tr


def settle(tr: Transcriber) -> list:
    """Lines until the ASR thread has nothing left."""
    lines = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines += tr.ready()
        if tr.scheduler.idle() and tr._done.empty():
            return lines + tr.ready()
        time.sleep(0.01)
    sc = tr.scheduler
    raise AssertionError(f"the ASR thread did not finish: {list(sc._queue)} {list(sc._deferred)} {sc._interim} {sc._busy}")


def test_a_final_turn_is_decoded_live_once_and_a_lone_turn_is_not_decoded_again():
    rec = SpanRecognizer()
    tr = transcriber(rec)
    tr.running(1.8, {"a": (0.99, 1.5)})  # still going on: nothing yet (no speculative decodes)
    assert settle(tr) == [] and rec.decoded == []
    tr.turn_ended(SpeechSegment("a", 0.99, 1.5))
    lines = settle(tr)
    assert [(ln.entry.text, ln.entry.source, ln.speech_end_s, ln.settled) for ln in lines] == \
        [("0.93", "live", 1.5, False)]  # padded by 7 frames (0.21 s) on each side
    tr.running(4.0, {})  # silent for the settle gap: one turn, nothing to gain from decoding it again
    assert settle(tr) == [] and rec.decoded == [0.93]


def test_a_stretch_of_turns_settles_into_one_line_decoded_together():
    rec = SpanRecognizer()
    tr = transcriber(rec)
    tr.turn_ended(SpeechSegment("a", 0.99, 1.5))
    first = settle(tr)
    tr.turn_ended(SpeechSegment("a", 2.49, 3.0))  # 0.99 s later: the same stretch
    second = settle(tr)
    assert [ln.entry.text for ln in first + second] == ["0.93", "0.93"]  # each live line at once
    tr.running(4.9, {"a": (4.8, 4.9)})  # she talks again 1.8 s later: the stretch is not over
    assert settle(tr) == []
    tr.running(5.2, {})  # that turn came to nothing; 2.2 s of silence: settled
    lines = settle(tr)
    assert [(ln.entry.text, ln.entry.source, ln.entry.start_s, ln.settled) for ln in lines] == \
        [("2.43", "settled", 0.78, True)]  # both turns and the pause between them, padded
    assert rec.decoded == [0.93, 0.93, 2.43]
    assert rec.beams == [None, None, AsrConfig().settle_beam_size]  # live greedy; the record with a beam


def test_under_backlog_the_settled_decode_stands_in_for_live_turns_still_queued():
    rec = SpanRecognizer()
    tr = transcriber(rec)
    rec.release.clear()
    tr.turn_ended(SpeechSegment("b", 0.3, 3.0))  # keeps the ASR thread busy
    time.sleep(0.1)
    for a, b in ((3.3, 4.0), (4.5, 5.0), (5.6, 6.0)):
        tr.turn_ended(SpeechSegment("a", a, b))  # queued behind it
    tr.running(8.1, {})  # a's stretch settles while its live turns still wait: they are taken back
    rec.release.set()
    lines = settle(tr) + tr.finish(10)
    assert sorted(rec.decoded) == [3.12, 3.12]  # a decoded once, as one stretch; b live
    assert [(ln.entry.participant, ln.entry.source) for ln in lines] == [("b", "live"), ("a", "settled")]
    assert tr.taken_back == 3
    summary = tr.summary({"a": [(3.3, 4.0), (4.5, 5.0), (5.6, 6.0)], "b": [(0.3, 3.0)]})
    assert summary.uncovered_s == 0 and summary.transcribed_s == summary.talk_s


def test_a_turn_that_never_becomes_final_leaves_no_line():
    rec = SpanRecognizer()
    tr = transcriber(rec)
    tr.running(1.8, {"a": (0.99, 1.5)})
    tr.running(2.1, {})  # the turn is gone without becoming final (consent withdrawn)
    tr.running(5.0, {})
    assert settle(tr) == [] and tr.finish(5) == [] and rec.decoded == []


def test_long_turn_gets_interim_text_every_four_seconds_then_one_final():
    rec = SpanRecognizer()
    tr = transcriber(rec, interim_every_s=4.0)
    for end in np.arange(0.6, 10.01, 0.3):  # speech going on, decided a little behind it
        tr.running(end + 0.09, {"a": (0.0, float(end))})
        settle(tr)
    tr.turn_ended(SpeechSegment("a", 0.0, 10.0))
    tr.running(10.9, {})
    settle(tr)
    interims = [ln for ln in tr.lines if ln.interim]
    finals = [ln for ln in tr.lines if not ln.interim]
    assert [ln.entry.text for ln in interims] == ["4.20", "8.40"]  # every 4 s of new speech
    assert [ln.entry.text for ln in finals] == ["10.20"]


def test_when_time_runs_out_at_the_end_what_is_left_is_reported_not_lost():
    rec = SpanRecognizer()
    tr = transcriber(rec)
    rec.release.clear()
    tr.turn_ended(SpeechSegment("a", 0.3, 3.0))  # decoding, and held there
    time.sleep(0.1)
    tr.turn_ended(SpeechSegment("b", 4.0, 6.0))  # queued (at the end, its settled decode stands in for it)
    lines = tr.finish(0.2)
    assert sorted((ln.speech_end_s, ln.dropped, ln.settled) for ln in lines) == [
        (3.0, DropReason.SHUTDOWN, False), (6.21, DropReason.SHUTDOWN, True)]
    rec.release.set()
    assert tr.summary({"a": [(0.3, 3.0)], "b": [(4.0, 6.0)]}).dropped_s == {"shutdown": 4.7}


def test_a_monologue_longer_than_the_audio_kept_is_transcribed_whole_as_it_goes():
    """Someone reads for 150 s with 0.5 s pauses: the transcriber keeps only 90 s of audio and must never
    need more; every second is covered, each stretch decoded once more at most."""
    rec = SpanRecognizer()
    tr = Transcriber(AsrConfig(settle_wait_s=0.0), FRAME_MS, recognizer=rec)
    n = 5100  # 153 s
    pcm = np.full((n, 16 * FRAME_MS), 1000, dtype=np.int16)
    voice = np.where(np.arange(n) % 100 >= 83, 1e-6, 1.0).astype(np.float32)  # quiet every 3 s
    turns = [(3.0 * k, 3.0 * k + 2.49) for k in range(50)]  # 2.49 s of speech, 0.51 s pause
    for k, (a, b) in enumerate(turns):
        first, stop = 100 * k, 100 * (k + 1)
        tr.add_frames(FrameBatch(["a"], np.zeros(stop - first, dtype=np.int64), np.arange(first, stop),
                                 pcm[first:stop], np.ones(stop - first, np.float32), voice[first:stop]))
        tr.turn_ended(SpeechSegment("a", a, b))
        tr.running(b + 0.25, {})
        settle(tr)
    lines = settle(tr) + tr.finish(10)
    assert all(ln.dropped is None for ln in tr.lines)
    summary = tr.summary({"a": turns})
    assert summary.uncovered_s == 0 and summary.transcribed_s == summary.talk_s and summary.dropped_s == {}
    assert max(rec.decoded) <= AsrConfig().max_utterance_s + 0.5  # never more than a window at once
    assert sum(rec.decoded) < 2.3 * 150  # live once, settled once: not again at every pause
    assert sum(1 for ln in tr.lines if ln.settled) >= 5


def test_settled_stretches_wait_to_share_one_recognition_call():
    rec = SpanRecognizer()
    tr = transcriber(rec, settle_wait_s=60.0, settle_batch_s=8.0)
    for key, turns in (("a", [(0.99, 1.5), (2.49, 3.0)]), ("b", [(3.3, 4.5), (5.0, 6.0)]), ("c", [(6.5, 8.0), (8.5, 9.9)])):
        for a, b in turns:
            tr.turn_ended(SpeechSegment(key, a, b))
            settle(tr)
    tr.running(12.0, {})  # all three stretches settle
    settle(tr)
    assert [ln.entry.participant for ln in tr.lines if ln.settled] == ["a", "b", "c"]
    assert round(2.43 + 0.5 + 3.12 + 0.5 + 3.81, 2) in rec.decoded  # a, b and c packed into one call


def test_a_settled_stretch_reaches_into_quiet_but_not_into_another_voice():
    rec = SpanRecognizer()
    tr = Transcriber(AsrConfig(settle_wait_s=0.0), FRAME_MS, recognizer=rec)  # reach: up to 1.0 s
    n = 400
    voice = np.full(n, 1e-6, dtype=np.float32)  # a quiet room ...
    voice[100:140] = 1e-2  # ... where someone else's voice leaks in at 3.0-4.2 s
    voice[150:170] = voice[190:210] = 1.0  # her own speech
    tr.add_frames(FrameBatch(["a"], np.zeros(n, dtype=np.int64), np.arange(n), np.zeros((n, 16 * FRAME_MS), np.int16),
                             np.ones(n, np.float32), voice))
    tr.turn_ended(SpeechSegment("a", 4.5, 5.1))
    tr.turn_ended(SpeechSegment("a", 5.7, 6.3))
    tr.running(9.0, {})
    settle(tr)
    (line,) = [ln for ln in tr.lines if ln.settled]
    assert (line.entry.start_s, line.entry.end_s) == (4.2, 7.32)  # back to the other voice; 1 s into the quiet
