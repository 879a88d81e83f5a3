"""Talk-time detector: per-participant talk turns from each participant's own microphone stream.

Frame by frame on the global frame grid (all participants together):

1. The energy gate (:mod:`analysis.energy_gate`): noise floor, leakage predicted from the other channels
   through the learned coupling (:mod:`analysis.crosstalk`), the low-frequency tilt check and speech-like
   background leave the frames that could be own voice, each with the gain that brings its channel's
   speech level (:mod:`analysis.levels`) to a nominal level. Frames that are not candidates are silence
   and never reach webrtcvad.
2. webrtcvad (``vad_mode``) on the candidates at that gain: voiced frames. Its own threshold is absolute;
   at the nominal level it does not depend on how loud the microphone is.
3. Turns: voiced frames closer than ``bridge_s`` are one turn (pauses within a person's speech are
   talk time, as in human turn annotations); a turn ends with its last voiced frame;
   turns with less than ``min_voiced_s`` of voiced frames are dropped (clicks, coughs, stray leakage), and
   so are turns of a channel that is background, not a participant (far below the meeting's level); those
   are counted in ``background_s``.

Every step depends only on the frames in grid order, so results never depend on how frames were batched
or when advance() was called; ``step_s`` only sets how often decisions are made. A turn is final
``bridge_s`` after its last voiced frame, plus up to one step.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import webrtcvad
from _webrtcvad import process as vad_frame  # Vad.is_speech without its per-call Python checks

from .energy_gate import EnergyGate, GateParams
from .events import SpeechSegment
from .reliability import ChannelStats
from .frames import SAMPLE_RATE, FrameBatch, frame_len_for


@dataclass(frozen=True)
class TalkConfig:
    frame_ms: int = 30  # 10, 20 or 30: webrtcvad frame size; frame k starts at k*frame_ms/1000 s
    vad_mode: int = 3  # webrtcvad aggressiveness 0..3 (3: fewest false alarms)
    floor_window_s: float = 1.5  # noise floor = min energy over this window; a steady noise is absorbed within it
    margin_db: float = 7.5  # sure own voice exceeds noise floor + predicted leakage by this much
    max_low_tilt_db: float = 19.0  # full-band energy may exceed voice-band energy by at most this
    leak_spread_ms: int = 90  # leakage predicted from the other channel's max energy over this past window (delay+reverb)
    coupling_clear_db: float = 15.0  # frames of j this far above j's floor (and sure) teach coupling into others
    coupling_quantile: float = 0.25  # low quantile of E_i/E_j on j's clear frames = coupling gain j->i
    coupling_prior_db: float = -30.0  # coupling assumed before anything is learned
    coupling_prior_weight: float = 2.5  # prior strength in frames: a few clear frames of a new pair override it
    coupling_cap: float = 3000.0  # histogram halves above this many counts (forgetting, ~1.5 min of talk)
    coupling_tight_db: float = 5.0  # a pair whose ratios spread less than this (interquartile) is an acoustic
    #   path (one voice in another microphone): what it predicts is leakage, not background
    # level independence (analysis.levels)
    level_quantile: float = 0.9  # a channel's speech level: this quantile of its sure own-voice frames' energies
    min_level_s: float = 0.6  # sure frames needed before a channel's level counts
    range_db: float = 24.0  # a channel this far below the meeting's loud end is background, not a participant,
    audible_db: float = -80.0  # ... and so is one whose speech level is below this (dBFS: a few steps of 16-bit PCM)
    level_cap_s: float = 60.0  # level and background histograms halve beyond this much (they follow changes)
    nominal_db: float = -17.0  # webrtcvad sees every channel with its speech level brought here (full band)
    max_gain_db: float = 70.0  # at most this much gain (digital silence stays silence)
    # stationary noise: the floor's margin, lowered where noise covers weak syllables (webrtcvad, at the
    # nominal level, separates steady noise itself), only to continue what was sure
    floor_margin_db: float = 5.0  # a candidate exceeds the floor by this much where speech stands well above it,
    floor_margin_low_db: float = 0.0  # ... by this much where the channel's speech is only snr_low_db above it
    snr_full_db: float = 35.0
    snr_low_db: float = 15.0
    hold_s: float = 0.6  # the lowered margin holds this long after a sure frame
    # speech-like background (babble, a television): measured while others talk
    min_background_s: float = 2.0  # frames of others' clear talk needed before a background counts
    bg_range_db: float = 28.0  # a background within this much of the channel's own speech level is loud,
    bg_floor_gap_db: float = 4.0  # ... if it stands this much above the steady floor (not steady noise);
    bg_margin_db: float = 4.0  # own voice then exceeds it by this much
    # turns
    bridge_s: float = 0.6  # pauses shorter than this inside one person's speech count as talk,
    bridge_low_snr_s: float = 0.8  # ... this where noise masks the weaker syllables (speech snr_low_db above the floor)
    min_voiced_s: float = 0.21  # turns with fewer voiced seconds than this are dropped (not a word)
    step_s: float = 0.24  # decide whenever this much media time is waiting: latency against CPU, same results

    def gate_params(self) -> GateParams:
        """The energy gate's parameters, in frames and energy ratios."""
        per_s = 1000.0 / self.frame_ms
        return GateParams(
            floor_frames=max(1, int(round(self.floor_window_s * per_s))),
            spread_frames=max(1, int(round(self.leak_spread_ms / self.frame_ms))),
            margin=10.0 ** (self.margin_db / 10.0), max_tilt=10.0 ** (self.max_low_tilt_db / 10.0),
            clear=10.0 ** (self.coupling_clear_db / 10.0), quantile=self.coupling_quantile,
            prior_db=self.coupling_prior_db, prior_weight=self.coupling_prior_weight, cap=self.coupling_cap,
            level_quantile=self.level_quantile, min_level=self.min_level_s * per_s,
            min_background=self.min_background_s * per_s, range_db=self.range_db, audible_db=self.audible_db,
            level_cap=self.level_cap_s * per_s, floor_margin_db=self.floor_margin_db,
            floor_margin_low_db=self.floor_margin_low_db, snr_full_db=self.snr_full_db,
            snr_low_db=self.snr_low_db, hold_frames=int(round(self.hold_s * per_s)),
            bg_margin_db=self.bg_margin_db, bg_range_db=self.bg_range_db, bg_floor_gap_db=self.bg_floor_gap_db,
            tight_db=self.coupling_tight_db,
            nominal_db=self.nominal_db, max_gain_db=self.max_gain_db)


