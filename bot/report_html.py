"""Render a meeting ``Report`` as one self-contained HTML page: inline CSS and inline SVG, no scripts, no
external resources.

Layout: header with meeting totals (cards) and a few plain-language highlights; a timeline (one row per
participant: presence band, talk turns, camera strip, screen share, chat / hand / reaction markers, plus
meeting-level "anyone talking" and "overlap" rows and overlap bands across every row); the per-participant
table with a totals row; how the scores are computed; who cut in on whom; chat; transcript. Hover titles
explain every mark and every score. Geometry scales with the number of participants.

The markup lives in Jinja templates (``bot/templates``) and the stylesheet in ``bot/static/report.css``,
inlined so the page opens from disk. This module only decides what to show: it hands the templates plain
values (text, numbers, the timeline's geometry) and the templates escape every one of them on output, so
user text (names, topic, chat, transcript, emoji) can never become markup.
"""
from __future__ import annotations

import colorsys
from html import escape
from pathlib import Path
from typing import NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from analysis.reliability import Doubt
from analysis.report import ParticipantReport, Report
from analysis.transcript_coverage import REASON_TEXT, AsrDrop, AsrSummary, DropReason

_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
            "#ff9da7", "#3b8bc2", "#86bc86", "#d37295"]
_TICK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800]

# marks (shared by the timeline and its legend)
_CAMERA = "#2f855a"
_SHARE = "#6b46c1"
_CHAT = "#2b6cb0"
_HAND = "#f0a202"
_HAND_STROKE = "#8a5d00"
_OVERLAP = "#d9534f"
_OPTOUT = "#c9ced6"
_CUTIN = "#8a2b27"

# timeline geometry (px); the SVG scales down with the page (viewBox), e.g. when printed
_W = 1160
_LABEL_W = 200
_GUTTER = 58  # right-hand column: each participant's share of talk
_X0, _X1 = _LABEL_W + 8, _W - _GUTTER


def _escape(value: object) -> Markup:
    """What every ``{{ … }}`` prints: markup the templates built passes through; anything else is text,
    escaped as ``html.escape`` does (``&quot;``, ``&#x27;``: the entities the page has always had, which
    markupsafe spells differently); None prints nothing. Autoescape then leaves the result alone."""
    if hasattr(value, "__html__"):
        return value  # type: ignore[return-value]
    return Markup(escape("" if value is None else str(value), quote=True))


