"""The transcriber: a speaker's turns with short pauses are one utterance, decoded speculatively once the
speech goes quiet and final once nothing more can join; withdrawn if the speaker goes on. A stand-in
recogniser reports how much audio it was given, so the tests see exactly which spans were decoded."""
from __future__ import annotations

import threading
import time

import numpy as np

from analysis.events import SpeechSegment
from analysis.frames import FrameBatch
from analysis.transcript import SAMPLE_RATE, Word
from bot.transcriber import AsrConfig, Transcriber

FRAME_MS = 30


class SpanRecognizer:
    """Answers every audio with one word: its length in seconds. Can be held to keep the ASR thread busy."""

    name = "span-length stand-in"

    def __init__(self) -> None:
        self.decoded: list[float] = []
        self.release = threading.Event()
        self.release.set()

    def recognize(self, audios: list[np.ndarray]) -> list[list[Word]]:
        assert self.release.wait(10)
        secs = [round(len(a) / SAMPLE_RATE, 2) for a in audios]
        self.decoded += secs
        return [[Word(0.0, s, f" {s:.2f}")] for s in secs]


def transcriber(rec: SpanRecognizer) -> Transcriber:
    tr = Transcriber(AsrConfig(), FRAME_MS, recognizer=rec)
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
    raise AssertionError("the ASR thread did not finish")


def test_quiet_span_is_decoded_early_and_final_once_nothing_more_can_join():
    rec = SpanRecognizer()
    tr = transcriber(rec)
    tr.running(1.71, {"a": (0.99, 1.5)})  # 0.21 s of silence: not yet
    assert settle(tr) == [] and rec.decoded == []
    tr.running(1.8, {"a": (0.99, 1.5)})  # 0.3 s: decoded now, held until the span is complete
    assert settle(tr) == [] and rec.decoded == [0.93]  # padded by 7 frames (0.21 s) on each side
    tr.turn_ended(SpeechSegment("a", 0.99, 1.5))  # the turn is final (0.6 s later) ...
    tr.running(2.31, {})
    assert settle(tr) == []  # ... but another turn could still join it
    tr.running(2.4, {})  # 0.9 s of silence: complete
    lines = tr.ready()
    assert [(ln.entry.participant, ln.entry.text, ln.speech_end_s, ln.interim) for ln in lines] == \
        [("a", "0.93", 1.5, False)]
    assert settle(tr) == [] and rec.decoded == [0.93]  # decoded once


def test_span_grows_when_the_speaker_goes_on_and_is_decoded_whole():
    rec = SpanRecognizer()
    tr = transcriber(rec)
    tr.running(1.8, {"a": (0.99, 1.5)})
    assert settle(tr) == []
    tr.turn_ended(SpeechSegment("a", 0.99, 1.5))
    tr.running(2.1, {})
    tr.running(2.4, {"a": (2.19, 2.4)})  # a new turn 0.69 s later joins: the early text is withdrawn
    tr.running(2.7, {"a": (2.19, 2.4)})  # quiet again: the whole span is decoded
    tr.turn_ended(SpeechSegment("a", 2.19, 2.4))
    tr.running(3.0, {})
    assert settle(tr) == []
    tr.running(3.3, {})
    lines = settle(tr)
    assert [ln.entry.text for ln in lines] == ["1.83"]  # one line for both turns; nothing of the first try
    assert rec.decoded == [0.93, 1.83] and tr.withdrawn == 1


def test_turns_further_apart_are_separate_lines():
    rec = SpanRecognizer()
    tr = transcriber(rec)
    tr.turn_ended(SpeechSegment("a", 0.99, 1.5))
    tr.turn_ended(SpeechSegment("a", 2.49, 3.0))  # 0.99 s later: a new utterance, the first is complete
    first = settle(tr)  # (decoded before the second is queued: two queued together would be packed)
    tr.running(3.9, {})
    assert [ln.entry.text for ln in first + settle(tr)] == ["0.93", "0.93"]


def test_withdrawn_utterance_still_queued_is_never_decoded():
    rec = SpanRecognizer()
    tr = transcriber(rec)
    rec.release.clear()
    tr.turn_ended(SpeechSegment("b", 0.3, 3.0))
    tr.running(4.0, {})  # b complete: keeps the ASR thread busy
    time.sleep(0.1)
    tr.running(4.0, {"a": (0.99, 1.5)})  # queued behind it
    tr.running(4.0, {"a": (0.99, 2.4)})  # went on: taken back out of the queue
    rec.release.set()
    tr.turn_ended(SpeechSegment("a", 0.99, 2.4))
    tr.running(4.0, {})
    lines = settle(tr)
    assert sorted(rec.decoded) == [1.83, 3.12]
    assert sorted((ln.entry.participant, ln.entry.text) for ln in lines) == [("a", "1.83"), ("b", "3.12")]


def test_running_turn_that_vanishes_leaves_no_line():
    rec = SpanRecognizer()
    tr = transcriber(rec)
    tr.running(1.8, {"a": (0.99, 1.5)})  # decoded early
    tr.running(2.1, {})  # the turn is gone without becoming final (consent withdrawn)
    tr.running(3.0, {})
    assert settle(tr) == [] and tr.finish(5) == []


def test_long_turn_gets_interim_text_every_two_seconds_then_one_final():
    rec = SpanRecognizer()
    tr = transcriber(rec)
    for end in np.arange(0.6, 6.01, 0.3):  # speech going on, decided a little behind it
        tr.running(end + 0.09, {"a": (0.0, float(end))})
        settle(tr)
    tr.turn_ended(SpeechSegment("a", 0.0, 6.0))
    tr.running(6.9, {})
    settle(tr)
    interims = [ln for ln in tr.lines if ln.interim]
    finals = [ln for ln in tr.lines if not ln.interim]
    assert [ln.entry.text for ln in interims] == ["2.10", "4.20"]  # every 2 s of new speech
    assert [ln.entry.text for ln in finals] == ["6.21"]


def test_a_monologue_longer_than_the_audio_kept_is_transcribed_whole_as_it_goes():
    """Someone reads for 150 s with 0.5 s pauses (shorter than the merge gap: one span): the transcriber
    keeps only 90 s of audio, so it must decode the span in pieces as it grows, every second covered."""
    rec = SpanRecognizer()
    tr = Transcriber(AsrConfig(), FRAME_MS, recognizer=rec)
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
    lines = settle(tr) + tr.finish(10)
    assert all(ln.dropped is None for ln in lines)
    summary = tr.summary({"a": turns})
    assert summary.uncovered_s == 0 and summary.transcribed_s == summary.talk_s and summary.dropped_s == {}
    assert max(rec.decoded) <= AsrConfig().max_utterance_s + 0.5  # never the whole monologue at once
