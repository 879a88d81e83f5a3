"""Transcription logic that needs no model: utterances from talk turns, packing several utterances into
one Whisper window, splitting the recognised words back, and the text-derived signals.

Whisper pays for a full 30 s encoder window on every call, however short the audio, so when utterances
queue up they are decoded together: laid end to end with short silences between them, recognised once
with word timestamps, and each word returned to the utterance its time falls in.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Utterance:
    """One participant's speech to transcribe: a final talk turn (or a long turn's piece), padded."""

    id: int
    key: str
    start_s: float  # media time of audio[0]
    end_s: float
    audio: np.ndarray = field(repr=False)  # float32, 16 kHz, in [-1, 1)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass(frozen=True)
class Word:
    start_s: float  # seconds from the start of the audio that was recognised
    end_s: float
    text: str


@dataclass(frozen=True)
class Pack:
    """Utterances laid end to end for one recognition call."""

    audio: np.ndarray
    members: tuple[Utterance, ...]
    offsets_s: tuple[float, ...]  # where each member starts in `audio`
    gap_s: float


def pack(queue: list[Utterance], window_s: float = 30.0, gap_s: float = 0.5) -> Pack:
    """Take utterances from the front of `queue` (oldest first) while they fit in one window.

    The first always goes in (a longer-than-window utterance is decoded alone; Whisper then runs more
    than one window). Silence of `gap_s` separates them so that words do not run across.
    """
    members: list[Utterance] = []
    total = 0.0
    for u in queue:
        need = u.duration_s + (gap_s if members else 0.0)
        if members and total + need > window_s:
            break
        members.append(u)
        total += need
    gap = np.zeros(int(round(gap_s * SAMPLE_RATE)), dtype=np.float32)
    parts: list[np.ndarray] = []
    offsets: list[float] = []
    at = 0
    for i, u in enumerate(members):
        if i:
            parts.append(gap)
            at += len(gap)
        offsets.append(at / SAMPLE_RATE)
        parts.append(u.audio.astype(np.float32, copy=False))
        at += len(u.audio)
    return Pack(np.concatenate(parts), tuple(members), tuple(offsets), gap_s)


def split_words(p: Pack, words: list[Word]) -> dict[int, str]:
    """Text of each member of a pack: every word goes to the member whose span (extended halfway into
    the silences around it) holds the word's midpoint."""
    bounds = [off + u.duration_s + p.gap_s / 2 for off, u in zip(p.offsets_s, p.members)]
    texts: dict[int, list[str]] = {u.id: [] for u in p.members}
    for w in words:
        mid = (w.start_s + w.end_s) / 2
        i = next((k for k, b in enumerate(bounds) if mid < b), len(bounds) - 1)
        texts[p.members[i].id].append(w.text)
    return {uid: _join(ws) for uid, ws in texts.items()}


def _join(words: list[str]) -> str:
    """Whisper's word pieces carry their own leading spaces."""
    return "".join(words).strip()


def split_points(energy: np.ndarray, max_frames: int, search_frames: int) -> list[int]:
    """Where to cut a turn of ``len(energy)`` frames into pieces of at most ``max_frames``: at the
    quietest frame of the last ``search_frames`` before each limit, so a cut falls in a pause, not a
    word. Returns the frame offsets of the cuts."""
    cuts: list[int] = []
    start = 0
    n = len(energy)
    while n - start > max_frames:
        lo = start + max(1, max_frames - search_frames)
        hi = start + max_frames
        cut = lo + int(np.argmin(energy[lo:hi]))
        cuts.append(cut)
        start = cut
    return cuts


# ---------------------------------------------------------------------------------- text signals
FILLERS = ("um", "uh", "er", "erm", "ah", "hmm", "mm", "uhm", "umm")
_WORD = re.compile(r"[A-Za-z']+")


@dataclass(frozen=True)
class TextSignals:
    words: int
    questions: int
    fillers: int


def text_signals(text: str) -> TextSignals:
    """Counted on the raw recognised text, before any normalisation (which would drop "um" and "uh"):
    words, questions (sentences ending in "?"), filler words (whole words in FILLERS)."""
    tokens = [t.lower() for t in _WORD.findall(text)]
    return TextSignals(words=len(tokens), questions=text.count("?"),
                       fillers=sum(1 for t in tokens if t in FILLERS))