def colour(i: int) -> str:
    if i < len(_PALETTE):
        return _PALETTE[i]
    h = (i * 0.618033988749895) % 1.0
    r, g, b = colorsys.hls_to_rgb(h, 0.47, 0.55)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def fmt_dur(s: float | None, long: bool = False) -> str:
    if s is None:
        return "–"
    s = max(0.0, float(s))
    if s == 0 and not long:
        return "0 s"
    if s < 60 and not long:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    total = int(round(s))
    h, rem = divmod(total, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _clock(s: float, hours: bool) -> str:
    total = int(round(s))
    h, rem = divmod(total, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if hours else f"{m}:{sec:02d}"


def _pct(x: float | None, nd: int = 0) -> str:
    return "–" if x is None else f"{x * 100:.{nd}f}%"


def _share_pct(pct: float | None) -> str:
    """A share in percent (0..100) as text; a small but non-zero share reads "<1%", not "0%"."""
    if pct is None:
        return "–"
    return "<1%" if 0 < pct < 0.5 else f"{pct:.0f}%"


def _trunc(s: str, n: int) -> str:
    return s if len(s) <= n else s[: max(1, n - 1)].rstrip() + "…"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _names_list(names: list[str], limit: int = 4) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                   finalize=_escape, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                   keep_trailing_newline=True)
_ENV.filters.update(px=lambda v: f"{v:.1f}", dur=fmt_dur, pct=_pct, plural=_plural)
_ENV.globals.update(mark={"camera": _CAMERA, "share": _SHARE, "chat": _CHAT, "hand": _HAND,
                          "hand_stroke": _HAND_STROKE, "overlap": _OVERLAP, "optout": _OPTOUT, "cutin": _CUTIN})
# our own stylesheet, not user input: printed as it is (escaping would break selectors such as ``.two>*``)
_CSS = Markup((Path(__file__).parent / "static" / "report.css").read_text(encoding="utf-8"))


# ------------------------------------------------------------------ timeline
class _Scale:
    def __init__(self, duration: float) -> None:
        self.d = max(duration, 1e-6)

    def x(self, t: float) -> float:
        t = min(max(t, 0.0), self.d)
        return _X0 + (_X1 - _X0) * t / self.d

    def w(self, a: float, b: float) -> float:
        return max(0.0, self.x(b) - self.x(a))


class _Bar(NamedTuple):
    """One ``<rect>`` of the timeline; ``attrs`` are extra (name, value) attributes such as a stroke."""
    x: float
    y: float
    w: float
    h: float
    fill: str
    title: str
    attrs: tuple[tuple[str, str], ...] = ()


def _bar(sc: _Scale, a: float, b: float, y: float, h: float, fill: str, title: str = "",
         attrs: tuple[tuple[str, str], ...] = ()) -> list[_Bar]:
    """The bar for ``a``..``b`` (as a list: none when it has no width); very short turns stay 1 px wide."""
    w = sc.w(a, b)
    return [_Bar(sc.x(a), y, max(w, 1.0), h, fill, title, attrs)] if w > 0 else []


def _geometry(n: int) -> tuple[int, int]:
    """(row height, bar height) for ``n`` participant rows: roomy for a small meeting, compact for 30+."""
    if n <= 12:
        return 30, 16
    if n <= 24:
        return 26, 14
    return 22, 12


def _tick_step(dur: float) -> float:
    return next((s for s in _TICK_STEPS if dur / s <= 10), _TICK_STEPS[-1])


def _talking_runs(parts: list[ParticipantReport]) -> list[tuple[float, float, tuple[str, ...]]]:
    """Stretches of constant "who is talking": (start, end, keys in roster order), empty sets left out."""
    order = {p.key: i for i, p in enumerate(parts)}
    bounds: list[tuple[float, int, str]] = []
    for p in parts:
        for s in p.speech:
            if s.end_s > s.start_s:
                bounds.append((s.start_s, 1, p.key))
                bounds.append((s.end_s, -1, p.key))
    bounds.sort(key=lambda b: (b[0], b[1]))
    active: dict[str, int] = {}
    runs: list[tuple[float, float, tuple[str, ...]]] = []
    prev_t = None
    i = 0
    while i < len(bounds):
        t = bounds[i][0]
        if prev_t is not None and t > prev_t and active:
            keys = tuple(sorted(active, key=order.__getitem__))
            if runs and runs[-1][2] == keys and abs(runs[-1][1] - prev_t) < 1e-9:
                runs[-1] = (runs[-1][0], t, keys)
            else:
                runs.append((prev_t, t, keys))
        while i < len(bounds) and bounds[i][0] == t:
            _, d, k = bounds[i]
            active[k] = active.get(k, 0) + d
            if active[k] <= 0:
                del active[k]
            i += 1
        prev_t = t
    return runs


def _ticks(sc: _Scale, dur: float, hours: bool) -> tuple[list[float], list[tuple[float, str, str]]]:
    """Minor tick positions, and major ticks as (x, clock label, text-anchor)."""
    step = _tick_step(dur)
    minor = step / 5 if step in (5, 10, 60, 300, 600, 3600) else step / 3 if step in (15, 900) else step / 2
    minors: list[float] = []
    t = 0.0
    while t <= dur + 1e-9:
        minors.append(sc.x(t))
        t += minor
    majors: list[tuple[float, str, str]] = []
    t = 0.0
    while t <= dur + 1e-9:
        x = sc.x(t)
        majors.append((x, _clock(t, hours), "end" if x > _X1 - 12 else "middle"))
        t += step
    return minors, majors


def _timeline_row(p: ParticipantReport, c: str, sc: _Scale, hours: bool, y: float, row_h: int, bar_h: int,
                  label_chars: int) -> dict:
    """One participant's row: label, bars and markers (only presence for someone who opted out)."""
    pad = (row_h - bar_h) / 2
    mid = y + row_h / 2
    bar_y = y + pad
    role = p.role if p.role in ("host", "cohost") else ""
    room = label_chars - (len(role) + 1 if role else 0) - (0 if p.consent else 2)
    row = {"key": p.key, "consent": p.consent, "colour": c, "mid": mid, "role": role,
           "label": _trunc(p.name, room),
           "tip": p.name + (f" ({role})" if role else "") + ("" if p.consent else " — opted out of analytics")}
    span = lambda a, b: f"{_clock(a, hours)}–{_clock(b, hours)}"  # noqa: E731
    if not p.consent:
        row["bars"] = [b for s in p.presence for b in _bar(
            sc, s.join_s, s.leave_s, bar_y, bar_h, "url(#optout)",
            f"{p.name}: present {span(s.join_s, s.leave_s)} (opted out: nothing else recorded)",
            (("stroke", _OPTOUT), ("stroke-width", "0.6")))]
        longest = max(p.presence, key=lambda s: s.leave_s - s.join_s, default=None)
        row["note_x"] = (sc.x(longest.join_s) + 8
                         if longest and sc.w(longest.join_s, longest.leave_s) > 210 else None)
        return row
    presence = (("fill-opacity", "0.18"), ("stroke", c), ("stroke-opacity", "0.45"), ("stroke-width", "0.8"))
    row["bars"] = (
        [b for s in p.presence for b in _bar(sc, s.join_s, s.leave_s, bar_y, bar_h, c,
                                             f"{p.name}: present {span(s.join_s, s.leave_s)}", presence)]
        + [b for s in p.speech for b in _bar(sc, s.start_s, s.end_s, bar_y, bar_h, c,
                                             f"{p.name} talking {span(s.start_s, s.end_s)}"
                                             f" ({s.end_s - s.start_s:.1f} s)")]
        + [b for s in p.camera for b in _bar(sc, s.start_s, s.end_s, bar_y + bar_h + 1.2, 2.6, _CAMERA,
                                             f"{p.name}: camera on {span(s.start_s, s.end_s)}")]
        + [b for s in p.share for b in _bar(sc, s.start_s, s.end_s, bar_y - 3.8, 2.6, _SHARE,
                                            f"{p.name}: sharing screen {span(s.start_s, s.end_s)}")])
    hh = min(4.0, bar_h / 2 - 1) + 0.8  # a hand's half width, a little over a chat dot's radius
    row["chats"] = [(sc.x(t), f"{p.name}: chat message at {_clock(t, hours)}") for t in p.chat_times]
    row["hands"] = [(f"M{sc.x(t) - hh:.1f},{mid + hh * 0.8:.1f} L{sc.x(t) + hh:.1f},{mid + hh * 0.8:.1f} "
                     f"L{sc.x(t):.1f},{mid - hh * 1.1:.1f} Z", f"{p.name}: raised hand at {_clock(t, hours)}")
                    for t in p.hand_raise_times]
    row["reactions"] = [(sc.x(ev.t), ev.emoji or "★",
                         f"{p.name}: reaction {ev.emoji or ''} at {_clock(ev.t, hours)}") for ev in p.reaction_events]
    row["share"] = _share_pct(p.speaking_pct)
    row["share_title"] = f"{p.name}: {fmt_dur(p.talk_time_s)} of talk"
    return row


def _timeline(r: Report, colours: dict[str, str]) -> dict:
    """The timeline's geometry: every position and every hover title, for templates/timeline.svg.j2."""
    dur = r.meeting.duration_s
    sc = _Scale(dur)
    hours = dur >= 3600
    parts: list[ParticipantReport] = r.participants
    n = len(parts)
    row_h, bar_h = _geometry(n)
    pad = (row_h - bar_h) / 2
    top_axis = n > 10  # a tall chart gets the time axis above the rows too
    y_sum = 30 if top_axis else 12  # first meeting-level row
    y_ov = y_sum + row_h
    y_rows = y_sum + 2 * row_h + 10  # first participant row
    y_end = y_rows + n * row_h
    axis_y = y_end + 4
    minors, majors = _ticks(sc, dur, hours)
    names = {p.key: p.name for p in parts}

    # stretches the bot could not see: shaded across every row
    gaps = [b for g in (r.observer.gaps if r.observer else []) for b in _bar(
        sc, g.start_s, g.end_s, y_sum - 2, y_end - y_sum + 2, "#9aa5b1",
        f"{_clock(g.start_s, hours)}–{_clock(g.end_s, hours)}: {_GAP_WHY.get(g.reason, g.reason)}",
        (("opacity", "0.18"),))]
    # who is talking, colours stacked when several talk at once
    talking = []
    for a, b, keys in _talking_runs([p for p in parts if p.consent]):
        h = bar_h / len(keys)
        tip = f"{_clock(a, hours)}–{_clock(b, hours)}: " + ", ".join(names[k] for k in keys)
        talking += [x for j, k in enumerate(keys) for x in _bar(sc, a, b, y_sum + pad + j * h, h, colours[k], tip)]
    ovs = r.meeting_metrics.overlap_intervals
    overlaps = [b for s in ovs for b in _bar(
        sc, s.start_s, s.end_s, y_ov + pad, bar_h, "url(#hatch)",
        f"overlap {_clock(s.start_s, hours)}–{_clock(s.end_s, hours)} ({s.end_s - s.start_s:.1f} s)",
        (("stroke", _OVERLAP), ("stroke-width", "0.6")))]

    label_chars = max(8, int((_LABEL_W - 26) / 7.0))
    rows = [_timeline_row(p, colours[p.key] if p.consent else _OPTOUT, sc, hours, y_rows + i * row_h, row_h, bar_h,
                          label_chars) for i, p in enumerate(parts)]

    # interruptions: a thin arrow at the moment of cutting in, from the interrupter's row to the interrupted's
    row_of = {p.key: i for i, p in enumerate(parts)}
    cutins = []
    for x in r.interruptions:
        if x.by not in row_of or x.of not in row_of or x.by == x.of:
            continue
        y1 = y_rows + row_of[x.by] * row_h + row_h / 2
        y2 = y_rows + row_of[x.of] * row_h + row_h / 2
        y2 += -pad if y2 > y1 else pad  # stop at the edge of the interrupted bar
        cutins.append((sc.x(x.t), y1, y2,
                       f"{_clock(x.t, hours)}: {names.get(x.by, x.by)} cut in on {names.get(x.of, x.of)}"
                       f" ({x.overlap_s:.1f} s overlap, {'took the floor' if x.yielded else 'talked over'})"))
    return {
        "width": _W, "height": axis_y + 30, "x0": _X0, "x1": _X1, "row_h": row_h,
        "bar_h": bar_h, "dot_r": min(4.0, bar_h / 2 - 1), "y_sum": y_sum, "y_ov": y_ov, "y_rows": y_rows,
        "y_end": y_end, "axis_y": axis_y, "top_axis": top_axis, "hours": hours,
        "zebra": [y_rows + i * row_h for i in range(1, n, 2)], "minor_ticks": minors, "major_ticks": majors,
        "gaps": gaps, "talking": talking, "overlaps": overlaps, "rows": rows,
        # overlap bands across every row, on top but faint, so a host can see who was talking over whom
        "bands": [(sc.x(s.start_s), max(sc.w(s.start_s, s.end_s), 1.0)) for s in ovs],
        "cutins": cutins, "faint": n > 12,
    }


def _legend(r: Report, colours: dict[str, str]) -> dict:
    marks = [("present", "in the meeting"), ("speaking", "talking"), ("camera", "camera on"),
             ("share", "sharing screen"), ("chat", "chat message"), ("hand", "hand raised"),
             ("overlap", "2+ talking at once"), ("band", "overlap, across all rows")]
    if r.interruptions:
        marks.append(("cutin", "interruption (from → to)"))
    if any(not p.consent for p in r.participants):
        marks.append(("optout", "opted out: presence only"))
    people = [{"name": p.name, "label": _trunc(p.name, 28), "consent": p.consent,
               "colour": colours[p.key] if p.consent else _OPTOUT} for p in r.participants]
    return {"marks": marks, "people": people}


# ------------------------------------------------------------------ participants table
class _Score(NamedTuple):
    value: str  # 0..100
    hue: int  # red (0) for 0 to green (120) for 100
    title: str


def _score(x: float | None, title: str) -> _Score | None:
    return None if x is None else _Score(f"{x * 100:.0f}", int(120 * max(0.0, min(1.0, x))), title)


def _attention_title(p: ParticipantReport) -> str:
    a = p.attention
    if a is None or p.attention_score is None:
        return ""
    w = a.weights
    return (f"Attention {p.attention_score * 100:.0f} = "
            f"{w.get('presence', 0):g} × presence {a.presence_share:.0%} (of the meeting)"
            + (f" + {w.get('camera', 0):g} × camera {a.camera_share:.0%} (of their time present)"
               if a.camera_share is not None else " (camera not observed)")
            + (f" + {w.get('interaction', 0):g} × interaction {'yes' if a.interaction else 'no'}"
               " (talked, chatted, reacted or raised a hand)" if a.interaction is not None
               else " (chat, reactions and hands not observed)"))


def _engagement_title(p: ParticipantReport) -> str:
    g = p.engagement
    if g is None or p.engagement_score is None:
        return ""
    w = g.weights
    return (f"Engagement {p.engagement_score * 100:.0f} = "
            f"{w.get('talk', 0):g} × talk {g.talk_component:.2f} (share {g.talk_share:.0%} vs equal share "
            f"{g.equal_share:.0%}, capped at 1)"
            + (f" + {w.get('nonverbal', 0):g} × non-verbal {g.nonverbal_component:.2f} "
               f"({g.nonverbal_actions} chat/reaction/hand actions)" if g.nonverbal_component is not None
               else " (chat, reactions and hands not observed)"))


def _table_row(p: ParticipantReport, c: str, dur: float, hours: bool) -> dict:
    sub = [_pct(p.present_s / dur if dur > 0 else 0.0)]
    if p.joins > 1:
        sub.append(f"{p.joins} joins")
    ptitle = f"first joined at {_clock(p.first_join_s, hours)}" if p.first_join_s is not None else "never joined"
    if p.present_s < dur and p.presence:
        ptitle += f", last left at {_clock(p.presence[-1].leave_s, hours)}"
    row = {"p": p, "colour": c, "role": p.role if p.role in ("host", "cohost") else "",
           "others": list(dict.fromkeys(h.name for h in p.name_history if h.name != p.name)),
           "present": fmt_dur(p.present_s), "present_sub": " · ".join(sub), "present_title": ptitle}
    if not p.consent:
        return row
    frac = None if p.speaking_pct is None else p.speaking_pct / 100.0
    doubt = None
    if p.talk_reliability is not None and not p.talk_reliability.reliable:
        doubt = "Doubtful: " + "; ".join(_DOUBT_WHY[d] for d in p.talk_reliability.doubts)
    row.update(
        camera=None if p.camera_on_s is None else (fmt_dur(p.camera_on_s),
                                                   _pct(p.camera_on_s / p.present_s if p.present_s else 0)),
        talk=fmt_dur(p.talk_time_s) if p.talk_time_s else None, doubt=doubt,
        # the share-of-talk bar: (width in %, text)
        share=None if frac is None else (f"{max(0.0, min(1.0, frac)) * 100:.1f}", _share_pct(frac * 100)),
        longest=fmt_dur(p.longest_monologue_s) if p.turns else None,
        attention=_score(p.attention_score, _attention_title(p)),
        engagement=_score(p.engagement_score, _engagement_title(p)))
    return row


def _table(r: Report, colours: dict[str, str]) -> dict:
    dur = r.meeting.duration_s
    hours = dur >= 3600
    mm = r.meeting_metrics
    cons = [p for p in r.participants if p.consent]

    def mean(vals: list[float | None]) -> str:
        v = [x for x in vals if x is not None]
        return "–" if not v else f"{sum(v) / len(v) * 100:.0f}"

    total = {
        "who_title": _plural(len(cons), "analysed participant"), "duration": fmt_dur(dur),
        "peak": mm.peak_present, "speech": fmt_dur(mm.speech_s), "talk": fmt_dur(mm.total_talk_s),
        "balance": "–" if mm.talk_balance is None else f"{mm.talk_balance:.2f}",
        "turns": sum(p.turns or 0 for p in cons),
        "longest": fmt_dur(max((p.longest_monologue_s or 0 for p in cons if p.turns), default=None)),
        "interruptions": mm.interruptions_total, "chat": mm.chat_messages, "hands": mm.hand_raises,
        "reactions": mm.reactions, "attention": mean([p.attention_score for p in cons]),
        "engagement": mean([p.engagement_score for p in cons]),
    }
    return {"rows": [_table_row(p, colours[p.key], dur, hours) for p in r.participants], "total": total}


def _score_weights(r: Report) -> dict | None:
    """The weights behind the scores, for the note that explains them (None: no scores in this report)."""
    aw = next((p.attention.weights for p in r.participants if p.attention), None)
    ew = next((p.engagement.weights for p in r.participants if p.engagement), None)
    return {"attention": aw, "engagement": ew} if aw or ew else None


# ------------------------------------------------------------------ interruptions, chat, transcript
def _matrix_cell(by: str, of: str, v: int, names: dict[str, str]) -> tuple[str, int, str]:
    """(kind, count, title): kind is diag (oneself), hot (cut in at least once) or zero."""
    if by == of:
        return "diag", 0, ""
    if v:
        return "hot", v, f"{names.get(by, by)} cut in on {names.get(of, of)} {_plural(v, 'time')}"
    return "zero", 0, ""


def _interruptions(r: Report, names: dict[str, str], colours: dict[str, str], hours: bool) -> dict | None:
    m = r.meeting_metrics.interruption_matrix
    ints = r.interruptions
    if not m and not ints:
        return None
    order = {p.key: i for i, p in enumerate(r.participants)}
    bys = sorted({b for b, row in m.items() if any(row.values())}, key=lambda k: order.get(k, 1 << 30))
    ofs = sorted({o for row in m.values() for o, v in row.items() if v}, key=lambda k: order.get(k, 1 << 30))
    matrix = None
    if bys and ofs:
        matrix = {
            "columns": [(names.get(k, k), _trunc(names.get(k, k), 16)) for k in ofs],
            "rows": [(names.get(b, b), colours.get(b, _OPTOUT), _trunc(names.get(b, b), 22),
                      [_matrix_cell(b, o, m.get(b, {}).get(o, 0), names) for o in ofs]) for b in bys],
        }
    limit = 60
    cuts = [(_clock(x.t, hours), names.get(x.by, x.by), names.get(x.of, x.of), f"{x.overlap_s:.1f}",
             "took the floor" if x.yielded else "talked over them") for x in ints[:limit]]
    return {"count": len(ints), "matrix": matrix, "cuts": cuts, "more": max(0, len(ints) - limit)}


def _chat(r: Report, names: dict[str, str], colours: dict[str, str], hours: bool) -> list[dict]:
    """Each message; ``to`` is None for a message to everyone, ``text`` None when it was not kept."""
    return [{"ts": _clock(m.t, hours), "colour": colours.get(m.sender, _OPTOUT),
             "sender": names.get(m.sender, m.sender), "to": None if m.to == "everyone" else names.get(m.to, m.to),
             "text": m.text} for m in r.chat]


def _transcript(r: Report, names: dict[str, str], colours: dict[str, str], hours: bool) -> dict | None:
    """The lines, with every stretch that was not transcribed in its place and why, under a coverage line."""
    drops = _merged_drops(r.asr.drops) if r.asr is not None else []
    if not r.transcript and not drops:
        return None
    rows = [(e.start_s, e.participant, {"text": e.text, "dropped": None}) for e in r.transcript]
    rows += [(a, who, {"text": None, "dropped": f"[{_clock(a, hours)}–{_clock(b, hours)} not transcribed: "
                                                f"{REASON_TEXT[reason]}]"}) for who, a, b, reason in drops]
    lines = [dict(body, ts=_clock(t, hours), colour=colours.get(who, _OPTOUT), who=names.get(who, who))
             for t, who, body in sorted(rows, key=lambda x: (x[0], x[1]))]
    return {"coverage": _coverage(r.asr), "lines": lines}


def _merged_drops(drops: list[AsrDrop]) -> list[tuple[str, float, float, DropReason]]:
    """A participant's consecutive drops for one reason as one stretch (pauses under 5 s joined)."""
    out: list[list] = []
    for d in sorted(drops, key=lambda d: (d.participant, d.reason.value, d.start_s)):
        last = out[-1] if out else None
        if last and last[0] == d.participant and last[3] is d.reason and d.start_s - last[2] < 5.0:
            last[2] = max(last[2], d.end_s)
        else:
            out.append([d.participant, d.start_s, d.end_s, d.reason])
    return [tuple(x) for x in out]


def _coverage(asr: AsrSummary | None) -> tuple[str, str] | None:
    """(CSS class, sentence): how much of the talk was transcribed, and why the rest was not."""
    if asr is None or asr.talk_s <= 0:
        return None
    dropped = sum(asr.dropped_s.values())
    why = ", ".join(f"{v:.0f} s {REASON_TEXT[DropReason(k)]}" for k, v in asr.dropped_s.items())
    text = (f"{asr.transcribed_s / asr.talk_s:.0%} of {asr.talk_s:.0f} s of talk transcribed"
            + (f"; not transcribed: {why}" if dropped else "")
            + (f"; {asr.uncovered_s:.0f} s unaccounted for" if asr.uncovered_s else "")
            + f" · {asr.model}")
    return ("cov" if dropped + asr.uncovered_s == 0 else "cov warn"), text


# ------------------------------------------------------------------ header
def _highlights(r: Report) -> list[tuple[str, str]]:
    """A few plain-language observations, each read straight off the report: (name in bold or "", text)."""
    cons = [p for p in r.participants if p.consent]
    present = [p for p in cons if p.present_s > 0]
    out: list[tuple[str, str]] = []
    talkers = sorted((p for p in cons if p.talk_time_s), key=lambda p: -(p.talk_time_s or 0))
    if talkers and r.meeting_metrics.total_talk_s > 0:
        top = talkers[0]
        out.append((top.name, f" talked most: {fmt_dur(top.talk_time_s)}, "
                              f"{top.speaking_pct or 0:.0f}% of all talk time."))
    quiet = [p.name for p in present if not p.turns]
    if quiet:
        if len(quiet) == len(present):
            out.append(("", "Nobody was heard talking."))
        else:
            out.append(("", f"{_plural(len(quiet), 'person', 'people')} never spoke: {_names_list(quiet)}."))
    longest = max((p for p in cons if p.turns), key=lambda p: p.longest_monologue_s or 0, default=None)
    if longest and (longest.longest_monologue_s or 0) >= 30:
        out.append(("", f"Longest single turn: {fmt_dur(longest.longest_monologue_s)} by {longest.name}."))
    nocam = [p.name for p in present if p.camera_on_s == 0]  # None: the camera was not observed
    if nocam and len(present) > 1:
        out.append(("", f"Camera never on: {_names_list(nocam)}."))
    late = [p for p in cons if p.first_join_s is not None and p.first_join_s >= max(120.0, 0.1 * r.meeting.duration_s)]
    if late:
        out.append(("", f"{_plural(len(late), 'late joiner')}: {_names_list([p.name for p in late])}."))
    n_opt = len(r.participants) - len(cons)
    if n_opt:
        out.append(("", f"{_plural(n_opt, 'participant')} opted out of analytics and {'is' if n_opt == 1 else 'are'} "
                        "shown with presence only."))
    return out


def _cards(r: Report) -> list[tuple[str, str, str]]:
    """The meeting totals at the top: (name, value, small print)."""
    mm = r.meeting_metrics
    names = {p.key: p.name for p in r.participants}
    win = mm.window.end_s - mm.window.start_s
    n_opt = sum(1 for p in r.participants if not p.consent)
    ints_by: dict[str, int] = {}
    for x in r.interruptions:
        ints_by[x.by] = ints_by.get(x.by, 0) + 1
    if ints_by:
        k = max(ints_by, key=ints_by.__getitem__)
        int_sub = f"most by {_trunc(names.get(k, k), 18)} ({ints_by[k]})"
    else:
        int_sub = "none detected"
    n_ov = len(mm.overlap_intervals)
    return [
        ("Participants", f"{mm.participants_total}",
         f"peak {mm.peak_present} at once" + (f" · {n_opt} opted out" if n_opt else "")),
        ("Talk balance", "–" if mm.talk_balance is None else f"{mm.talk_balance:.2f}",
         "needs 2+ people and some talk" if mm.talk_balance is None else "1 = all equal · 0 = one voice"),
        ("Overlap", fmt_dur(mm.overlap_s),
         f"{_plural(n_ov, 'stretch', 'stretches')} of 2+ talking" if n_ov else "nobody talked at once"),
        ("Silence", fmt_dur(mm.silence_s), (_pct(mm.silence_s / win) if win > 0 else "–") + " of the meeting"),
        ("Speaker switches", f"{mm.speaker_switches_per_min:.1f}/min", f"{mm.speaker_switches} in total"),
        ("Interruptions", f"{mm.interruptions_total}", int_sub),
        ("Non-verbal", " · ".join("–" if x is None else str(x) for x in (mm.chat_messages, mm.hand_raises, mm.reactions)),
         "chat · hands · reactions" + (" (not observed)" if mm.hand_raises is None else "")),
    ]


_DOUBT_WHY = {
    Doubt.NEAR_NOISE_FLOOR: "the voice is close to the microphone's noise",
    Doubt.QUIET_MICROPHONE: "the microphone is much quieter than the others'",
    Doubt.HEAVY_LEAKAGE: "the microphone picks up other participants loudly",
    Doubt.CLIPPING: "the microphone is overdriven (clipping)",
    Doubt.AUDIO_GAPS: "audio was missing for a large part of their time",
    Doubt.BACKGROUND_SPEECH: "speech far below the meeting's level (a TV or radio?) was heard and not counted",
}

_GAP_WHY = {
    "recording_not_permitted": "not recorded: the host had not allowed recording",
    "recording_revoked": "not recorded: the host took back the permission to record",
    "no_audio": "not recorded: Zoom delivered no audio",
    "reconnecting": "not observed: the bot was reconnecting",
    "waiting_room": "not observed: the bot was in the waiting room",
    "breakout": "breakout rooms: only the bot's own room was observed",
}


def _gaps_note(r: Report) -> dict | None:
    """What the bot could not see, said plainly: talk time there is not measured, not zero."""
    gaps = r.observer.gaps if r.observer else []
    if not gaps:
        return None
    hours = r.meeting.duration_s >= 3600
    heard = r.observer.audio_observed_s
    return {"heard": fmt_dur(heard, long=True) if heard is not None else "–",
            "stretches": [f"{_clock(g.start_s, hours)}–{_clock(g.end_s, hours)} {_GAP_WHY.get(g.reason, g.reason)}"
                      for g in gaps]}


def render_report_html(report: Report) -> str:
    r = report
    colours = {p.key: colour(i) for i, p in enumerate(r.participants)}
    names = {p.key: p.name for p in r.participants}
    hours = r.meeting.duration_s >= 3600
    return _ENV.get_template("report.html.j2").render(
        css=_CSS,
        topic=r.meeting.topic or "Meeting",
        started=r.meeting.started_at.replace("T", " ").replace("Z", " UTC"),
        duration=fmt_dur(r.meeting.duration_s, long=True),
        n_participants=len(r.participants),
        n_opted_out=sum(1 for p in r.participants if not p.consent),
        meeting_id=r.meeting.id,
        cards=_cards(r),
        gaps=_gaps_note(r),
        highlights=_highlights(r),
        timeline=_timeline(r, colours),
        legend=_legend(r, colours),
        table=_table(r, colours),
        scores=_score_weights(r),
        interruptions=_interruptions(r, names, colours, hours),
        chat=_chat(r, names, colours, hours),
        transcript=_transcript(r, names, colours, hours),
    )
