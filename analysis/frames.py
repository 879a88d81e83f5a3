"""Audio frames as the native ingest hands them to analysis.

Frames sit on one global grid: frame ``k`` covers samples ``[k*F, (k+1)*F)`` of the 16 kHz media
clock that starts at meeting start, for every participant. Cross-channel decisions (crosstalk gating)
therefore compare frames with equal indices. A missing index means no audio arrived for that frame
(muted, silent-suppressed or a network gap): it is silence, never interpolated.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SAMPLE_RATE = 16_000


class FrameBatch:
    """Frames of any number of participants, as one drain of the native ingest returns them.

    Row ``i`` belongs to participant ``keys[stream[i]]``; each participant's rows are in increasing
    index order. One batch per drain (not one per participant) keeps the per-drain Python work small.
    """

    __slots__ = ("keys", "stream", "index", "pcm", "energy", "voice_energy")

    def __init__(self, keys: Sequence[str], stream: np.ndarray, index: np.ndarray, pcm: np.ndarray,
                 energy: np.ndarray, voice_energy: np.ndarray) -> None:
        self.keys = keys  # participant key of each stream id
        self.stream = stream  # int [n]: stream id of each row
        self.index = index  # int64 [n]: global frame indices
        self.pcm = pcm  # int16 [n, F]: 16 kHz samples
        self.energy = energy  # float32 [n]: mean square of the samples scaled to [-1, 1)
        self.voice_energy = voice_energy  # float32 [n]: the same above 300 Hz (formants; no breath or rumble)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def select(self, sel: np.ndarray | slice) -> FrameBatch:
        """The rows picked by a boolean mask, index array or slice."""
        return FrameBatch(self.keys, self.stream[sel], self.index[sel], self.pcm[sel], self.energy[sel],
                          self.voice_energy[sel])


def frame_len_for(frame_ms: int) -> int:
    if frame_ms not in (10, 20, 30):
        raise ValueError(f"frame_ms must be 10, 20 or 30 (webrtcvad frame sizes), not {frame_ms}")
    return SAMPLE_RATE * frame_ms // 1000
