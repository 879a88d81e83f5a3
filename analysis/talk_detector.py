"""Talk-time detector: per-participant talk turns from each participant's own microphone stream.

Pipeline, per block of ``block_s`` of media time on the global frame grid (all participants together):

All energies are voice-band energies (above 300 Hz, from the native ingest).

1. Noise floor per channel (:mod:`analysis.vad`, minimum statistics over ``floor_window_s``).
2. Predicted background per channel = noise floor + leakage learned from the other channels
   (:mod:`analysis.crosstalk`). A frame is an own-voice candidate if its energy exceeds the background
   by ``margin_db`` and its full-band energy is not more than ``max_low_tilt_db`` above its voice-band
   energy (breath, handling noise and rumble sit below 300 Hz). Frames that are not candidates are
   silence and never reach webrtcvad.
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
from .vad import ChannelState, floors, spreads


@dataclass(frozen=True)
class TalkConfig:
    frame_ms: int = 30  # 10, 20 or 30: webrtcvad frame size; frame k starts at k*frame_ms/1000 s
    vad_mode: int = 3  # webrtcvad aggressiveness 0..3 (3: fewest false alarms; gating adds more safety)
    floor_window_s: float = 1.5  # noise floor = min energy over this window; a steady noise is absorbed within it
    margin_db: float = 5.0  # own voice must exceed noise floor + predicted leakage by this much
    max_low_tilt_db: float = 19.0  # full-band energy may exceed voice-band energy by at most this
    leak_spread_ms: int = 90  # leakage predicted from the other channel's max energy over this past window (delay+reverb)
    coupling_clear_db: float = 15.0  # frames of j this far above j's floor (and candidates) teach coupling into others
    coupling_quantile: float = 0.25  # low quantile of E_i/E_j on j's clear frames = coupling gain j->i
    coupling_prior_db: float = -30.0  # coupling assumed before anything is learned
    coupling_prior_weight: float = 3.0  # prior strength in frames: a few clear frames of a new pair override it
    coupling_cap: float = 3000.0  # histogram halves above this many counts (forgetting, ~1.5 min of talk)
    bridge_s: float = 0.6  # pauses shorter than this inside one person's speech count as talk
    min_voiced_s: float = 0.21  # turns with fewer voiced seconds than this are dropped (not a word)
    block_s: float = 1.92  # processing/learning block; latency <= block_s + bridge_s


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
        self.pending: list[tuple[np.ndarray, FrameBatch]] = []  # (channel of each row, frames)
        self._stream_map: tuple[object, int, np.ndarray] = (None, 0, np.zeros(0, dtype=np.int64))
        self.next_frame = 0  # all frames < next_frame are processed
        self.open: list[_Turn | None] = []
        self._talking: dict[str, bool] = {}

    # ---------------------------------------------------------------- input
    def push(self, batch: FrameBatch) -> None:
        """Queue a drain's frames (any participants). Cheap on purpose: it runs on every drain, and all
        checking happens once per block in _take (frames for time already decided are dropped there)."""
        table = self._channels_of(batch.keys)
        if len(batch.index) == 0:
            return
        if batch.pcm.shape[1] != self.frame_len:
            raise ValueError(f"frame length {batch.pcm.shape[1]} != {self.frame_len} ({self.cfg.frame_ms} ms)")
        self.pending.append((table[batch.stream], batch))

    def _channels_of(self, keys) -> np.ndarray:
        """Channel of each stream id of a batch; registers new participants. Cached for the keys list
        last seen (the pipeline passes the same list every time and only ever appends to it)."""
        seen, size, table = self._stream_map
        if keys is not seen or size != len(keys):
            table = np.array([self.index_of[k] if k in self.index_of else self._register(k) for k in keys],
                             dtype=np.int64)
            self._stream_map = (keys, len(keys), table)
        return table

    def _register(self, key: str) -> int:
        c = len(self.channels)
        self.channels.append(ChannelState(key, self.cfg.vad_mode, self.floor_frames, self.spread_frames))
        self.index_of[key] = c
        self.open.append(None)
        self._talking[key] = False
        self.coupling.add_channel(key)
        return c

    # ---------------------------------------------------------------- output
    def advance(self, until_index: int) -> list[SpeechSegment]:
        end = (int(until_index) // self.block) * self.block
        return self._process(end)

    def finish(self, end_index: int | None = None) -> list[SpeechSegment]:
        """Decide everything queued and close all turns. Frames at or after ``end_index`` (the meeting's
        end, when known) are dropped: audio stamped beyond the meeting is a clock error, not speech."""
        last = max([self.next_frame] + [int(b.index.max()) + 1 for _, b in self.pending])
        out = self._process(last if end_index is None else max(self.next_frame, min(last, end_index)))
        self.pending = []
        for c in range(len(self.channels)):
            t = self.open[c]
            self.open[c] = None
            seg = self._close(c, t)
            if seg is not None:
                out.append(seg)
            self._talking[self.channels[c].key] = False
        out.sort(key=lambda s: (s.start_s, s.key))
        return out

    @property
    def decided_s(self) -> float:
        """Media time up to which every frame has been decided (turns ending before it are final)."""
        return self.next_frame * self.dt

    def talking_now(self) -> dict[str, bool]:
        return dict(self._talking)

    def open_turn(self, key: str, *, even_short: bool = False) -> tuple[float, float] | None:
        """The provisional turn (start_s, end_s) decided so far, once it holds enough voice to be kept
        (or at all, with ``even_short``). It only grows until it becomes final with the same start."""
        c = self.index_of.get(key)
        t = self.open[c] if c is not None else None
        if t is None or (t.voiced < self.min_voiced and not even_short):
            return None
        return t.start * self.dt, t.end * self.dt

    # ---------------------------------------------------------------- core
    def _take(self, end: int) -> tuple[np.ndarray, FrameBatch] | None:
        """Pop the queued frames with index < end: (channel of each row, frames).
        Frames for time already decided are dropped, and of duplicates the first queued is kept."""
        if not self.pending:
            return None
        if len(self.pending) == 1:
            channel, b = self.pending[0]
        else:
            channel = np.concatenate([c for c, _ in self.pending])
            parts = [b for _, b in self.pending]
            b = FrameBatch(parts[0].keys, np.concatenate([p.stream for p in parts]),
                           np.concatenate([p.index for p in parts]), np.concatenate([p.pcm for p in parts]),
                           np.concatenate([p.energy for p in parts]), np.concatenate([p.voice_energy for p in parts]))
        self.pending = []
        keep = b.index >= self.next_frame
        key = channel * (1 << 40) + b.index
        _, first = np.unique(key, return_index=True)
        if len(first) < len(key):
            unique = np.zeros(len(key), dtype=bool)
            unique[first] = True
            keep &= unique
        take = keep & (b.index < end)
        later = keep & ~take
        if later.any():
            self.pending = [(channel[later], b.select(later))]
        if not take.any():
            return None
        return (channel, b) if take.all() else (channel[take], b.select(take))

    def _process(self, end: int) -> list[SpeechSegment]:
        """Decide frames [next_frame, end): everything that does not depend on the learned coupling
        (noise floors, leakage spread, the tilt check, turns) runs once over the whole range; only the
        leakage gate and coupling learning step block by block, in grid order."""
        start = self.next_frame
        C = len(self.channels)
        if end <= start:
            return []
        if C == 0:
            self.next_frame = end
            return []
        n = end - start
        full = np.zeros((C, n))
        voice = np.zeros((C, n))  # voice-band energy: what gating and coupling work on
        present = np.zeros((C, n), dtype=bool)
        rows = np.zeros((C, n), dtype=np.int64)
        taken = self._take(end)
        pcm = None
        if taken is not None:
            channel, b = taken
            pos = b.index - start
            full[channel, pos] = b.energy
            voice[channel, pos] = b.voice_energy
            present[channel, pos] = True
            rows[channel, pos] = np.arange(len(pos))
            pcm = memoryview(np.ascontiguousarray(b.pcm, dtype=np.int16)).cast("B")
        floor = floors(self.channels, voice, present)
        spread = spreads(self.channels, voice)
        # Own voice: clearly above noise and expected leakage in the voice band, and not a sound whose
        # energy sits almost all below 300 Hz (breath on the microphone, handling noise, rumble).
        plausible = present & (full <= self.max_tilt * voice)
        cand = np.zeros((C, n), dtype=bool)
        for b0 in range(0, n, self.block):
            b = slice(b0, min(b0 + self.block, n))
            e, fl, sp, ok = voice[:, b], floor[:, b], spread[:, b], plausible[:, b]
            cb = ok & (e > self.margin * (fl + self.coupling.leakage(sp)))
            # Learn from this block first, then gate again: a pair's first shared speech is already
            # judged with what it teaches (no leakage credited while the model catches up).
            if self.coupling.update(e, present[:, b], cb & (e > self.clear * fl)):
                cb = ok & (e > self.margin * (fl + self.coupling.leakage(sp)))
            cand[:, b] = cb
        out: list[SpeechSegment] = []
        for c, ch in enumerate(self.channels):
            voiced = np.zeros(n, dtype=bool)
            k = np.flatnonzero(cand[c])
            if len(k):
                voiced[k] = ch.vad_frames(pcm, rows[c, k], self.frame_bytes)
            out.extend(self._turns(c, voiced, start, end))
            self._talking[ch.key] = self.open_turn(ch.key) is not None
        self.next_frame = end
        out.sort(key=lambda seg: (seg.start_s, seg.key))
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
