"""The talk detector's energy gate: which frames could be a participant's own voice, before webrtcvad
looks at them, and at what gain webrtcvad should see them. Energies are voice-band energies (above 300 Hz,
from the native ingest), except the full-band ones of the tilt check and of the speech level.

Frame by frame, on the global frame grid, for every channel ``c`` at once:

1. **Noise floor**: the minimum energy over the channel's last ``floor_frames`` *received* frames. A
   steady noise (fan, hum) becomes the floor within the window; speech does not, because speech dips
   between syllables and words. Missing frames (mute, silence suppression, gaps) neither count nor age
   the floor, so speech that resumes after a pause is measured against the floor from before the pause.
2. **Leakage**: each channel's energy above its floor (its own steady noise leaks nowhere), spread as the
   maximum over its last ``spread_frames`` frames (delay and reverberation on the way to other
   microphones), times the couplings of :mod:`analysis.crosstalk`. A channel that is background (far
   below the meeting: a television) leaks nowhere: it is nobody's voice.
3. **Sure own voice**: the frame arrived, its full-band energy is at most ``max_tilt`` times its voice-band
   energy (breath, handling noise and rumble sit below 300 Hz), and it exceeds ``margin`` × (floor +
   predicted leakage). Sure frames teach the channel's speech level (:mod:`analysis.levels`); sure frames
   at least ``clear`` × floor teach the coupling model (and the gate is applied again if it changed, so a
   pair's first shared speech is already judged with what it teaches) and the others' backgrounds.
4. **Candidate**: the floor's margin is lowered where noise covers the weaker syllables (the channel's
   speech level stands less than ``snr_full_db`` above its floor: down to ``floor_margin_low_db`` at
   ``snr_low_db``), but only within ``hold_frames`` of a sure frame: weak speech continues what was sure,
   noise alone starts nothing. Where the channel carries speech-like background (its background while
   others talk is within ``bg_range_db`` of its own speech level and ``bg_floor_gap_db`` above its steady
   floor: babble, a television), a candidate must also exceed that background by ``bg_margin_db``.
   The background is what the channel carries beyond the leakage of *tight* couplings (another voice
   heard in this microphone through an acoustic path): that is leakage its owner talks over, not a
   background that hides them.
5. **Gain**: every candidate is brought from the channel's speech level to ``nominal_db`` for webrtcvad,
   whose own threshold is absolute: a quiet microphone is heard as well as a loud one.

Everything depends only on the frames, in grid order, never on how they were batched, so decisions can be
made as often as latency needs. This module is the reference implementation, one numpy step per frame:
plain to read and to check, too slow for a live meeting. The bot runs the same arithmetic from C++
(``native.EnergyGate``, injected into the detector); a test holds the two to identical decisions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .crosstalk import CouplingModel
from .levels import ChannelLevels

ENERGY_EPS = 1e-10  # -100 dBFS: below the int16 quantisation noise; digital silence clamps here


@dataclass(frozen=True)
class GateParams:
    """The gate's parameters in frames, linear energy ratios (``margin``, ``max_tilt``, ``clear``) and dB;
    :class:`analysis.talk_detector.TalkConfig` says what each is for. Both gates take them as keywords."""

    floor_frames: int
    spread_frames: int
    margin: float
    max_tilt: float
    clear: float
    quantile: float
    prior_db: float
    prior_weight: float
    cap: float
    level_quantile: float
    min_level: float
    min_background: float
    range_db: float
    audible_db: float
    level_cap: float
    floor_margin_db: float
    floor_margin_low_db: float
    snr_full_db: float
    snr_low_db: float
    hold_frames: int
    bg_margin_db: float
    bg_range_db: float
    bg_floor_gap_db: float
    tight_db: float
    nominal_db: float
    max_gain_db: float


class EnergyGate:
    def __init__(self, **params: float) -> None:
        p = self.p = GateParams(**params)
        self.floor_frames = max(1, p.floor_frames)
        self.spread_frames = max(1, p.spread_frames)
        self.coupling = CouplingModel(p.quantile, p.prior_db, p.prior_weight, p.cap, p.tight_db, p.min_level)
        self.levels = ChannelLevels(p.level_quantile, p.min_level, p.min_background, p.range_db, p.audible_db,
                                    p.level_cap)
        self._floor_hist: list[np.ndarray] = []  # per channel: the last floor_frames - 1 received energies
        self._spread_hist: list[np.ndarray] = []  # per channel: the last spread_frames - 1 excess energies
        self._last_sure = np.zeros(0, dtype=np.int64)  # per channel: the last sure frame
        self._frame = 0  # frames processed so far (the grid index of the next call's first frame)
        self.frames = np.zeros(0, dtype=np.int64)  # per channel: candidate frames so far
        self.clipped = np.zeros(0, dtype=np.int64)  # ... of which with a sample at full scale

    @property
    def channels(self) -> int:
        return len(self._floor_hist)

    def add_channel(self) -> int:
        c = self.channels
        self._floor_hist.append(np.zeros(0))
        self._spread_hist.append(np.zeros(self.spread_frames - 1))
        self._last_sure = np.r_[self._last_sure, -(1 << 40)]
        self.frames, self.clipped = np.r_[self.frames, 0], np.r_[self.clipped, 0]
        self.coupling.add_channel(str(c))
        self.levels.add_channel()
        return c

    def relevant(self) -> np.ndarray:
        """Per channel: whether it carries a participant's voice (not background far below the meeting)."""
        return self.levels.relevant.copy()

    def stats(self) -> dict[str, np.ndarray]:
        """Per channel: speech levels, background while others talk, the current floor (dB), flags, and
        candidate frames (and how many were clipped); and the meeting's loud end (``reference_db``)."""
        lv = self.levels
        floor = [10.0 * np.log10(max(h.min(), ENERGY_EPS)) if len(h) else np.inf for h in self._floor_hist]
        return {"level_db": lv.level_db.copy(), "voice_level_db": lv.voice_level_db.copy(),
                "background_db": lv.background_db.copy(), "floor_db": np.asarray(floor, dtype=float),
                "has_level": lv.has_level.copy(), "has_background": lv.has_background.copy(),
                "relevant": lv.relevant.copy(), "reference_db": np.array([lv.reference_db]),
                "frames": self.frames.copy(), "clipped": self.clipped.copy()}

    def gains(self) -> np.ndarray:
        return self.coupling.gain.copy()

    def process(self, channel: np.ndarray, pos: np.ndarray, voice: np.ndarray, full: np.ndarray, n: int,
                pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows that are own-voice candidates, channel by channel in frame order, for the next n
        frames; their samples (``pcm``: int16 [rows, F]) brought to the nominal speech level for webrtcvad;
        and each one's speech-to-floor ratio in dB (the channel's voice level over its floor; +inf before
        it has a level). Each row is one received frame: its channel, its position, its voice-band and
        full-band energies. Rows outside 0..n-1 are ignored; of two rows for one frame the first counts."""
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
        cand, gain, snr = self._candidates(v, f, present)
        rows, cc = row[cand], np.nonzero(cand)[0]
        frames = pcm[rows]
        self.frames += np.bincount(cc, minlength=C)
        self.clipped += np.bincount(cc, weights=(frames.max(axis=1) == 32767) | (frames.min(axis=1) == -32768),
                                    minlength=C).astype(np.int64)
        scaled = np.clip(frames.astype(np.float32) * gain[cand].astype(np.float32)[:, None], -32768, 32767)
        return rows, scaled.astype(np.int16), snr[cand]

    def _candidates(self, voice: np.ndarray, full: np.ndarray,
                    present: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Own-voice candidates [C, n] of dense energies, each frame's amplitude gain for webrtcvad and its
        channel's speech-to-floor ratio."""
        p, lv = self.p, self.levels
        floor = self._floors(voice, present)
        excess = np.where(present, np.maximum(voice - np.where(np.isfinite(floor), floor, 0.0), 0.0), 0.0)
        spread = self._spreads(excess)
        plausible = present & (full <= p.max_tilt * voice)
        cand = np.zeros(voice.shape, dtype=bool)
        gain = np.ones(voice.shape)
        snr = np.full(voice.shape, np.inf)
        for k in range(voice.shape[1]):
            at = self._frame + k
            e, fl, ok = voice[:, k], floor[:, k], plausible[:, k]
            e_db, f_db, fl_db = (10.0 * np.log10(np.maximum(x, ENERGY_EPS)) for x in (e, full[:, k], fl))
            # the channel's speech level; before it has one, the others' typical level
            typical = float(np.median(lv.level_db[lv.has_level])) if lv.has_level.any() else p.nominal_db
            level_db = np.where(lv.has_level, lv.level_db, typical)
            # a channel that is background (far below the meeting) is nobody's voice: it leaks nowhere
            src = spread[:, k:k + 1] * lv.relevant[:, None]
            leak = self.coupling.leakage(src)[:, 0]
            sure = ok & (e > p.margin * (fl + leak))
            # a channel that is background (far below the meeting) is nobody's voice: it teaches no coupling
            if self.coupling.update(excess[:, k:k + 1], present[:, k:k + 1],
                                    (sure & (e > p.clear * fl) & lv.relevant)[:, None], (f_db - level_db)[:, None]):
                leak = self.coupling.leakage(src)[:, 0]
                sure = ok & (e > p.margin * (fl + leak))
            clear = sure & (e > p.clear * fl)
            snr[:, k] = np.where(lv.has_level, lv.voice_level_db - fl_db, np.inf)
            lowered = np.interp(snr[:, k], (p.snr_low_db, p.snr_full_db), (p.floor_margin_low_db, p.floor_margin_db))
            fm_db = np.where(lv.has_level & (at - self._last_sure <= p.hold_frames), lowered, p.floor_margin_db)
            maybe = ok & (e > 10.0 ** (fm_db / 10.0) * fl + p.margin * leak)
            loud_bg = (lv.has_background & lv.has_level & (lv.background_db > lv.voice_level_db - p.bg_range_db)
                       & (lv.background_db > fl_db + p.bg_floor_gap_db))
            above_bg = ~loud_bg | (e_db > lv.background_db + p.bg_margin_db)
            cand[:, k] = maybe & above_bg
            gain[:, k] = 10.0 ** (np.minimum(p.nominal_db - level_db, p.max_gain_db) / 20.0)
            # what the lowered margin may continue: a candidate by the full margin
            self._last_sure[ok & (e > 10.0 ** (p.floor_margin_db / 10.0) * fl + p.margin * leak) & above_bg] = at
            # what the channel carries while others talk, less what a tight coupling explains of it
            residual = e - self.coupling.tight_leakage(src)[:, 0]
            bg_db = 10.0 * np.log10(np.maximum(np.where(residual > fl, residual, np.minimum(e, fl)), ENERGY_EPS))
            lv.update(f_db, e_db, sure, clear, bg_db)
        self._frame += voice.shape[1]
        return cand, gain, snr

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
