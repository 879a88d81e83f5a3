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
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from .frames import SAMPLE_RATE

ENERGY_EPS = 1e-10  # -100 dBFS: below the int16 quantisation noise; digital silence clamps here


class ChannelState:
    """Per-participant state: floor history, leakage-spread history and the webrtcvad instance."""

    def __init__(self, key: str, vad_mode: int, floor_frames: int, spread_frames: int) -> None:
        self.key = key
        self.vad = webrtcvad.Vad(vad_mode)
        self.floor_frames = floor_frames
        self.spread_frames = spread_frames
        self.floor_hist = np.zeros(0)  # the last floor_frames - 1 received energies (linear)
        self.spread_hist = np.zeros(max(spread_frames - 1, 0))

    def vad_frames(self, pcm: memoryview, rows: np.ndarray, frame_bytes: int) -> np.ndarray:
        """webrtcvad's decision for the given rows of a contiguous int16 [n, F] buffer, in order (the
        VAD keeps state from frame to frame)."""
        is_speech, rate = self.vad.is_speech, SAMPLE_RATE
        return np.array([is_speech(pcm[r * frame_bytes:(r + 1) * frame_bytes], rate) for r in rows.tolist()],
                        dtype=bool)


def floors(channels: list[ChannelState], energy: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Noise floor (linear energy) of every channel [C, n] for a dense range of frames: the minimum over
    the channel's last ``floor_frames`` *received* frames. Missing frames (mute, silence suppression,
    gaps) take no part and do not age the floor, so speech that resumes after a pause is measured
    against the floor from before the pause, not against itself. Missing frames get +inf."""
    w = channels[0].floor_frames
    if w > 1 and present.all() and all(len(ch.floor_hist) == w - 1 for ch in channels):
        # Every frame arrived (the usual case without silence suppression): all channels at once.
        return _trailing(channels, np.maximum(energy, ENERGY_EPS), "floor_hist", w, minimum_filter1d)
    out = np.full(energy.shape, np.inf)
    for c, ch in enumerate(channels):
        got = present[c]
        if not got.any():
            continue
        received = np.maximum(energy[c, got], ENERGY_EPS)
        seq = np.concatenate([ch.floor_hist, received])
        ch.floor_hist = seq[-(w - 1):] if w > 1 else seq[:0]
        # scipy's window is centred; origin moves it to end at each frame (inf pads the start).
        mins = minimum_filter1d(seq, w, mode="constant", cval=np.inf, origin=(w - 1) // 2) if w > 1 else seq
        out[c, got] = mins[len(seq) - len(received):]
    return out


def spreads(channels: list[ChannelState], energy: np.ndarray) -> np.ndarray:
    """Max energy over each channel's last ``spread_frames`` frames [C, n]: covers the propagation delay
    and room reverberation of this channel's voice as it leaks into other microphones."""
    return _trailing(channels, energy, "spread_hist", channels[0].spread_frames, maximum_filter1d)


def _trailing(channels: list[ChannelState], values: np.ndarray, history: str, w: int, filter1d) -> np.ndarray:
    """``filter1d`` (a running min or max) over the window (k-w, k] of every channel, continuing each
    channel's history (the attribute ``history``) from the previous call."""
    if w <= 1:
        return values
    seq = np.concatenate([np.stack([getattr(ch, history) for ch in channels]), values], axis=1)
    for ch, row in zip(channels, seq[:, -(w - 1):]):
        setattr(ch, history, row.copy())
    # scipy's window is centred; origin moves it to end at k.
    return filter1d(seq, w, axis=1, mode="nearest", origin=(w - 1) // 2)[:, w - 1:]
