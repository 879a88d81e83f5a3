"""Talk-time detector: per-participant talk turns from each participant's own microphone stream.

Pipeline, per block of ``block_s`` of media time on the global frame grid (all participants together):

1. Noise floor per channel (:mod:`analysis.vad`, minimum statistics over ``floor_window_s``).
2. Predicted background per channel = noise floor + leakage learned from the other channels
   (:mod:`analysis.crosstalk`). A frame is an own-voice candidate if its energy exceeds the background
   by ``margin_db``. Frames that are not candidates are silence and never reach webrtcvad.
3. webrtcvad (``vad_mode``) on the candidates: voiced frames.
4. Turns: voiced frames closer than ``bridge_s`` are one turn (pauses within a person's speech are
   talk time, as in human turn annotations); a turn ends with its last voiced frame;
   turns with less than ``min_voiced_s`` of voiced frames are dropped (clicks, coughs, stray leakage).

Blocks are aligned to the grid, so results depend only on the media, never on how frames were batched
or when advance() was called. Latency: up to one block plus ``bridge_s`` before a turn becomes final.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .crosstalk import CouplingModel
from .events import SpeechSegment
from .frames import FrameBatch, frame_len_for
from .vad import ChannelState


@dataclass(frozen=True)
class TalkConfig:
    frame_ms: int = 30  # 10, 20 or 30: webrtcvad frame size; frame k starts at k*frame_ms/1000 s
    vad_mode: int = 3  # webrtcvad aggressiveness 0..3 (3: fewest false alarms; gating adds more safety)
    floor_window_s: float = 1.5  # noise floor = min energy over this window; a steady noise is absorbed within it
    margin_db: float = 6.0  # own voice must exceed noise floor + predicted leakage by this much
    max_low_tilt_db: float = 19.0  # full-band energy may exceed voice-band (>300 Hz) energy by at most this
    leak_spread_ms: int = 90  # leakage predicted from the other channel's max energy over this past window (delay+reverb)
    coupling_clear_db: float = 15.0  # frames of j this far above j's floor (and candidates) teach coupling into others
    coupling_quantile: float = 0.25  # low quantile of E_i/E_j on j's clear frames = coupling gain j->i
    coupling_prior_db: float = -30.0  # coupling assumed before anything is learned
    coupling_prior_weight: float = 3.0  # prior strength in frames: a few clear frames of a new pair override it
    coupling_cap: float = 3000.0  # histogram halves above this many counts (forgetting, ~1.5 min of talk)
    bridge_s: float = 0.5  # pauses shorter than this inside one person's speech count as talk
    min_voiced_s: float = 0.21  # turns with fewer voiced seconds than this are dropped (not a word)
    block_s: float = 0.96  # processing/learning block; latency <= block_s + bridge_s


@dataclass
class _Turn:
    start: int  # first voiced frame index
    end: int  # one past the last voiced frame index
    voiced: int  # number of voiced frames


class TalkDetector:
    def __init__(self, config: TalkConfig | None = None) -> None:
        self.cfg = cfg = config or TalkConfig()
        self.frame_len = frame_len_for(cfg.frame_ms)
        self.frame_bytes = self.frame_len * 2
        self.dt = cfg.frame_ms / 1000.0
        fms = cfg.frame_ms
        self.block = max(1, int(round(cfg.block_s * 1000 / fms)))
        self.floor_frames = max(1, int(round(cfg.floor_window_s * 1000 / fms)))
        self.spread_frames = max(1, int(round(cfg.leak_spread_ms / fms)))
        self.bridge = int(round(cfg.bridge_s * 1000 / fms))
        self.min_voiced = int(np.ceil(cfg.min_voiced_s * 1000 / fms - 1e-9))
        self.margin = 10.0 ** (cfg.margin_db / 10.0)
        self.max_tilt = 10.0 ** (cfg.max_low_tilt_db / 10.0)
        self.clear = 10.0 ** (cfg.coupling_clear_db / 10.0)
        self.coupling = CouplingModel(cfg.coupling_quantile, cfg.coupling_prior_db,
                                      cfg.coupling_prior_weight, cfg.coupling_cap)
        self.channels: list[ChannelState] = []
        self.index_of: dict[str, int] = {}
        self.pending: list[list[FrameBatch]] = []
        self.next_frame = 0  # all frames < next_frame are processed
        self.max_seen = -1
        self.open: list[_Turn | None] = []
        self._talking: dict[str, bool] = {}

    # ---------------------------------------------------------------- input
    def push(self, batch: FrameBatch) -> None:
        if len(batch) == 0:
            if batch.participant not in self.index_of:
                self._register(batch.participant)
            return
        if batch.frame_len != self.frame_len:
            raise ValueError(f"frame length {batch.frame_len} != {self.frame_len} ({self.cfg.frame_ms} ms)")
        c = self.index_of.get(batch.participant)
        if c is None:
            c = self._register(batch.participant)
        idx = np.asarray(batch.index, dtype=np.int64)
        keep = idx >= self.next_frame  # frames for already-final time are late: dropped
        if not keep.all():
            batch = batch.select(keep)
            idx = batch.index
            if len(idx) == 0:
                return
        self.pending[c].append(batch)
        self.max_seen = max(self.max_seen, int(idx[-1]))

    def _register(self, key: str) -> int:
        c = len(self.channels)
        self.channels.append(ChannelState(key, self.cfg.vad_mode, self.floor_frames, self.spread_frames))
        self.index_of[key] = c
        self.pending.append([])
        self.open.append(None)
        self._talking[key] = False
        self.coupling.add_channel(key)
        return c

    # ---------------------------------------------------------------- output
    def advance(self, until_index: int) -> list[SpeechSegment]:
        end = (int(until_index) // self.block) * self.block
        return self._process(end, final=False)

    def finish(self) -> list[SpeechSegment]:
        end = max(self.next_frame, self.max_seen + 1)
        out = self._process(end, final=False)
        for c in range(len(self.channels)):
            t = self.open[c]
            self.open[c] = None
            seg = self._close(c, t)
            if seg is not None:
                out.append(seg)
            self._talking[self.channels[c].key] = False
        out.sort(key=lambda s: (s.start_s, s.key))
        return out

    def talking_now(self) -> dict[str, bool]:
        return dict(self._talking)

    def open_turn_start(self, key: str) -> float | None:
        c = self.index_of.get(key)
        if c is None or self.open[c] is None:
            return None
        return self.open[c].start * self.dt

    # ---------------------------------------------------------------- core
    def _gather(self, c: int, end: int):
        """Pop this channel's pending frames with index < end: (index, pcm bytes, energy, voice_energy)."""
        chunks = self.pending[c]
        if not chunks:
            return None
        b = FrameBatch.concat(chunks)
        take = b.index < end
        if not take.any():
            return None
        if take.all():
            self.pending[c] = []
        else:
            self.pending[c] = [b.select(~take)]
            b = b.select(take)
        idx = b.index.astype(np.int64)
        if len(idx) > 1 and not (np.diff(idx) > 0).all():  # duplicates: keep the first occurrence
            order = np.argsort(idx, kind="stable")
            first = np.concatenate([[True], np.diff(idx[order]) > 0])
            b = b.select(order[first])
            idx = b.index.astype(np.int64)
        pcm = np.ascontiguousarray(b.pcm, dtype=np.int16)
        return (idx, memoryview(pcm).cast("B"), np.asarray(b.energy, dtype=np.float64),
                np.asarray(b.voice_energy, dtype=np.float64))

    def _process(self, end: int, final: bool) -> list[SpeechSegment]:
        out: list[SpeechSegment] = []
        if end <= self.next_frame:
            return out
        C = len(self.channels)
        if C == 0:
            self.next_frame = end
            return out
        start = self.next_frame
        n = end - start
        data = [self._gather(c, end) for c in range(C)]
        B = self.block
        for b0 in range(start, end, B):
            b1 = min(b0 + B, end)
            nb = b1 - b0
            energy = np.zeros((C, nb))  # voice-band energy: what gating and coupling work on
            full = np.zeros((C, nb))
            present = np.zeros((C, nb), dtype=bool)
            rows = np.full((C, nb), -1, dtype=np.int64)
            for c, d in enumerate(data):
                if d is None:
                    continue
                idx = d[0]
                lo, hi = np.searchsorted(idx, [b0, b1])
                if hi > lo:
                    pos = idx[lo:hi] - b0
                    full[c, pos] = d[2][lo:hi]
                    energy[c, pos] = d[3][lo:hi]
                    present[c, pos] = True
                    rows[c, pos] = np.arange(lo, hi)
            floor = np.empty((C, nb))
            spread = np.empty((C, nb))
            for c, ch in enumerate(self.channels):
                floor[c] = ch.floor(energy[c], present[c])
                spread[c] = ch.spread(energy[c])
            # Own voice: clearly above noise and expected leakage in the voice band, and not a sound whose
            # energy sits almost all below 300 Hz (breath on the microphone, handling noise, rumble).
            plausible = present & (full <= self.max_tilt * energy)
            cand = plausible & (energy > self.margin * (floor + self.coupling.leakage(spread)))
            # Learn coupling from this block first, then gate again: a pair's first shared speech is
            # then already judged with what it teaches (no leakage credited while the model catches up).
            clear = cand & (energy > self.clear * floor)
            if self.coupling.update(energy, present, clear):
                cand = plausible & (energy > self.margin * (floor + self.coupling.leakage(spread)))
            voiced = np.zeros((C, nb), dtype=bool)
            for c in np.flatnonzero(cand.any(axis=1)).tolist():
                k = np.flatnonzero(cand[c])
                voiced[c, k] = self.channels[c].vad_frames(data[c][1], rows[c, k], self.frame_bytes)
            for c in range(C):
                out.extend(self._turns(c, voiced[c], b0, b1))
        self.next_frame = end
        for c, ch in enumerate(self.channels):
            t = self.open[c]
            self._talking[ch.key] = self.open[c] is not None  # an open turn: voice within the last bridge_s
        out.sort(key=lambda s: (s.start_s, s.key))
        return out

    def _turns(self, c: int, voiced: np.ndarray, b0: int, b1: int) -> list[SpeechSegment]:
        out = []
        t = self.open[c]
        if voiced.any():
            v = voiced.astype(np.int8)
            d = np.diff(np.concatenate([[0], v, [0]]))
            starts = np.flatnonzero(d == 1) + b0
            ends = np.flatnonzero(d == -1) + b0
            for s, e in zip(starts.tolist(), ends.tolist()):
                if t is not None and s - t.end < self.bridge:
                    t.end = e
                    t.voiced += e - s
                else:
                    seg = self._close(c, t)
                    if seg is not None:
                        out.append(seg)
                    t = _Turn(s, e, e - s)
        if t is not None and b1 - t.end >= self.bridge:
            seg = self._close(c, t)
            if seg is not None:
                out.append(seg)
            t = None
        self.open[c] = t
        return out

    def _close(self, c: int, t: _Turn | None) -> SpeechSegment | None:
        if t is None or t.voiced < self.min_voiced:
            return None
        return SpeechSegment(self.channels[c].key, t.start * self.dt, t.end * self.dt)
