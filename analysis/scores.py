"""Attention and engagement scores (0..1) that a manager can explain: each is a weighted mean of named
components in 0..1, reported with the components and the weights used (docs/metrics.md).

Attention: ``presence`` (share of the meeting present), ``camera`` (share of their presence with the
camera on), ``responsiveness`` (roll calls answered of those asked while present; left out when there
were none, the other weights scaled up), ``interaction`` (chat, reactions and hands: 3 or more is full),
``speaking`` (1 if they spoke at all).

Engagement: ``talk`` (their talk share against an equal share, capped at 1), ``spread`` (of the four
quarters of their time in the meeting, the share in which they spoke or interacted), ``nonverbal`` (as
``interaction``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

ATTENTION_WEIGHTS = {"presence": 0.35, "camera": 0.2, "responsiveness": 0.2, "interaction": 0.15, "speaking": 0.1}
ENGAGEMENT_WEIGHTS = {"talk": 0.6, "spread": 0.2, "nonverbal": 0.2}
NONVERBAL_FULL = 3  # chat messages + reactions + hand raises that make the interaction component full
QUARTERS = 4


def weighted(components: Mapping[str, float | None], weights: Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """The weighted mean over the components that apply (not None), and the weights it used (summing to 1)."""
    used = {k: w for k, w in weights.items() if components.get(k) is not None}
    total = sum(used.values())
    used = {k: round(w / total, 4) for k, w in used.items()}
    score = sum(used[k] * float(components[k]) for k in used)  # type: ignore[arg-type]
    return min(1.0, max(0.0, score)), used


def attention(presence_share: float, camera_share: float | None, responsiveness: float | None, actions: int | None,
              spoke: bool) -> tuple[float, dict[str, float | None], dict[str, float]]:
    """The attention score, its components as reported (rounded to 3 decimals; shares capped at 1) and
    the weights used. The report and reconciliation both score attention here, each with its presence. A
    component its transport cannot observe (camera, or every non-verbal action: None) is left out, the
    other weights scaled up, as a roll call never asked is."""
    comps = {"presence_share": round(min(1.0, presence_share), 3),
             "camera_share": None if camera_share is None else round(min(1.0, camera_share), 3),
             "responsiveness": None if responsiveness is None else round(responsiveness, 3),
             "interaction": None if actions is None else round(interaction(actions), 3),
             "speaking": 1.0 if spoke else 0.0}
    score, weights = weighted({"presence": comps["presence_share"], "camera": comps["camera_share"],
                               "responsiveness": comps["responsiveness"], "interaction": comps["interaction"],
                               "speaking": comps["speaking"]}, ATTENTION_WEIGHTS)
    return score, comps, weights


def interaction(actions: int) -> float:
    return min(1.0, actions / NONVERBAL_FULL)


def spread(presence: np.ndarray | Sequence[Sequence[float]], activity: Iterable[float]) -> float:
    """Share of the quarters of [first join, last leave] with some activity (a turn's start, a chat, a
    reaction, a hand raised)."""
    p = np.asarray(presence, dtype=float).reshape(-1, 2)
    if len(p) == 0 or p[-1, 1] <= p[0, 0]:
        return 0.0
    lo, hi = p[0, 0], p[-1, 1]
    bins = {min(QUARTERS - 1, int((t - lo) / (hi - lo) * QUARTERS)) for t in activity if lo <= t <= hi}
    return len(bins) / QUARTERS
