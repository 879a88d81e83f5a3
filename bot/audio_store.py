"""The last minute or so of every participant's 16 kHz audio, by frame index, to cut utterances from."""
from __future__ import annotations

import numpy as np

from analysis.frames import FrameBatch


class AudioStore:
    def __init__(self, frame_len: int, capacity_frames: int) -> None:
        self.frame_len = frame_len
        self.capacity = capacity_frames
        self._pcm: dict[str, np.ndarray] = {}  # key -> [capacity, F] int16 ring
        self._index: dict[str, np.ndarray] = {}  # key -> [capacity] frame index held in each slot (-1: none)
        self._voice: dict[str, np.ndarray] = {}  # key -> [capacity] voice-band energy

    def add(self, batch: FrameBatch) -> None:
        for s in np.unique(batch.stream).tolist():
            rows = batch.stream == s
            key = batch.keys[s]
            if key not in self._pcm:
                self._pcm[key] = np.zeros((self.capacity, self.frame_len), dtype=np.int16)
                self._index[key] = np.full(self.capacity, -1, dtype=np.int64)
                self._voice[key] = np.zeros(self.capacity)
            idx = batch.index[rows]
            slot = idx % self.capacity
            self._pcm[key][slot] = batch.pcm[rows]
            self._index[key][slot] = idx
            self._voice[key][slot] = batch.voice_energy[rows]

    def cut(self, key: str, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames [first, stop) of `key` as float32 samples in [-1, 1) and their voice-band energies;
        frames that never arrived (or are no longer held) are silence."""
        n = max(0, stop - first)
        audio = np.zeros((n, self.frame_len), dtype=np.float32)
        voice = np.zeros(n)
        if key in self._pcm and n:
            want = np.arange(first, stop)
            slot = want % self.capacity
            held = self._index[key][slot] == want
            audio[held] = self._pcm[key][slot[held]] / 32768.0
            voice[held] = self._voice[key][slot[held]]
        return audio.reshape(-1), voice