_NO_ROWS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))


@dataclass
class _Turn:
    start: int  # first voiced frame index
    end: int  # one past the last voiced frame index
    voiced: int  # number of voiced frames
    bridge: int  # frames of silence that still continue it: from its last run's speech-to-floor ratio


class TalkDetector:
    def __init__(self, config: TalkConfig | None = None, gate: Callable[..., EnergyGate] = EnergyGate) -> None:
        """``gate`` builds the energy gate from its parameters: the numpy reference by default; the bot
        passes ``native.EnergyGate``, the same arithmetic in C++."""
        self.cfg = cfg = config or TalkConfig()
        self.frame_len = frame_len_for(cfg.frame_ms)
        self.frame_bytes = self.frame_len * 2
        self.dt = cfg.frame_ms / 1000.0
        fms = cfg.frame_ms
        self.step = max(1, int(round(cfg.step_s * 1000 / fms)))
        self.bridge_span = (cfg.bridge_low_snr_s * 1000 / fms, cfg.bridge_s * 1000 / fms)
        self.snr_span = (cfg.snr_low_db, cfg.snr_full_db)
        self.min_voiced = int(np.ceil(cfg.min_voiced_s * 1000 / fms - 1e-9))
        self.gate = gate(**asdict(cfg.gate_params()))
        self.keys: list[str] = []  # participant of each channel
        self.vads: list[webrtcvad.Vad] = []  # one each: webrtcvad keeps state from frame to frame
        self.index_of: dict[str, int] = {}
        self.pending: list[tuple[np.ndarray, FrameBatch, int]] = []  # per drain: channel of each row, frames, last index
        self._stream_map: tuple[object, int, np.ndarray] = (None, 0, np.zeros(0, dtype=np.int64))
        self.next_frame = 0  # all frames < next_frame are processed
        self.open: list[_Turn | None] = []
        self._talking: dict[str, bool] = {}
        self.background_s: dict[str, float] = {}  # speech-like audio not counted: the channel is background

    # ---------------------------------------------------------------- input
    def push(self, batch: FrameBatch) -> None:
        """Queue a drain's frames (any participants). Cheap on purpose: it runs on every drain; frames for
        time already decided, and duplicates, are sorted out when they are decided."""
        table = self._channels_of(batch.keys)
        if len(batch.index) == 0:
            return
        if batch.pcm.shape[1] != self.frame_len:
            raise ValueError(f"frame length {batch.pcm.shape[1]} != {self.frame_len} ({self.cfg.frame_ms} ms)")
        self.pending.append((table[batch.stream], batch, int(batch.index.max())))

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
        c = len(self.keys)
        self.keys.append(key)
        self.vads.append(webrtcvad.Vad(self.cfg.vad_mode))
        self.gate.add_channel()
        self.index_of[key] = c
        self.open.append(None)
        self._talking[key] = False
        self.background_s[key] = 0.0
        return c

    # ---------------------------------------------------------------- output
    def advance(self, until_index: int) -> list[SpeechSegment]:
        """Decide the frames before ``until_index`` (all final), once at least a step of them is waiting."""
        if int(until_index) - self.next_frame < self.step:
            return []
        return self._process(int(until_index))

    def finish(self, end_index: int | None = None) -> list[SpeechSegment]:
        """Decide everything queued and close all turns. Frames at or after ``end_index`` (the meeting's
        end, when known) are dropped: audio stamped beyond the meeting is a clock error, not speech."""
        last = max([self.next_frame] + [q[2] + 1 for q in self.pending])
        out = self._process(last if end_index is None else max(self.next_frame, min(last, end_index)))
        self.pending = []
        relevant = self.gate.relevant().tolist()
        for c in range(len(self.keys)):
            self._close(c, self.open[c], out, relevant)
            self.open[c] = None
            self._talking[self.keys[c]] = False
        out.sort(key=lambda s: (s.start_s, s.key))
        return out

    @property
    def decided_s(self) -> float:
        """Media time up to which every frame has been decided (turns ending before it are final)."""
        return self.next_frame * self.dt

    def talking_now(self) -> dict[str, bool]:
        return dict(self._talking)

    def open_turn(self, key: str) -> tuple[float, float] | None:
        """The provisional turn (start_s, end_s) decided so far, once it holds enough voice to be kept.
        It only grows until it becomes final with the same start."""
        c = self.index_of.get(key)
        t = self.open[c] if c is not None else None
        if t is None or t.voiced < self.min_voiced or not self.gate.relevant()[c]:
            return None
        return t.start * self.dt, t.end * self.dt

    def channel_stats(self, key: str) -> ChannelStats | None:
        """What the detector measured of ``key``'s channel, for the reliability of its talk time."""
        c = self.index_of.get(key)
        if c is None:
            return None
        st = self.gate.stats()
        gains = self.gate.gains()[c]
        leak = max((10.0 * np.log10(g) for j, g in enumerate(gains) if j != c and g > 0), default=-np.inf)
        known = bool(st["has_level"][c])
        reference = float(st["reference_db"][0])
        return ChannelStats(
            snr_db=float(st["voice_level_db"][c] - st["floor_db"][c]) if known else None,
            below_meeting_db=float(reference - st["level_db"][c]) if known and np.isfinite(reference) else None,
            leak_db=float(leak), clipped_share=float(st["clipped"][c] / st["frames"][c]) if st["frames"][c] else 0.0,
            background_s=self.background_s[key])

    # ---------------------------------------------------------------- core
    def _queued(self) -> tuple[np.ndarray, FrameBatch] | None:
        """Everything queued, as one batch (channel of each row, frames), in the order it arrived."""
        if not self.pending:
            return None
        if len(self.pending) == 1:
            return self.pending[0][:2]
        parts = [q[1] for q in self.pending]
        return (np.concatenate([q[0] for q in self.pending]),
                FrameBatch(parts[0].keys, np.concatenate([p.stream for p in parts]),
                           np.concatenate([p.index for p in parts]), np.concatenate([p.pcm for p in parts]),
                           np.concatenate([p.energy for p in parts]), np.concatenate([p.voice_energy for p in parts])))

    def _process(self, end: int) -> list[SpeechSegment]:
        """Decide frames [next_frame, end): the energy gate, then webrtcvad and the turns, frame by frame
        over the gate's candidates only (a few per step: plain Python is cheaper there than numpy)."""
        start = self.next_frame
        if end <= start:
            return []
        if not self.keys:
            self.next_frame = end
            return []
        n = end - start
        queued = self._queued()
        # Batches with frames for later decisions stay queued; their rows decided here are ignored then.
        self.pending = [q for q in self.pending if q[2] >= end]
        out: list[SpeechSegment] = []
        if queued is None:
            self.gate.process(*_NO_ROWS, n, np.zeros((0, self.frame_len), dtype=np.int16))
            relevant = self.gate.relevant().tolist()
        else:
            channel, b = queued
            pos = b.index - start
            rows, frames, row_snr = self.gate.process(channel, pos, b.voice_energy, b.energy, n, b.pcm)
            relevant = self.gate.relevant().tolist()
            if len(rows):
                self._voice(channel[rows].tolist(), (pos[rows] + start).tolist(),
                            np.rint(np.interp(row_snr, self.snr_span, self.bridge_span)).astype(int).tolist(),
                            memoryview(frames).cast("B"), out, relevant)
        for c, t in enumerate(self.open):
            if t is not None and end - t.end >= t.bridge:
                self._close(c, t, out, relevant)
                self.open[c] = t = None
            self._talking[self.keys[c]] = t is not None and t.voiced >= self.min_voiced and relevant[c]
        self.next_frame = end
        out.sort(key=lambda seg: (seg.start_s, seg.key))
        return out

    def _voice(self, channels: list[int], frames: list[int], bridges: list[int], pcm: memoryview,
               out: list[SpeechSegment], relevant: list[bool]) -> None:
        """webrtcvad on each candidate frame (channel by channel in frame order: each keeps state) at the
        nominal level (its threshold is absolute); a voiced frame extends its channel's turn, or opens one.
        A run of voiced frames keeps the bridge of its first frame: pauses shorter than that continue it."""
        vads, fb, fl, rate = [v._vad for v in self.vads], self.frame_bytes, self.frame_len, SAMPLE_RATE
        for i, (c, f, bridge) in enumerate(zip(channels, frames, bridges)):
            if not vad_frame(vads[c], rate, pcm[i * fb:(i + 1) * fb], fl):
                continue
            t = self.open[c]
            if t is not None and t.end == f:  # the run goes on
                t.end += 1
                t.voiced += 1
            elif t is not None and f - t.end < t.bridge:  # a new run within the turn's bridge
                t.end, t.bridge = f + 1, bridge
                t.voiced += 1
            else:
                self._close(c, t, out, relevant)
                self.open[c] = _Turn(f, f + 1, 1, bridge)

    def _close(self, c: int, t: _Turn | None, out: list[SpeechSegment], relevant: list[bool]) -> None:
        """A turn ends: talk if it holds enough voice and its channel carries a participant (not
        background far below the meeting, which is counted apart)."""
        if t is None or t.voiced < self.min_voiced:
            return
        if relevant[c]:
            out.append(SpeechSegment(self.keys[c], t.start * self.dt, t.end * self.dt))
        else:
            self.background_s[self.keys[c]] += (t.end - t.start) * self.dt
