"""Each participant's own speech level, their background while others talk, and which channels carry a
participant at all: what makes the talk detector independent of how loud a microphone is.

Histograms of frame energies per channel (1 dB bins, halved when they hold more than ``cap`` counts, so
they follow a change of microphone or room):

- **speech level** ``L_c`` (full band) and ``Lv_c`` (voice band): the ``level_quantile`` of the channel's
  sure own-voice frames. ``L_c`` sets the gain that brings the channel to a nominal level before
  webrtcvad, whose own threshold is absolute (a quiet microphone would otherwise lose 20-100 % of its
  talk), and the "louder channel" test of the coupling model; ``Lv_c`` is what the gate compares the
  channel's floor and background with.
- **background while others talk** ``B_c`` (voice band): the median of the channel's energy on frames
  where another relevant participant clearly talks. People mostly take turns, so this is what the channel
  carries when its owner is silent but the room is not: babble, a television, a radio, heavy leakage.
- **relevance**: a channel whose speech level is more than ``range_db`` below the meeting's loud end
  (the loudest participant, or the second loudest of three or more) is not a participant's voice but
  background (a television 30 dB below the meeting; a microphone that quiet cannot be told from one).
  Its turns are not talk; the report says so. So is a channel whose speech level is below ``audible_db``
  (full band, dBFS): a few steps of 16-bit PCM, where a voice cannot be told from quantisation noise.

All of it is relative (ratios of energies on one channel, or between channels' own levels), so a gain
applied to a channel changes nothing. Frames are taken in grid order, so results do not depend on
batching.
"""
from __future__ import annotations

import numpy as np

BIN_LO_DB = -140.0
N_BINS = 150  # -140 .. +10 dB in 1 dB bins


def _bin(db: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(db - BIN_LO_DB).astype(np.int64), 0, N_BINS - 1)


def _quantile_db(hist: np.ndarray, q: float) -> np.ndarray:
    """Per row: the centre of the first bin where the cumulative share reaches ``q``."""
    c = np.cumsum(hist, axis=-1)
    tot = c[..., -1:]
    b = np.argmax((c >= q * tot) & (tot > 0), axis=-1)
    return BIN_LO_DB + b + 0.5


class ChannelLevels:
    def __init__(self, level_quantile: float, min_level: float, min_background: float, range_db: float,
                 audible_db: float, cap: float) -> None:
        self.level_quantile, self.min_level, self.min_background = level_quantile, min_level, min_background
        self.range_db, self.audible_db, self.cap = range_db, audible_db, cap
        self.level_hist = np.zeros((0, N_BINS))
        self.voice_hist = np.zeros((0, N_BINS))
        self.bg_hist = np.zeros((0, N_BINS))
        self.level_db = np.zeros(0)  # valid where has_level
        self.voice_level_db = np.zeros(0)  # valid where has_level
        self.background_db = np.zeros(0)  # valid where has_background
        self.has_level = np.zeros(0, dtype=bool)
        self.has_background = np.zeros(0, dtype=bool)
        self.relevant = np.zeros(0, dtype=bool)
        self.reference_db = np.inf  # the meeting's loud end

    def add_channel(self) -> None:
        self.level_hist = np.vstack([self.level_hist, np.zeros(N_BINS)])
        self.voice_hist = np.vstack([self.voice_hist, np.zeros(N_BINS)])
        self.bg_hist = np.vstack([self.bg_hist, np.zeros(N_BINS)])
        self._refresh()

    def _refresh(self) -> None:
        self.has_level = self.level_hist.sum(axis=1) >= self.min_level
        self.has_background = self.bg_hist.sum(axis=1) >= self.min_background
        self.level_db = _quantile_db(self.level_hist, self.level_quantile)
        self.voice_level_db = _quantile_db(self.voice_hist, self.level_quantile)
        self.background_db = _quantile_db(self.bg_hist, 0.5)
        levels = np.sort(self.level_db[self.has_level])[::-1]
        # the meeting's loud end: the loudest participant, or the second loudest of three or more (one hot
        # microphone does not push everyone else out)
        reference = levels[1] if len(levels) >= 3 else levels[0] if len(levels) else np.inf
        self.reference_db = float(reference)
        # without a level of its own yet, a channel counts: there is nothing to compare it with
        self.relevant = ~self.has_level | ((self.level_db >= reference - self.range_db)
                                           & (self.level_db >= self.audible_db))

    def update(self, full_db: np.ndarray, voice_db: np.ndarray, own: np.ndarray, clear: np.ndarray,
               background_db: np.ndarray) -> None:
        """One frame of every channel: certain own-voice frames teach speech levels (full band, as loudness
        is heard, and voice band); while another relevant channel clearly talks, every channel teaches its
        background (voice band, as the gate compares; a missing frame, silence, at the energy floor)."""
        changed = False
        for c in np.flatnonzero(own):
            self.level_hist[c, _bin(full_db[c])] += 1.0
            self.voice_hist[c, _bin(voice_db[c])] += 1.0
            changed = True
        talkers = clear & self.relevant
        if talkers.any():
            # every channel, sent or not: Zoom sends nothing for silence, and that silence is a sample too
            for c in range(len(talkers)):
                if (talkers & (np.arange(len(talkers)) != c)).any():
                    self.bg_hist[c, _bin(background_db[c])] += 1.0
                    changed = True
        if changed:
            for h in (self.level_hist, self.voice_hist, self.bg_hist):
                full = h.sum(axis=1) > self.cap
                h[full] *= 0.5
            self._refresh()
