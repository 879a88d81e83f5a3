"""Talk metrics from final speech segments: talk time, share, turns, monologues, overlaps, interruptions,
silence, balance and speaker switches. Pure and vectorised; definitions in docs/metrics.md.

Input: ``segments[key]`` = that participant's final ``SpeechSegment``s (talk turns, short pauses already
bridged by the talk detector), and the analysis window ``(start_s, end_s)`` (normally first join → meeting
end). Segments are clipped to the window.

Definitions (the defaults of ``TalkParams``)
- turn: one segment. ``turns`` counts them.
- backchannel: a turn shorter than ``backchannel_max_s`` (1.0 s), e.g. "mm-hmm", "yes".
- monologue: one uninterrupted turn; ``longest_monologue_s`` is the longest turn of the participant.
  Other people's backchannels during it do not split it (they are in other people's segments).
- overlap: time during which two or more participants talk. ``pair_overlap[a][b]``: time a and b both talk.
- interruption: B interrupts A with B's turn b when
    1. b starts while A is mid-turn (a.start < b.start < a.end),
    2. A had been speaking for at least ``floor_min_s`` (1.0 s) in that turn when b started,
    3. b is not a backchannel (b lasts at least ``backchannel_max_s``),
    4. B and A talk at the same time for at least ``overlap_min_s`` (0.5 s) from b.start.
  Each (b, A) pair counts once. ``yielded`` records whether A stopped before B (B took the floor).
- silence: time in the window when nobody talks.
- talk balance: 1 − normalised Gini of the talk times of the eligible participants (1 = equal, 0 = one
  person talked); None with fewer than two eligible participants or no talk at all.
- speaker switch: two consecutive non-backchannel turns (ordered by start) by different participants.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from analysis import presence as iv
from analysis.events import SpeechSegment


@dataclass(frozen=True)
class TalkParams:
    backchannel_max_s: float = 1.0
    floor_min_s: float = 1.0
    overlap_min_s: float = 0.5


@dataclass(frozen=True)
class Interruption:
    t: float  # when the interrupting turn started
    by: str  # who cut in
    of: str  # who was interrupted
    overlap_s: float  # how long both talked
    yielded: bool  # the interrupted person stopped first (the interrupter took the floor)


@dataclass
class ParticipantTalk:
    key: str
    talk_time_s: float = 0.0
    speaking_pct: float = 0.0
    turns: int = 0
    backchannels: int = 0
    longest_monologue_s: float = 0.0
    mean_turn_s: float = 0.0
    overlap_s: float = 0.0  # time this participant talked while someone else talked too
    interruptions_made: int = 0
    interrupted_by_others: int = 0


@dataclass
class TalkMetrics:
    window: tuple[float, float]
    participants: dict[str, ParticipantTalk]
    total_talk_s: float  # sum of the participants' talk times (overlaps counted per person)
    speech_s: float  # time anyone talks (union)
    overlap_s: float
    overlap_intervals: np.ndarray
    pair_overlap: dict[str, dict[str, float]]
    silence_s: float
    interruptions: list[Interruption]
    interruption_matrix: dict[str, dict[str, int]]  # matrix[by][of]
    talk_balance: float | None
    speaker_switches: int
    speaker_switches_per_min: float
    median_switch_gap_s: float | None  # response lag between different speakers; negative = overlap
    balance_keys: list[str] = field(default_factory=list)


def seg_array(segs: Iterable[SpeechSegment], window: tuple[float, float] | None = None) -> np.ndarray:
    """One participant's segments → sorted, non-overlapping ``[n, 2]`` array, clipped to ``window``.

    Turn boundaries are kept (touching turns are not merged: each is a turn); overlapping ones are merged.
    """
    arr = iv.as_array([(s.start_s, s.end_s) for s in segs])
    if window is not None and len(arr):
        arr = np.column_stack([np.maximum(arr[:, 0], window[0]), np.minimum(arr[:, 1], window[1])])
        arr = arr[arr[:, 1] > arr[:, 0]]
    if len(arr) > 1:
        arr = arr[np.argsort(arr[:, 0], kind="stable")]
        if (arr[1:, 0] < arr[:-1, 1]).any():
            merged = iv.union(arr)  # defensive: a detector should not emit overlapping turns
            return merged
    return arr


def gini(values: Sequence[float]) -> float:
    """Plain Gini coefficient (0 = equal; (n-1)/n = one holds everything). Values must be >= 0."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    if n == 0 or x.sum() <= 0:
        return 0.0
    cum = np.arange(1, n + 1)
    return float((2.0 * (cum * x).sum()) / (n * x.sum()) - (n + 1.0) / n)


def talk_balance(talk_times: Sequence[float]) -> float | None:
    """1 − normalised Gini (Gini × n/(n−1)): 1.0 when everyone talked equally, 0.0 when one person did all
    the talking. None for fewer than two participants or no talk."""
    n = len(talk_times)
    if n < 2 or float(np.sum(talk_times)) <= 0:
        return None
    g = gini(talk_times) * n / (n - 1)
    return float(min(1.0, max(0.0, 1.0 - g)))


