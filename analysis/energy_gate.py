"""The talk detector's energy gate: which frames could be a participant's own voice, before webrtcvad
looks at them. All energies are voice-band energies (above 300 Hz, from the native ingest), except the
full-band one of the tilt check.

Frame by frame, on the global frame grid, for every channel ``c`` at once:

1. **Noise floor**: the minimum energy over the channel's last ``floor_frames`` *received* frames. A
   steady noise (fan, TV, hum) becomes the floor within the window; speech does not, because speech dips
   between syllables and words. Missing frames (mute, silence suppression, gaps) neither count nor age
   the floor, so speech that resumes after a pause is measured against the floor from before the pause.
2. **Leakage spread**: the maximum energy over the channel's last ``spread_frames`` frames, covering the
   delay and reverberation of this channel's voice as it reaches other microphones.
3. **Gate**: a frame is a candidate if it arrived, its full-band energy is at most ``max_tilt`` times its
   voice-band energy (breath, handling noise and rumble sit below 300 Hz), and its energy exceeds
   ``margin`` × (floor + predicted leakage), the leakage being ``sum_j g_cj * spread_j`` with the couplings
   of :mod:`analysis.crosstalk`.
4. **Learn, then gate again**: candidates at least ``clear`` × floor teach the coupling model; if it
   changed, the frame is gated again with it, so a pair's first shared speech is already judged with what
   it teaches.

Everything depends only on the frames, in grid order, never on how they were batched, so decisions can be
made as often as latency needs. This module is the reference implementation, one numpy step per frame:
plain to read and to check, too slow for a live meeting. The bot runs the same arithmetic from C++
(``native.EnergyGate``, injected into the detector); a test holds the two to identical decisions.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .crosstalk import CouplingModel

ENERGY_EPS = 1e-10  # -100 dBFS: below the int16 quantisation noise; digital silence clamps here


class EnergyGate:
    def __init__(self, floor_frames: int, spread_frames: int, margin: float, max_tilt: float, clear: float,
                 quantile: float, prior_db: float, prior_weight: float, cap: float) -> None:
        self.floor_frames = max(1, floor_frames)
        self.spread_frames = max(1, spread_frames)
        self.margin, self.max_tilt, self.clear = margin, max_tilt, clear
        self.coupling = CouplingModel(quantile, prior_db, prior_weight, cap)
        self._floor_hist: list[np.ndarray] = []  # per channel: the last floor_frames - 1 received energies
        self._spread_hist: list[np.ndarray] = []  # per channel: the last spread_frames - 1 energies

    @property
    def channels(self) -> int:
        return len(self._floor_hist)

    def add_channel(self) -> int:
        c = self.channels
        self._floor_hist.append(np.zeros(0))
        self._spread_hist.append(np.zeros(self.spread_frames - 1))
        self.coupling.add_channel(str(c))
        return c

    def gains(self) -> np.ndarray:
        return self.coupling.gain.copy()

    def process(self, channel: np.ndarray, pos: np.ndarray, voice: np.ndarray, full: np.ndarray,
                n: int) -> np.ndarray:
        """The rows that are own-voice candidates, channel by channel in frame order, for the next n
        frames. Each row is one received frame: its channel, its position, its voice-band and full-band
        energies. Rows outside 0..n-1 are ignored; of two rows for one frame the first counts."""
        C = self.channels
        inside = np.flatnonzero((pos >= 0) & (pos < n))
        _, first = np.unique(channel[inside] * n + pos[inside], return_index=True)
        keep = inside[np.sort(first)]
        row_of = keep
        channel, pos, voice, full = channel[keep], pos[keep], voice[keep], full[keep]
        v, f = np.zeros((C, n)), np.zeros((C, n))
        present = np.zeros((C, n), dtype=bool)
        row = np.full((C, n), -1, dtype=np.int64)
        v[channel, pos], f[channel, pos], present[channel, pos] = voice, full, True
        row[channel, pos] = row_of
        return row[self._candidates(v, f, present)]

    def _candidates(self, voice: np.ndarray, full: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Own-voice candidates [C, n] of dense energies."""
        floor = self._floors(voice, present)
        spread = self._spreads(voice)
        plausible = present & (full <= self.max_tilt * voice)
        cand = np.zeros(voice.shape, dtype=bool)
        for k in range(voice.shape[1]):
            e, fl, sp, ok = voice[:, k:k + 1], floor[:, k:k + 1], spread[:, k:k + 1], plausible[:, k:k + 1]
            ck = ok & (e > self.margin * (fl + self.coupling.leakage(sp)))
            if self.coupling.update(e, present[:, k:k + 1], ck & (e > self.clear * fl)):
                ck = ok & (e > self.margin * (fl + self.coupling.leakage(sp)))
            cand[:, k:k + 1] = ck
        return cand

    def _floors(self, energy: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Noise floor of every frame (+inf where the frame is missing), carrying each channel's history."""
        w = self.floor_frames
        out = np.full(energy.shape, np.inf)
        for c in range(self.channels):
            got = present[c]
            if not got.any():
                continue
            received = np.maximum(energy[c, got], ENERGY_EPS)
            seq = np.concatenate([np.full(w - 1 - len(self._floor_hist[c]), np.inf), self._floor_hist[c], received])
            tail = seq[-(w - 1):] if w > 1 else seq[:0]
            self._floor_hist[c] = tail[np.isfinite(tail)]  # the padding is not history
            out[c, got] = sliding_window_view(seq, w).min(axis=1)  # the window ending at each frame
        return out

    def _spreads(self, energy: np.ndarray) -> np.ndarray:
        """Maximum energy over each channel's last spread_frames frames (missing frames count as 0)."""
        w = self.spread_frames
        if w <= 1:
            return energy
        seq = np.concatenate([np.stack(self._spread_hist), energy], axis=1)
        self._spread_hist = [row.copy() for row in seq[:, -(w - 1):]]
        return sliding_window_view(seq, w, axis=1).max(axis=2)
