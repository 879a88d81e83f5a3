"""Interval arithmetic on media time: the one place the metrics, the live snapshot and the report reuse.

An interval set is a float64 numpy array of shape ``[n, 2]`` (start, end) in seconds from meeting start.
"Normalised" means sorted by start, non-overlapping, no empty intervals (adjacent intervals merged).
Every function accepts any iterable of (start, end) pairs and returns a normalised ``[n, 2]`` array
unless it says otherwise. Intervals are half-open ``[start, end)``; zero-length ones are dropped.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Intervals = np.ndarray  # float64 [n, 2]

_EMPTY = np.zeros((0, 2), dtype=np.float64)


def as_array(intervals: Iterable[Sequence[float]] | np.ndarray) -> np.ndarray:
    """(start, end) pairs → float64 ``[n, 2]``; drops pairs with end <= start. Does not sort or merge."""
    if isinstance(intervals, np.ndarray):
        arr = intervals.astype(np.float64, copy=False).reshape(-1, 2)
    else:
        lst = [(float(a), float(b)) for a, b in intervals]
        arr = np.asarray(lst, dtype=np.float64).reshape(-1, 2) if lst else _EMPTY.copy()
    return arr[arr[:, 1] > arr[:, 0]]


def union(intervals: Iterable[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Merge overlapping or touching intervals. Vectorised: O(n log n)."""
    arr = as_array(intervals)
    if len(arr) <= 1:
        return arr.copy()
    arr = arr[np.argsort(arr[:, 0], kind="stable")]
    starts, ends = arr[:, 0], np.maximum.accumulate(arr[:, 1])
    # a new block starts where the start lies beyond every earlier end
    new_block = np.empty(len(arr), dtype=bool)
    new_block[0] = True
    new_block[1:] = starts[1:] > ends[:-1]
    block_starts = np.flatnonzero(new_block)
    block_ends = np.r_[block_starts[1:] - 1, len(arr) - 1]
    return np.column_stack([starts[block_starts], ends[block_ends]])


def total(intervals: Iterable[Sequence[float]] | np.ndarray) -> float:
    """Covered length (overlaps counted once)."""
    u = union(intervals)
    return float((u[:, 1] - u[:, 0]).sum()) if len(u) else 0.0


def clip(intervals: Iterable[Sequence[float]] | np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Restrict to ``[lo, hi)``."""
    u = union(intervals)
    if len(u) == 0 or hi <= lo:
        return _EMPTY.copy()
    c = np.column_stack([np.maximum(u[:, 0], lo), np.minimum(u[:, 1], hi)])
    return c[c[:, 1] > c[:, 0]]


def intersect(a: Iterable[Sequence[float]] | np.ndarray, b: Iterable[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Time covered by both ``a`` and ``b``: coverage depth 2 of the two unions."""
    ua, ub = union(a), union(b)
    if len(ua) == 0 or len(ub) == 0:
        return _EMPTY.copy()
    return depth_at_least([ua, ub], 2)


def subtract(a: Iterable[Sequence[float]] | np.ndarray, b: Iterable[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Time covered by ``a`` but not by ``b``."""
    ua, ub = union(a), union(b)
    if len(ua) == 0 or len(ub) == 0:
        return ua
    # ``a`` counts +1, ``b`` counts -2: depth exactly 1 means in a and not in b
    return _sweep([(ua, 1), (ub, -2)], lambda d: d == 1)


def depth_at_least(sets: Sequence[Iterable[Sequence[float]] | np.ndarray], k: int) -> np.ndarray:
    """Time covered by at least ``k`` of the given interval sets (each set is unioned first)."""
    return _sweep([(union(s), 1) for s in sets], lambda d: d >= k)


def _sweep(weighted: Sequence[tuple[np.ndarray, int]], keep) -> np.ndarray:
    """Sweep line over boundary points; returns the normalised set where ``keep(depth)`` holds."""
    pts, deltas = [], []
    for arr, w in weighted:
        if len(arr):
            pts += [arr[:, 0], arr[:, 1]]
            deltas += [np.full(len(arr), w, dtype=np.int64), np.full(len(arr), -w, dtype=np.int64)]
    if not pts:
        return _EMPTY.copy()
    p = np.concatenate(pts)
    d = np.concatenate(deltas)
    order = np.argsort(p, kind="stable")
    p, d = p[order], d[order]
    # collapse equal boundary points so the depth between distinct points is well defined
    uniq, first = np.unique(p, return_index=True)
    dsum = np.add.reduceat(d, first)
    depth = np.cumsum(dsum)[:-1]  # depth on [uniq[i], uniq[i+1])
    mask = keep(depth)
    if not mask.any():
        return _EMPTY.copy()
    return union(np.column_stack([uniq[:-1][mask], uniq[1:][mask]]))


def peak(sets: Iterable[Iterable[Sequence[float]] | np.ndarray]) -> int:
    """Most intervals open at once across ``sets`` (one ending where another starts do not overlap)."""
    arrays = [a for a in (as_array(x) for x in sets) if len(a)]
    if not arrays:
        return 0
    p = np.concatenate([np.r_[a[:, 0], a[:, 1]] for a in arrays])
    d = np.concatenate([np.r_[np.ones(len(a)), -np.ones(len(a))] for a in arrays])
    order = np.lexsort((d, p))  # at equal times, ends (-1) before starts (+1)
    return int(np.cumsum(d[order]).max())


def contains(intervals: np.ndarray, t: float) -> bool:
    """Is ``t`` inside a normalised interval set (half-open)?"""
    if len(intervals) == 0:
        return False
    i = int(np.searchsorted(intervals[:, 0], t, side="right")) - 1
    return bool(i >= 0 and t < intervals[i, 1])


def to_pairs(intervals: np.ndarray) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in intervals]