def find_interruptions(arrays: Mapping[str, np.ndarray], params: TalkParams = TalkParams()) -> list[Interruption]:
    """All interruptions (see module docstring), ordered by time. ``arrays`` from ``seg_array``."""
    out: list[Interruption] = []
    keys = [k for k, a in arrays.items() if len(a)]
    for by in keys:
        b = arrays[by]
        b_dur = b[:, 1] - b[:, 0]
        cand = b_dur >= params.backchannel_max_s
        if not cand.any():
            continue
        b = b[cand]
        for of in keys:
            if of == by:
                continue
            a = arrays[of]
            i = np.searchsorted(a[:, 0], b[:, 0], side="left") - 1  # A's turn that started strictly before b
            ok = i >= 0
            ic = np.where(ok, i, 0)
            a_start, a_end = a[ic, 0], a[ic, 1]
            ok &= a_end > b[:, 0]  # A still talking when b starts
            ok &= (b[:, 0] - a_start) >= params.floor_min_s
            overlap = np.minimum(a_end, b[:, 1]) - b[:, 0]
            ok &= overlap >= params.overlap_min_s
            for j in np.flatnonzero(ok):
                out.append(Interruption(t=float(b[j, 0]), by=by, of=of, overlap_s=float(overlap[j]),
                                        yielded=bool(a_end[j] <= b[j, 1])))
    out.sort(key=lambda x: (x.t, x.by, x.of))
    return out


def compute_talk_metrics(
    segments: Mapping[str, Sequence[SpeechSegment]],
    window: tuple[float, float] | None = None,
    balance_keys: Iterable[str] | None = None,
    params: TalkParams = TalkParams(),
) -> TalkMetrics:
    """Compute all talk metrics.

    ``window``: (start_s, end_s) the analysis covers; default from the first segment start to the last end.
    ``balance_keys``: participants the talk balance is computed over (eligible: consented and present);
    participants without segments count with 0 s. Default: the keys of ``segments``.
    """
    if window is None:
        starts = [s.start_s for ss in segments.values() for s in ss]
        ends = [s.end_s for ss in segments.values() for s in ss]
        window = (min(starts), max(ends)) if starts else (0.0, 0.0)
    lo, hi = float(window[0]), float(window[1])
    arrays = {k: seg_array(v, (lo, hi)) for k, v in segments.items()}
    keys = list(arrays)

    per: dict[str, ParticipantTalk] = {}
    for k, a in arrays.items():
        d = a[:, 1] - a[:, 0]
        per[k] = ParticipantTalk(
            key=k, talk_time_s=float(d.sum()), turns=int(len(d)),
            backchannels=int((d < params.backchannel_max_s).sum()),
            longest_monologue_s=float(d.max()) if len(d) else 0.0,
            mean_turn_s=float(d.mean()) if len(d) else 0.0,
        )
    total_talk = sum(p.talk_time_s for p in per.values())
    for p in per.values():
        p.speaking_pct = 100.0 * p.talk_time_s / total_talk if total_talk > 0 else 0.0

    nonempty = [arrays[k] for k in keys if len(arrays[k])]
    overlap_iv = iv.depth_at_least(nonempty, 2) if len(nonempty) >= 2 else np.zeros((0, 2))
    overlap_s = float((overlap_iv[:, 1] - overlap_iv[:, 0]).sum())
    speech = iv.union(np.concatenate(nonempty)) if nonempty else np.zeros((0, 2))
    speech_s = float((speech[:, 1] - speech[:, 0]).sum())
    silence_s = max(0.0, (hi - lo) - speech_s)

    pair: dict[str, dict[str, float]] = {k: {} for k in keys}
    for ia, ka in enumerate(keys):
        for kb in keys[ia + 1:]:
            if len(arrays[ka]) and len(arrays[kb]):
                x = iv.total(iv.intersect(arrays[ka], arrays[kb]))
                if x > 0:
                    pair[ka][kb] = x
                    pair[kb][ka] = x
    for k in keys:  # own talk while anyone else talks
        if len(arrays[k]) and len(overlap_iv):
            per[k].overlap_s = iv.total(iv.intersect(arrays[k], overlap_iv))

    inter = find_interruptions(arrays, params)
    matrix: dict[str, dict[str, int]] = {k: {} for k in keys}
    for x in inter:
        matrix[x.by][x.of] = matrix[x.by].get(x.of, 0) + 1
        per[x.by].interruptions_made += 1
        per[x.of].interrupted_by_others += 1

    # speaker switches over non-backchannel turns ordered by start
    rows = [(a[:, 0], a[:, 1], np.full(len(a), i)) for i, a in enumerate(arrays.values()) if len(a)]
    switches, gap = 0, None
    if rows:
        st = np.concatenate([r[0] for r in rows])
        en = np.concatenate([r[1] for r in rows])
        who = np.concatenate([r[2] for r in rows])
        keep = (en - st) >= params.backchannel_max_s
        st, en, who = st[keep], en[keep], who[keep]
        order = np.argsort(st, kind="stable")
        st, en, who = st[order], en[order], who[order]
        sw = who[1:] != who[:-1]
        switches = int(sw.sum())
        if switches:
            gap = float(np.median(st[1:][sw] - en[:-1][sw]))
    minutes = (hi - lo) / 60.0

    bkeys = list(balance_keys) if balance_keys is not None else keys
    balance = talk_balance([per[k].talk_time_s if k in per else 0.0 for k in bkeys])

    return TalkMetrics(
        window=(lo, hi), participants=per, total_talk_s=total_talk, speech_s=speech_s,
        overlap_s=overlap_s, overlap_intervals=overlap_iv, pair_overlap=pair, silence_s=silence_s,
        interruptions=inter, interruption_matrix=matrix, talk_balance=balance,
        speaker_switches=switches, speaker_switches_per_min=switches / minutes if minutes > 0 else 0.0,
        median_switch_gap_s=gap, balance_keys=bkeys,
    )
