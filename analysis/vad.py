"""Per-channel stage of the talk-time detector: adaptive noise floor and the webrtcvad call.

Everything here is vectorised per block of frames; the only per-frame Python is the webrtcvad call,
and it is made only for frames that the energy gates (this module's noise floor plus the cross-channel
leakage gate in :mod:`analysis.crosstalk`) leave as candidates.

Noise floor: minimum statistics. The floor of frame ``k`` is the minimum frame energy over the channel's
received frames in the last ``floor_window_s`` seconds (window ``(k-W, k]``). A steady noise source (fan,
TV, hum) therefore becomes the floor within ``floor_window_s``; speech does not, because speech always
has dips between syllables/words within that window. Missing frames do not take part.
"""
from __future__ import annotations

import numpy as np
import webrtcvad
from numpy.lib.stride_tricks import sliding_window_view

from .frames import SAMPLE_RATE

ENERGY_EPS = 1e-10  # -100 dBFS: below the int16 quantisation noise; digital silence clamps here


class ChannelState:
    """Per-participant state: floor history, leakage-spread history and the webrtcvad instance."""

    def __init__(self, key: str, vad_mode: int, floor_frames: int, spread_frames: int) -> None:
        self.key = key
        self.vad = webrtcvad.Vad(vad_mode)
        self.floor_frames = floor_frames
        self.spread_frames = spread_frames
        # energies (linear) of the previous frames on the grid; +inf = missing (ignored by the min)
        self._floor_hist = np.full(floor_frames - 1, np.inf)
        self._spread_hist = np.zeros(max(spread_frames - 1, 0))
        self.last_floor = np.inf

    def floor(self, energy: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Noise floor (linear energy) for each frame of a dense block; ``energy`` is 0 where missing."""
        e = np.where(present, np.maximum(energy, ENERGY_EPS), np.inf)
        seq = np.concatenate([self._floor_hist, e])
        if self.floor_frames > 1:
            fl = sliding_window_view(seq, self.floor_frames).min(axis=1)
            self._floor_hist = seq[-(self.floor_frames - 1):]
        else:
            fl = e
        return fl

    def spread(self, energy: np.ndarray) -> np.ndarray:
        """Max energy over the last ``spread_frames`` frames (covers propagation delay and room reverb
        tail of this channel's voice as it leaks into other microphones)."""
        if self.spread_frames <= 1:
            return energy
        seq = np.concatenate([self._spread_hist, energy])
        out = sliding_window_view(seq, self.spread_frames).max(axis=1)
        self._spread_hist = seq[-(self.spread_frames - 1):]
        return out

    def vad_frames(self, pcm_bytes: memoryview, rows: np.ndarray, frame_bytes: int) -> np.ndarray:
        """webrtcvad decision for the given rows of a contiguous int16 [n, F] buffer."""
        is_speech = self.vad.is_speech
        out = np.zeros(len(rows), dtype=bool)
        for n, r in enumerate(rows.tolist()):
            out[n] = is_speech(pcm_bytes[r * frame_bytes:(r + 1) * frame_bytes], SAMPLE_RATE)
        return out
