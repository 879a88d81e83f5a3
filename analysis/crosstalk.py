"""Cross-channel gating: learned acoustic coupling between participants' microphones.

When two participants share a room (or one's speaker leaks into the other's microphone), channel ``i``
carries a delayed, attenuated, room-filtered copy of participant ``j``'s voice. For every ordered pair we
learn the coupling gain ``g_ij`` (energy of ``i`` / energy of ``j``) online, from frames where ``j``
clearly talks (an own-voice candidate at least ``clear_db`` above ``j``'s noise floor) and ``j``'s channel
is the louder of the two, as the low ``quantile`` of the per-frame ratio ``E_i / E_j``. On those frames
``i`` is usually silent, so the ratio is the coupling; frames where ``i`` talks over ``j`` give larger
ratios and fall in the upper part of the distribution, which the low quantile ignores. Channels that do
not share a room learn a ratio at their own noise floor, which then predicts nothing above the floor.
Couplings are capped at 1 (0 dB).

The predicted background of channel ``i`` at frame ``k`` is ``floor_i[k] + sum_j g_ij * spread(E_j)[k]``
(noise plus expected leakage). A frame is an own-voice candidate only if its energy exceeds that
background by ``margin_db``. Real overlap passes: a participant talking over another is far above the
leakage predicted from the other's channel (a close microphone picks up its own talker 20-40 dB above
anyone else). The statistics are a histogram of ratios in 1 dB bins with a weak prior, halved whenever
it holds more than ``cap`` counts, so the estimate follows changes (someone moves) and depends only on
the media, not on how it was delivered.

A pair is **tight** when its ratios stay within ``tight_db`` (interquartile) over at least
``tight_count`` frames: one voice reaching another microphone through the air keeps a steady ratio (a
few dB), while a noise that merely coincides with someone's talk (babble, a fan's rumble) spreads with
its own level (10 dB and more). What tight pairs predict is leakage for sure; the gate does not count
it as the channel's background.
"""
from __future__ import annotations

import numpy as np

BIN_LO_DB = -90.0
N_BINS = 131  # -90 .. +40 dB in 1 dB bins


class CouplingModel:
    def __init__(self, quantile: float, prior_db: float, prior_weight: float, cap: float, tight_db: float,
                 tight_count: float) -> None:
        self.quantile = quantile
        self.prior_db = prior_db
        self.prior_weight = prior_weight
        self.cap = cap
        self.tight_db, self.tight_count = tight_db, tight_count
        self.keys: list[str] = []
        self.hist = np.zeros((0, 0, N_BINS))
        self.gain = np.zeros((0, 0))  # linear, diagonal 0
        self.tight_gain = np.zeros((0, 0))  # the gains of tight pairs (an acoustic path), else 0

    def add_channel(self, key: str) -> None:
        n = len(self.keys)
        hist = np.zeros((n + 1, n + 1, N_BINS))
        hist[:n, :n] = self.hist
        prior_bin = int(np.clip(round(self.prior_db - BIN_LO_DB), 0, N_BINS - 1))
        hist[n, :, prior_bin] += self.prior_weight
        hist[:, n, prior_bin] += self.prior_weight
        hist[n, n] = 0.0
        self.hist = hist
        self.keys.append(key)
        self._refresh()

    def _refresh(self) -> None:
        c = np.cumsum(self.hist, axis=2)
        tot = c[:, :, -1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = c / tot
        # first bin where the cumulative fraction reaches the quantile (bin centre)
        b = np.argmax(frac >= self.quantile, axis=2)
        db = BIN_LO_DB + b + 0.5
        g = 10.0 ** (db / 10.0)
        g[tot[:, :, 0] <= 0] = 0.0
        np.minimum(g, 1.0, out=g)
        np.fill_diagonal(g, 0.0)
        self.gain = g
        # tight: the ratio stays within tight_db (interquartile) over enough frames, as a copy of one voice
        # in another microphone does; a noise that merely coincides with the talk spreads with its level
        spread = np.argmax(frac >= 0.75, axis=2) - np.argmax(frac >= 0.25, axis=2)
        self.tight_gain = np.where((spread <= self.tight_db) & (tot[:, :, 0] >= self.tight_count), g, 0.0)

    def leakage(self, spread: np.ndarray) -> np.ndarray:
        """Predicted leaked energy [C, n] from the other channels' spread energies [C, n]."""
        return self.gain @ spread

    def tight_leakage(self, spread: np.ndarray) -> np.ndarray:
        """The part of :meth:`leakage` that comes through tight pairs."""
        return self.tight_gain @ spread

    def update(self, energy: np.ndarray, present: np.ndarray, clear: np.ndarray,
               loudness: np.ndarray | None = None) -> bool:
        """Add per-frame ratios E_i / E_j for frames where j clearly talks, i is present and j is
        the louder of the two. A microphone does not hear another participant louder than that
        participant's own microphone does, so the louder channel of a shared sound is its source; this
        keeps a leaked copy of i in j's microphone from teaching a reversed coupling j->i, whatever the
        two noise floors are. Louder is judged on ``loudness`` (each energy relative to its channel's own
        speech level, so a microphone's gain does not decide it), else on the energies. Returns whether
        the model changed."""
        n = len(self.keys)
        if n < 2 or not clear.any():
            return False
        loud = energy if loudness is None else loudness
        # m[i, j, t]: frame t teaches the coupling of j into i
        m = clear[None, :, :] & present[:, None, :] & (loud[None, :, :] > loud[:, None, :])
        m[np.arange(n), np.arange(n)] = False
        ii, jj, tt = np.nonzero(m)
        if len(ii) == 0:
            return False
        e_db = 10.0 * np.log10(np.maximum(energy, 1e-10))
        ratio_db = e_db[ii, tt] - e_db[jj, tt]
        bins = np.clip(np.rint(ratio_db - BIN_LO_DB - 0.5).astype(np.int64), 0, N_BINS - 1)
        self.hist += np.bincount((ii * n + jj) * N_BINS + bins, minlength=n * n * N_BINS).reshape(n, n, N_BINS)
        full = self.hist.sum(axis=2) > self.cap
        self.hist[full] *= 0.5
        self._refresh()
        return True
