"""Render a meeting ``Report`` as one self-contained HTML page: inline CSS and inline SVG, no scripts, no
external resources. Every piece of user text (names, topic, chat, transcript, emoji) goes through
``html.escape``.

Layout: header with meeting totals (cards) and a few plain-language highlights; a timeline (one row per
participant: presence band, talk turns, camera strip, screen share, chat / hand / reaction markers, plus
meeting-level "anyone talking" and "overlap" rows and overlap bands across every row); the per-participant
table with a totals row; how the scores are computed; who cut in on whom; chat; transcript. Hover titles
explain every mark and every score. Geometry scales with the number of participants.
"""
from __future__ import annotations

import colorsys
from html import escape

from analysis.reliability import Doubt
from analysis.report import ParticipantReport, Report
from analysis.transcript_coverage import REASON_TEXT, AsrDrop, AsrSummary, DropReason

_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
            "#ff9da7", "#3b8bc2", "#86bc86", "#d37295"]
_TICK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800]
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

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


def _e(s: object) -> str:
    return escape("" if s is None else str(s), quote=True)


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


class _Scale:
    def __init__(self, duration: float) -> None:
        self.d = max(duration, 1e-6)

    def x(self, t: float) -> float:
        t = min(max(t, 0.0), self.d)
        return _X0 + (_X1 - _X0) * t / self.d

    def w(self, a: float, b: float) -> float:
        return max(0.0, self.x(b) - self.x(a))


def _rect(sc: _Scale, a: float, b: float, y: float, h: float, fill: str, extra: str = "", title: str = "") -> str:
    w = sc.w(a, b)
    if w <= 0:
        return ""
    w = max(w, 1.0)  # keep very short turns visible
    t = f"<title>{_e(title)}</title>" if title else ""
    return (f'<rect x="{sc.x(a):.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}" {extra}>'
            f'{t}</rect>')


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


def _icon(kind: str, c: str = "#4e79a7") -> str:
    """A small inline SVG that looks exactly like the timeline's mark of that kind (for the legend)."""
    body = {
        "present": f'<rect x="1" y="2" width="20" height="10" fill="{c}" fill-opacity="0.18" stroke="{c}" '
                   'stroke-opacity="0.45" stroke-width="0.8"/>',
        "speaking": f'<rect x="1" y="2" width="20" height="10" fill="{c}"/>',
        "camera": f'<rect x="1" y="5.5" width="20" height="3" fill="{_CAMERA}"/>',
        "share": f'<rect x="1" y="5.8" width="20" height="2.5" fill="{_SHARE}"/>',
        "chat": f'<circle cx="11" cy="7" r="4" fill="{_CHAT}" stroke="#fff" stroke-width="1.4"/>',
        "hand": f'<path d="M6.5,11 L15.5,11 L11,3 Z" fill="{_HAND}" stroke="{_HAND_STROKE}" stroke-width="0.7"/>',
        "overlap": f'<rect x="1" y="2" width="20" height="10" fill="url(#lg-hatch)" stroke="{_OVERLAP}" '
                   'stroke-width="0.6"/>',
        "cutin": f'<line x1="11" y1="12" x2="11" y2="3" stroke="{_CUTIN}" stroke-width="1.3" '
                 f'marker-end="url(#lg-cutin)"/><circle cx="11" cy="12" r="2" fill="{_CUTIN}"/>',
        "band": f'<rect x="7" y="0" width="8" height="14" fill="{_OVERLAP}" fill-opacity="0.16"/>',
        "optout": f'<rect x="1" y="2" width="20" height="10" fill="url(#lg-optout)" stroke="{_OPTOUT}" '
                  'stroke-width="0.6"/>',
        "swatch": f'<rect x="1" y="1" width="12" height="12" rx="2.5" fill="{c}"/>',
    }[kind]
    w = 14 if kind == "swatch" else 22
    return f'<svg class="ic" width="{w}" height="14" viewBox="0 0 {w} 14" aria-hidden="true">{body}</svg>'


_DEFS = (
    '<defs>'
    '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    f'<rect width="6" height="6" fill="#fbe3e3"/><line x1="0" y1="0" x2="0" y2="6" stroke="{_OVERLAP}" '
    'stroke-width="3"/></pattern>'
    '<pattern id="optout" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    f'<rect width="6" height="6" fill="#eef0f3"/><line x1="0" y1="0" x2="0" y2="6" stroke="{_OPTOUT}" '
    'stroke-width="2"/></pattern>'
    f'<marker id="cutin" viewBox="0 0 6 6" refX="5" refY="3" markerWidth="6" markerHeight="6" orient="auto">'
    f'<path d="M0,0 L6,3 L0,6 Z" fill="{_CUTIN}"/></marker>'
    '</defs>'
)


def _legend(r: Report, colours: dict[str, str]) -> str:
    # the legend's own (hidden) pattern defs, so its swatches match the timeline's hatching
    defs = ('<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
            '<pattern id="lg-hatch" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
            f'<rect width="5" height="5" fill="#fbe3e3"/><line x1="0" y1="0" x2="0" y2="5" stroke="{_OVERLAP}" '
            'stroke-width="2.5"/></pattern>'
            '<pattern id="lg-optout" width="5" height="5" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="5" height="5" fill="#eef0f3"/>'
            f'<line x1="0" y1="0" x2="0" y2="5" stroke="{_OPTOUT}" stroke-width="2"/></pattern>'
            '<marker id="lg-cutin" viewBox="0 0 6 6" refX="5" refY="3" markerWidth="6" markerHeight="6" '
            f'orient="auto"><path d="M0,0 L6,3 L0,6 Z" fill="{_CUTIN}"/></marker></defs></svg>')
    marks = [("present", "in the meeting"), ("speaking", "talking"), ("camera", "camera on"),
             ("share", "sharing screen"), ("chat", "chat message"), ("hand", "hand raised"),
             ("overlap", "2+ talking at once"), ("band", "overlap, across all rows")]
    if r.interruptions:
        marks.append(("cutin", "interruption (from → to)"))
    if any(not p.consent for p in r.participants):
        marks.append(("optout", "opted out: presence only"))
    items = [f"<span>{_icon(k)}{_e(label)}</span>" for k, label in marks]
    items.append("<span><span class='emo'>👍</span>reaction</span>")
    people = []
    for p in r.participants:
        extra = " <span class='muted'>(opted out)</span>" if not p.consent else ""
        people.append(f"<span class='who-chip{'' if p.consent else ' off'}' title='{_e(p.name)}'>"
                      f"{_icon('swatch', colours[p.key] if p.consent else _OPTOUT)}"
                      f"{_e(_trunc(p.name, 28))}{extra}</span>")
    return (f"<div class='legend'>{defs}<div class='marks'>{''.join(items)}</div>"
            f"<div class='people-key'><span class='lk'>Colours</span>{''.join(people)}</div></div>")


def _timeline(r: Report, colours: dict[str, str]) -> str:
    dur = r.meeting.duration_s
    sc = _Scale(dur)
    hours = dur >= 3600
    parts: list[ParticipantReport] = r.participants
    n = len(parts)
    row_h, bar_h = _geometry(n)
    pad = (row_h - bar_h) / 2
    top_axis = n > 10  # a tall chart gets the time axis above the rows too
    y_sum = 30 if top_axis else 12  # first meeting-level row
    sum_h = row_h
    y_rows = y_sum + 2 * sum_h + 10  # first participant row
    y_end = y_rows + n * row_h
    axis_y = y_end + 4
    height = axis_y + 30
    out: list[str] = [
        f'<svg class="timeline" font-family="{_FONT}" width="{_W}" height="{height}" '
        f'viewBox="0 0 {_W} {height}" role="img" aria-label="Meeting timeline: who was present and who talked when">',
        _DEFS,
    ]

    # zebra rows (behind everything)
    for i in range(n):
        if i % 2:
            out.append(f'<rect x="0" y="{y_rows + i * row_h}" width="{_W}" height="{row_h}" fill="#f6f7f9"/>')

    # grid, minor ticks and the time axis (below, and above for tall charts)
    step = _tick_step(dur)
    minor = step / 5 if step in (5, 10, 60, 300, 600, 3600) else step / 3 if step in (15, 900) else step / 2
    t = 0.0
    while t <= dur + 1e-9:
        x = sc.x(t)
        out.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 3}" stroke="#9aa5b1"/>')
        t += minor
    t = 0.0
    while t <= dur + 1e-9:
        x = sc.x(t)
        lab = _clock(t, hours)
        anchor = "end" if x > _X1 - 12 else "middle"
        out.append(f'<line x1="{x:.1f}" y1="{y_sum - 2}" x2="{x:.1f}" y2="{axis_y}" stroke="#e6e9ee"/>')
        out.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 6}" stroke="#7b8794"/>')
        out.append(f'<text x="{x:.1f}" y="{axis_y + 19}" fill="#52606d" font-size="11.5" '
                   f'text-anchor="{anchor}">{lab}</text>')
        if top_axis:
            out.append(f'<text x="{x:.1f}" y="{y_sum - 9}" fill="#52606d" font-size="11.5" '
                       f'text-anchor="{anchor}">{lab}</text>')
        t += step
    out.append(f'<line x1="{_X0}" y1="{axis_y}" x2="{_X1}" y2="{axis_y}" stroke="#7b8794"/>')
    out.append(f'<text x="10" y="{axis_y + 19}" fill="#7b8794" font-size="11">'
               f'time from start ({"h:mm:ss" if hours else "min:s"})</text>')
    out.append(f'<text x="{_W - 8}" y="{y_rows - 3}" fill="#7b8794" font-size="10.5" text-anchor="end">'
               '<title>Share of everybody\'s talk time</title>talk share</text>')

    # stretches the bot could not see: shaded across every row
    for g in (r.observer.gaps if r.observer else []):
        out.append(_rect(sc, g.start_s, g.end_s, y_sum - 2, y_end - y_sum + 2, "#9aa5b1", 'opacity="0.18"',
                         f"{_clock(g.start_s, hours)}–{_clock(g.end_s, hours)}: {_GAP_WHY.get(g.reason, g.reason)}"))

    # meeting-level rows: who is talking (colours stacked when several talk) and overlap stretches
    consented = [p for p in parts if p.consent]
    names = {p.key: p.name for p in parts}
    out.append(f'<text x="10" y="{y_sum + sum_h / 2 + 4.5:.1f}" fill="#1f2933" font-size="12.5" font-weight="600">'
               'Anyone talking</text>')
    by = y_sum + pad
    for a, b, keys in _talking_runs(consented):
        h = bar_h / len(keys)
        tip = f"{_clock(a, hours)}–{_clock(b, hours)}: " + ", ".join(names[k] for k in keys)
        for j, k in enumerate(keys):
            out.append(_rect(sc, a, b, by + j * h, h, colours[k], "", tip))
    y_ov = y_sum + sum_h
    ovs = r.meeting_metrics.overlap_intervals
    out.append(f'<text x="10" y="{y_ov + sum_h / 2 + 4.5:.1f}" fill="#a23b38" font-size="12.5" font-weight="600">'
               f'<title>Two or more people talking at the same time</title>Overlap '
               f'<tspan font-weight="400" font-size="11" fill="#7b8794">2+ at once</tspan></text>')
    for s in ovs:
        out.append(_rect(sc, s.start_s, s.end_s, y_ov + pad, bar_h, "url(#hatch)",
                         f'stroke="{_OVERLAP}" stroke-width="0.6"',
                         f"overlap {_clock(s.start_s, hours)}–{_clock(s.end_s, hours)}"
                         f" ({s.end_s - s.start_s:.1f} s)"))
    out.append(f'<line x1="0" y1="{y_rows - 5.5}" x2="{_W}" y2="{y_rows - 5.5}" stroke="#cfd5dc"/>')

    # participant rows
    label_chars = max(8, int((_LABEL_W - 26) / 7.0))
    for i, p in enumerate(parts):
        y = y_rows + i * row_h
        c = colours[p.key] if p.consent else _OPTOUT
        mid = y + row_h / 2
        bar_y = y + pad
        role = p.role if p.role in ("host", "cohost") else ""
        room = label_chars - (len(role) + 1 if role else 0) - (0 if p.consent else 2)
        label = _trunc(p.name, room)
        tip = p.name + (f" ({role})" if role else "") + ("" if p.consent else " — opted out of analytics")
        opt_attr = "" if p.consent else ' data-opted-out="true"'
        out.append(f'<g class="row" data-key="{_e(p.key)}"{opt_attr}>')
        out.append(f'<rect x="10" y="{mid - 5:.1f}" width="10" height="10" rx="2" '
                   f'fill="{c if p.consent else "url(#optout)"}" stroke="{c}" stroke-width="0.8"/>')
        role_t = f'<tspan fill="#2c5282" font-size="10" dx="5">{_e(role)}</tspan>' if role else ""
        style = "" if p.consent else ' font-style="italic"'
        out.append(f'<text x="26" y="{mid + 4.3:.1f}" fill="{"#1f2933" if p.consent else "#6b7785"}" '
                   f'font-size="12.5"{style}><title>{_e(tip)}</title>{_e(label)}{role_t}</text>')
        if not p.consent:
            for s in p.presence:
                out.append(_rect(sc, s.join_s, s.leave_s, bar_y, bar_h, "url(#optout)",
                                 f'stroke="{_OPTOUT}" stroke-width="0.6"',
                                 f"{p.name}: present {_clock(s.join_s, hours)}–{_clock(s.leave_s, hours)}"
                                 " (opted out: nothing else recorded)"))
            if p.presence:
                s = max(p.presence, key=lambda s: s.leave_s - s.join_s)
                if sc.w(s.join_s, s.leave_s) > 210:
                    out.append(f'<text x="{sc.x(s.join_s) + 8:.1f}" y="{mid + 4:.1f}" fill="#52606d" '
                               f'font-size="11" font-style="italic">opted out — presence only, not analysed</text>')
            out.append(f'<text x="{_W - 8}" y="{mid + 4:.1f}" fill="#9aa5b1" font-size="11.5" '
                       'text-anchor="end">–</text>')
            out.append("</g>")
            continue
        for s in p.presence:
            out.append(_rect(sc, s.join_s, s.leave_s, bar_y, bar_h, c,
                             f'fill-opacity="0.18" stroke="{c}" stroke-opacity="0.45" stroke-width="0.8"',
                             f"{p.name}: present {_clock(s.join_s, hours)}–{_clock(s.leave_s, hours)}"))
        for s in p.speech:
            out.append(_rect(sc, s.start_s, s.end_s, bar_y, bar_h, c, "",
                             f"{p.name} talking {_clock(s.start_s, hours)}–{_clock(s.end_s, hours)}"
                             f" ({s.end_s - s.start_s:.1f} s)"))
        for s in p.camera:
            out.append(_rect(sc, s.start_s, s.end_s, bar_y + bar_h + 1.2, 2.6, _CAMERA, "",
                             f"{p.name}: camera on {_clock(s.start_s, hours)}–{_clock(s.end_s, hours)}"))
        for s in p.share:
            out.append(_rect(sc, s.start_s, s.end_s, bar_y - 3.8, 2.6, _SHARE, "",
                             f"{p.name}: sharing screen {_clock(s.start_s, hours)}–{_clock(s.end_s, hours)}"))
        rm = min(4.0, bar_h / 2 - 1)
        for t in p.chat_times:
            out.append(f'<circle cx="{sc.x(t):.1f}" cy="{mid:.1f}" r="{rm:.1f}" fill="{_CHAT}" stroke="#fff" '
                       f'stroke-width="1.4"><title>{_e(p.name)}: chat message at {_clock(t, hours)}</title></circle>')
        for t in p.hand_raise_times:
            x = sc.x(t)
            hh = rm + 0.8
            out.append(f'<path d="M{x - hh:.1f},{mid + hh * 0.8:.1f} L{x + hh:.1f},{mid + hh * 0.8:.1f} '
                       f'L{x:.1f},{mid - hh * 1.1:.1f} Z" fill="{_HAND}" stroke="{_HAND_STROKE}" stroke-width="0.7">'
                       f'<title>{_e(p.name)}: raised hand at {_clock(t, hours)}</title></path>')
        for ev in p.reaction_events:
            out.append(f'<text x="{sc.x(ev.t):.1f}" y="{mid + bar_h * 0.32:.1f}" font-size="{bar_h - 2}" '
                       f'text-anchor="middle"><title>{_e(p.name)}: reaction {_e(ev.emoji)} at '
                       f'{_clock(ev.t, hours)}</title>{_e(ev.emoji or "★")}</text>')
        share = _share_pct(p.speaking_pct)
        out.append(f'<text x="{_W - 8}" y="{mid + 4:.1f}" fill="#3e4c59" font-size="11.5" text-anchor="end">'
                   f'<title>{_e(p.name)}: {_e(fmt_dur(p.talk_time_s))} of talk</title>{share}</text>')
        out.append("</g>")

    # overlap bands across every row, on top but faint, so a host can see who was talking over whom
    for s in ovs:
        w = max(sc.w(s.start_s, s.end_s), 1.0)
        out.append(f'<rect class="ovl" x="{sc.x(s.start_s):.1f}" y="{y_sum}" width="{w:.1f}" '
                   f'height="{y_end - y_sum}" fill="{_OVERLAP}" fill-opacity="0.13" pointer-events="none"/>')
    # interruptions: a thin arrow at the moment of cutting in, from the interrupter's row to the interrupted's
    row_of = {p.key: i for i, p in enumerate(parts)}
    faint = ' opacity="0.55"' if n > 12 else ""
    for x in r.interruptions:
        if x.by not in row_of or x.of not in row_of or x.by == x.of:
            continue
        cx = sc.x(x.t)
        y1 = y_rows + row_of[x.by] * row_h + row_h / 2
        y2 = y_rows + row_of[x.of] * row_h + row_h / 2
        y2 += -pad if y2 > y1 else pad  # stop at the edge of the interrupted bar
        tip = (f"{_clock(x.t, hours)}: {names.get(x.by, x.by)} cut in on {names.get(x.of, x.of)}"
               f" ({x.overlap_s:.1f} s overlap, {'took the floor' if x.yielded else 'talked over'})")
        out.append(f'<g class="cutin"{faint}><title>{_e(tip)}</title>'
                   f'<line x1="{cx:.1f}" y1="{y1:.1f}" x2="{cx:.1f}" y2="{y2:.1f}" stroke="{_CUTIN}" '
                   f'stroke-width="1.3" marker-end="url(#cutin)"/>'
                   f'<circle cx="{cx:.1f}" cy="{y1:.1f}" r="2.4" fill="{_CUTIN}"/></g>')
    out.append("</svg>")
    return "\n".join(x for x in out if x)


def _bar(frac: float | None, colour_: str) -> str:
    if frac is None:
        return '<span class="muted">–</span>'
    w = max(0.0, min(1.0, frac)) * 100
    return (f'<span class="bar"><span class="fill" style="width:{w:.1f}%;background:{colour_}"></span></span>'
            f'<span class="num">{_e(_share_pct(frac * 100))}</span>')


def _score(x: float | None, title: str) -> str:
    if x is None:
        return '<span class="muted">–</span>'
    hue = int(120 * max(0.0, min(1.0, x)))
    return (f'<span class="score" title="{_e(title)}" style="background:hsl({hue},55%,91%);'
            f'color:hsl({hue},65%,24%);border-color:hsl({hue},45%,78%)">{x * 100:.0f}</span>')


def _attention_title(p: ParticipantReport) -> str:
    a = p.attention
    if a is None or p.attention_score is None:
        return ""
    w = a.weights
    return (f"Attention {p.attention_score * 100:.0f} = "
            f"{w.get('presence', 0):g} × presence {a.presence_share:.0%} (of the meeting)"
            f" + {w.get('camera', 0):g} × camera {a.camera_share:.0%} (of their time present)"
            f" + {w.get('interaction', 0):g} × interaction {'yes' if a.interaction else 'no'}"
            " (talked, chatted, reacted or raised a hand)")


def _engagement_title(p: ParticipantReport) -> str:
    g = p.engagement
    if g is None or p.engagement_score is None:
        return ""
    w = g.weights
    return (f"Engagement {p.engagement_score * 100:.0f} = "
            f"{w.get('talk', 0):g} × talk {g.talk_component:.2f} (share {g.talk_share:.0%} vs equal share "
            f"{g.equal_share:.0%}, capped at 1)"
            f" + {w.get('nonverbal', 0):g} × non-verbal {g.nonverbal_component:.2f} "
            f"({g.nonverbal_actions} chat/reaction/hand actions)")


_HEAD = (
    "<tr class='grp'><th rowspan='2' class='who'>Participant</th>"
    "<th colspan='2' class='g'>Presence</th><th colspan='4' class='g'>Talk</th>"
    "<th colspan='2' class='g' title='Interruption: cutting in for 1 s or more while someone who held the floor "
    "keeps talking for at least 0.5 s'>Interruptions</th>"
    "<th colspan='3' class='g'>Non-verbal</th>"
    "<th colspan='2' class='g'>Scores <span class='muted'>0–100</span></th></tr>"
    "<tr>"
    "<th class='r' title='Time in the meeting, and share of the meeting'>In meeting</th>"
    "<th class='r' title='Time with the camera on, and share of their time in the meeting'>Camera on</th>"
    "<th class='r' title='Total length of their talk turns'>Talk time</th>"
    "<th title='Share of everybody&#39;s talk time'>Share of talk</th>"
    "<th class='r' title='Talk turns; in brackets the short ones (under 1 s: mm-hmm, yes)'>Turns</th>"
    "<th class='r' title='Their longest single turn'>Longest turn</th>"
    "<th class='r' title='Times they cut in on someone'>made</th>"
    "<th class='r' title='Times someone cut in on them'>received</th>"
    "<th class='r' title='Chat messages sent'>Chat</th>"
    "<th class='r' title='Hand raises'>Hands</th>"
    "<th class='r' title='Emoji reactions'>React.</th>"
    "<th class='c' title='Hover a score for how it was computed'>Attention</th>"
    "<th class='c' title='Hover a score for how it was computed'>Engagement</th></tr>"
)


def _table(r: Report, colours: dict[str, str]) -> str:
    dur = r.meeting.duration_s
    hours = dur >= 3600

    def num(v: object) -> str:
        if v is None:
            return '<span class="muted">–</span>'
        return '<span class="zero">0</span>' if v == 0 else _e(v)

    rows = []
    for p in r.participants:
        c = colours[p.key]
        role = f'<span class="role">{_e(p.role)}</span>' if p.role in ("host", "cohost") else ""
        opt = '<span class="badge">opted out</span>' if not p.consent else ""
        renamed = ""
        others = list(dict.fromkeys(h.name for h in p.name_history if h.name != p.name))
        if others:
            renamed = ('<div class="muted small">also shown as ' + ", ".join(_e(x) for x in others) + "</div>")
        pres_frac = p.present_s / dur if dur > 0 else 0.0
        sub = [_pct(pres_frac)]
        if p.joins > 1:
            sub.append(f"{p.joins} joins")
        ptitle = f"first joined at {_clock(p.first_join_s, hours)}" if p.first_join_s is not None else "never joined"
        if p.present_s < dur and p.presence:
            ptitle += f", last left at {_clock(p.presence[-1].leave_s, hours)}"
        present = (f'<td class="r" title="{_e(ptitle)}">{fmt_dur(p.present_s)}'
                   f'<div class="muted small">{" · ".join(sub)}</div></td>')
        sw = (f'<span class="sw" style="background:{c}"></span>' if p.consent
              else '<span class="sw off"></span>')
        who = (f'<td class="who" title="{_e(p.name)}">{sw}<span class="nm">{_e(p.name)}</span>'
               f'{role}{opt}{renamed}</td>')
        if not p.consent:
            rows.append(f'<tr class="optout">{who}{present}<td colspan="12" class="optnote">Opted out of '
                        "analytics — only presence is recorded; their audio, camera, chat and reactions were "
                        "not analysed.</td></tr>")
            continue
        cam = "–" if p.camera_on_s is None else (
            f"{fmt_dur(p.camera_on_s)}<div class='muted small'>"
            f"{_pct(p.camera_on_s / p.present_s if p.present_s else 0)}</div>")
        share = None if p.speaking_pct is None else p.speaking_pct / 100.0
        turns = num(p.turns)
        if p.turns and p.backchannels:
            turns += f"<div class='muted small'>{p.backchannels} short</div>"
        longest = (fmt_dur(p.longest_monologue_s) if p.turns else '<span class="muted">–</span>')
        talk = fmt_dur(p.talk_time_s) if p.talk_time_s else '<span class="zero">0 s</span>'
        if p.talk_reliability is not None and not p.talk_reliability.reliable:
            why = "; ".join(_DOUBT_WHY[d] for d in p.talk_reliability.doubts)
            talk += f' <span class="doubt" title="{_e("Doubtful: " + why)}">⚠</span>'
        rows.append(
            "<tr>"
            f"{who}{present}"
            f'<td class="r">{cam}</td>'
            f'<td class="r strong">{talk}</td>'
            f'<td class="share">{_bar(share, c)}</td>'
            f'<td class="r">{turns}</td>'
            f'<td class="r">{longest}</td>'
            f'<td class="r">{num(p.interruptions_made)}</td>'
            f'<td class="r">{num(p.interrupted_by_others)}</td>'
            f'<td class="r">{num(p.chat_messages)}</td>'
            f'<td class="r">{num(p.hand_raises)}</td>'
            f'<td class="r">{num(p.reactions)}</td>'
            f'<td class="c">{_score(p.attention_score, _attention_title(p))}</td>'
            f'<td class="c">{_score(p.engagement_score, _engagement_title(p))}</td></tr>')

    # meeting totals
    mm = r.meeting_metrics
    cons = [p for p in r.participants if p.consent]

    def mean(vals: list[float | None]) -> str:
        v = [x for x in vals if x is not None]
        return "–" if not v else f"{sum(v) / len(v) * 100:.0f}"

    turns_total = sum(p.turns or 0 for p in cons)
    foot = (
        "<tr class='tot'>"
        f"<td title='{_plural(len(cons), 'analysed participant')}'>Meeting total</td>"
        f"<td class='r'>{fmt_dur(dur)} <div class='muted small'>peak {mm.peak_present} at once</div></td>"
        "<td></td>"
        f"<td class='r' title='Sum of everybody&#39;s talk time; someone was talking for {_e(fmt_dur(mm.speech_s))}'>"
        f"{fmt_dur(mm.total_talk_s)}</td>"
        f"<td class='small muted'>balance {'–' if mm.talk_balance is None else f'{mm.talk_balance:.2f}'}</td>"
        f"<td class='r'>{turns_total}</td>"
        f"<td class='r'>{fmt_dur(max((p.longest_monologue_s or 0 for p in cons if p.turns), default=None))}</td>"
        f"<td class='r' colspan='2' title='Interruptions in the meeting'>{mm.interruptions_total}</td>"
        f"<td class='r'>{mm.chat_messages}</td><td class='r'>{mm.hand_raises}</td><td class='r'>{mm.reactions}</td>"
        f"<td class='c' title='Average over analysed participants'>avg {mean([p.attention_score for p in cons])}</td>"
        f"<td class='c' title='Average over analysed participants'>avg {mean([p.engagement_score for p in cons])}</td>"
        "</tr>")
    return (f'<div class="tablewrap"><table class="people"><thead>{_HEAD}</thead><tbody>{"".join(rows)}</tbody>'
            f'<tfoot>{foot}</tfoot></table></div>')


def _scores_note(r: Report) -> str:
    aw = next((p.attention.weights for p in r.participants if p.attention), None)
    ew = next((p.engagement.weights for p in r.participants if p.engagement), None)
    if not aw and not ew:
        return ""
    items = []
    if aw:
        items.append(
            f"<li><b>Attention</b> = {aw.get('presence', 0) * 100:.0f}% × time in the meeting (share of the whole "
            f"meeting) + {aw.get('camera', 0) * 100:.0f}% × camera on (share of their time present) + "
            f"{aw.get('interaction', 0) * 100:.0f}% × did they interact at all (talked, chatted, reacted or "
            "raised a hand).</li>")
    if ew:
        items.append(
            f"<li><b>Engagement</b> = {ew.get('talk', 0) * 100:.0f}% × talk, relative to an equal share "
            "(talking one's equal share or more counts fully) + "
            f"{ew.get('nonverbal', 0) * 100:.0f}% × chat, reactions and hands (3 or more count fully).</li>")
    return ("<div class='note'><b class='nh'>How the scores work</b> (hover a score for its parts)"
            f"<ul>{''.join(items)}</ul></div>")


def _interruptions(r: Report, names: dict[str, str], colours: dict[str, str], hours: bool) -> str:
    m = r.meeting_metrics.interruption_matrix
    ints = r.interruptions
    if not m and not ints:
        return ""
    order = {p.key: i for i, p in enumerate(r.participants)}
    bys = sorted({b for b, row in m.items() if any(row.values())}, key=lambda k: order.get(k, 1 << 30))
    ofs = sorted({o for row in m.values() for o, v in row.items() if v}, key=lambda k: order.get(k, 1 << 30))
    matrix = ""
    if bys and ofs:
        head = "".join(f"<th class='c colh' title='{_e(names.get(k, k))}'>{_e(_trunc(names.get(k, k), 16))}</th>"
                       for k in ofs)
        body = []
        for b in bys:
            cells = []
            for o in ofs:
                v = m.get(b, {}).get(o, 0)
                if b == o:
                    cells.append("<td class='c diag'></td>")
                elif v:
                    cells.append(f"<td class='c hot' title='{_e(names.get(b, b))} cut in on {_e(names.get(o, o))} "
                                 f"{_plural(v, 'time')}'>{v}</td>")
                else:
                    cells.append("<td class='c zero'>·</td>")
            body.append(f"<tr><th class='rowh' title='{_e(names.get(b, b))}'>"
                        f"<span class='sw' style='background:{colours.get(b, _OPTOUT)}'></span>"
                        f"{_e(_trunc(names.get(b, b), 22))}</th>{''.join(cells)}</tr>")
        matrix = ("<div><p class='muted small'>Rows cut in on columns (people never involved are left out).</p>"
                  f"<table class='matrix'><thead><tr><th class='corner'>who ↓ cut in on →</th>{head}</tr></thead>"
                  f"<tbody>{''.join(body)}</tbody></table></div>")
    lst = ""
    if ints:
        limit = 60
        items = []
        for x in ints[:limit]:
            what = "took the floor" if x.yielded else "talked over them"
            items.append(f"<li><span class='ts'>{_clock(x.t, hours)}</span><b>{_e(names.get(x.by, x.by))}</b> cut "
                         f"in on <b>{_e(names.get(x.of, x.of))}</b> <span class='muted'>· {x.overlap_s:.1f} s "
                         f"overlap · {what}</span></li>")
        more = (f"<li class='muted'>… and {len(ints) - limit} more (all are in report.json)</li>"
                if len(ints) > limit else "")
        lst = f"<ul class='list ints'>{''.join(items)}{more}</ul>"
    return (f"<section><h2>Interruptions <span class='count'>{len(ints)}</span></h2>"
            f"<div class='two'>{matrix}{lst}</div></section>")


def _chat(r: Report, names: dict[str, str], colours: dict[str, str], hours: bool) -> str:
    if not r.chat:
        return ""
    items = []
    for m in r.chat:
        if m.to == "everyone":
            to = ""
        else:
            to = f" <span class='to'>→ {_e(names.get(m.to, m.to))} (private)</span>"
        text = _e(m.text) if m.text is not None else "<span class='muted'>(text not kept)</span>"
        sw = f"<span class='sw' style='background:{colours.get(m.sender, _OPTOUT)}'></span>"
        items.append(f"<li><span class='ts'>{_clock(m.t, hours)}</span>{sw}<b>{_e(names.get(m.sender, m.sender))}</b>"
                     f"{to}: {text}</li>")
    return (f"<section><h2>Chat <span class='count'>{len(r.chat)}</span></h2>"
            f"<ul class='list'>{''.join(items)}</ul></section>")


def _transcript(r: Report, names: dict[str, str], colours: dict[str, str], hours: bool) -> str:
    """The lines, with every stretch that was not transcribed in its place and why, under a coverage line."""
    drops = _merged_drops(r.asr.drops) if r.asr is not None else []
    if not r.transcript and not drops:
        return ""
    rows = [(e.start_s, e.participant,
             f"<b>{_e(names.get(e.participant, e.participant))}</b>: {_e(e.text)}") for e in r.transcript]
    rows += [(a, who, f"<b>{_e(names.get(who, who))}</b>: <span class='dropped'>[{_clock(a, hours)}–{_clock(b, hours)} "
                      f"not transcribed: {_e(REASON_TEXT[reason])}]</span>") for who, a, b, reason in drops]
    items = [f"<li><span class='ts'>{_clock(t, hours)}</span>"
             f"<span class='sw' style='background:{colours.get(who, _OPTOUT)}'></span>{body}</li>"
             for t, who, body in sorted(rows, key=lambda x: (x[0], x[1]))]
    return (f"<section><h2>Transcript</h2>{_coverage(r.asr)}"
            f"<ul class='list'>{''.join(items)}</ul></section>")


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


def _coverage(asr: AsrSummary | None) -> str:
    if asr is None or asr.talk_s <= 0:
        return ""
    dropped = sum(asr.dropped_s.values())
    why = ", ".join(f"{v:.0f} s {REASON_TEXT[DropReason(k)]}" for k, v in asr.dropped_s.items())
    cls = "cov" if dropped + asr.uncovered_s == 0 else "cov warn"
    text = (f"{asr.transcribed_s / asr.talk_s:.0%} of {asr.talk_s:.0f} s of talk transcribed"
            + (f"; not transcribed: {why}" if dropped else "")
            + (f"; {asr.uncovered_s:.0f} s unaccounted for" if asr.uncovered_s else "")
            + f" · {_e(asr.model)}")
    return f"<p class='{cls}'>{text}</p>"


def _highlights(r: Report) -> str:
    """A few plain-language observations, each read straight off the report."""
    cons = [p for p in r.participants if p.consent]
    present = [p for p in cons if p.present_s > 0]
    out: list[str] = []
    talkers = sorted((p for p in cons if p.talk_time_s), key=lambda p: -(p.talk_time_s or 0))
    if talkers and r.meeting_metrics.total_talk_s > 0:
        top = talkers[0]
        out.append(f"<b>{_e(top.name)}</b> talked most: {_e(fmt_dur(top.talk_time_s))}, "
                   f"{top.speaking_pct or 0:.0f}% of all talk time.")
    quiet = [p.name for p in present if not p.turns]
    if quiet:
        if len(quiet) == len(present):
            out.append("Nobody was heard talking.")
        else:
            out.append(f"{_plural(len(quiet), 'person', 'people')} never spoke: {_e(_names_list(quiet))}.")
    longest = max((p for p in cons if p.turns), key=lambda p: p.longest_monologue_s or 0, default=None)
    if longest and (longest.longest_monologue_s or 0) >= 30:
        out.append(f"Longest single turn: {_e(fmt_dur(longest.longest_monologue_s))} by {_e(longest.name)}.")
    nocam = [p.name for p in present if p.camera_on_s == 0]
    if nocam and len(present) > 1:
        out.append(f"Camera never on: {_e(_names_list(nocam))}.")
    late = [p for p in cons if p.first_join_s is not None and p.first_join_s >= max(120.0, 0.1 * r.meeting.duration_s)]
    if late:
        out.append(f"{_plural(len(late), 'late joiner')}: {_e(_names_list([p.name for p in late]))}.")
    n_opt = len(r.participants) - len(cons)
    if n_opt:
        out.append(f"{_plural(n_opt, 'participant')} opted out of analytics and {'is' if n_opt == 1 else 'are'} "
                   "shown with presence only.")
    if not out:
        return ""
    return "<ul class='highlights'>" + "".join(f"<li>{x}</li>" for x in out) + "</ul>"


_CSS = """
:root{--fg:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa;--card:#fff;--head:#3e4c59}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:28px 20px 56px}
h1{font-size:26px;line-height:1.25;margin:0 0 6px;letter-spacing:-.01em}
h2{font-size:17px;margin:34px 0 10px;color:var(--fg)}
h2 .count{font-size:12px;font-weight:600;color:var(--muted);background:#e9edf2;border-radius:9px;padding:1px 8px;
margin-left:6px;vertical-align:2px}
.eyebrow{font-size:11px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted);font-weight:600}
.meta{color:var(--muted);margin-bottom:18px}
.meta span+span:before{content:"·";margin:0 8px;color:#b8c0ca}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(128px,1fr));gap:10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 14px}
.card .v{font-size:22px;font-weight:650;line-height:1.3;font-variant-numeric:tabular-nums;white-space:nowrap}
.card .k{color:var(--head);font-size:12px;font-weight:600}
.card .s{color:var(--muted);font-size:11.5px;line-height:1.35}
.highlights{margin:14px 0 0;padding:0 0 0 18px;color:var(--head)}
.highlights li{margin:2px 0}
.panel{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 0 4px;overflow-x:auto}
svg.timeline{display:block;width:100%;max-width:1160px;height:auto;margin:0 auto}
.legend{font-size:12px;color:var(--head);margin:10px 2px 0}
.legend .marks,.legend .people-key{display:flex;flex-wrap:wrap;gap:4px 16px;align-items:center}
.legend .people-key{margin-top:6px;gap:4px 12px;color:var(--fg)}
.legend .lk{color:var(--muted);font-weight:600;margin-right:2px}
.legend .marks>span,.who-chip{display:inline-flex;align-items:center;gap:5px;white-space:nowrap}
.who-chip.off{color:var(--muted);font-style:italic}
.emo{font-size:13px;line-height:1}
svg.ic{flex:none}
.tablewrap{overflow-x:auto;border:1px solid var(--line);border-radius:10px;background:var(--card)}
table{border-collapse:collapse;background:var(--card)}
table.people{width:100%;font-size:13px}
table.people th{white-space:nowrap;font-weight:600;text-align:left;color:var(--head);background:#f1f3f6;padding:6px 6px;
border-bottom:1px solid var(--line);vertical-align:bottom;font-size:12px;line-height:1.3}
table.people th[title]{cursor:help}
table.people tr.grp th{background:#e9edf2;font-size:11px;letter-spacing:.05em;text-transform:uppercase;
text-align:center;padding:5px 7px;border-bottom:1px solid #dde2e8}
table.people tr.grp th.who{text-transform:none;letter-spacing:0;font-size:12px;text-align:left;vertical-align:bottom;
background:#f1f3f6}
table.people th.g{border-left:1px solid #dde2e8}
table.people td{padding:6px 6px;border-bottom:1px solid var(--line);vertical-align:middle}
table.people tbody tr:nth-child(even) td{background:#fafbfc}
table.people tbody tr:last-child td{border-bottom:0}
table.people tfoot td{border-top:2px solid #cfd5dc;background:#f1f3f6;font-weight:600;padding:8px 7px}
tr.optout td{color:var(--muted)}
td.optnote{font-style:italic;font-size:12px;background:repeating-linear-gradient(45deg,#f6f7f9 0 6px,#eef0f3 6px 9px)
!important}
.r{text-align:right;white-space:nowrap}.c{text-align:center;white-space:nowrap}
.who{min-width:170px;max-width:240px;overflow-wrap:anywhere}.nm{font-weight:600}
.strong{font-weight:600}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:7px;vertical-align:0}
.sw.off{background:repeating-linear-gradient(45deg,#c9ced6 0 2px,#eef0f3 2px 4px);border:1px solid #c9ced6}
.role{font-size:10.5px;padding:0 6px;border-radius:9px;background:#e6eefb;color:#2c5282;margin-left:6px;
white-space:nowrap;vertical-align:1px}
.badge{font-size:10.5px;padding:0 6px;border-radius:9px;background:#e4e7eb;color:#3e4c59;margin-left:6px;
white-space:nowrap;font-style:normal;vertical-align:1px}
.share{white-space:nowrap;min-width:96px}
.bar{display:inline-block;width:52px;height:8px;background:#e9edf2;border-radius:4px;overflow:hidden;
vertical-align:middle;margin-right:6px}
.bar .fill{display:block;height:100%}
.num,td,.ts{font-variant-numeric:tabular-nums}
.zero{color:#9aa5b1}
.score{display:inline-block;min-width:36px;padding:1px 7px;border-radius:10px;font-weight:650;font-size:12px;
border:1px solid transparent;cursor:help;text-align:center}
.muted{color:var(--muted)}.small{font-size:11px}
td .small{font-weight:400;line-height:1.3}
.note{margin:12px 2px 0;font-size:12.5px;color:var(--head)}
.note ul{margin:4px 0 0;padding-left:18px}
.note .nh{color:var(--fg)}
.foot-note{font-size:12px;color:var(--muted);margin:8px 2px 0}
.gaps{margin:14px 0 0;padding:10px 14px;border-left:4px solid #c98a1b;background:#fdf6e7;font-size:13px}
.gaps ul{margin:4px 0 0;padding-left:18px}
.cov{margin:4px 0 8px;color:#555;font-size:13px}.cov.warn{color:#8a5a00}.dropped{color:#8a5a00;font-style:italic}
.doubt{color:#c98a1b;cursor:help}
.two{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.two>*{flex:1 1 380px;min-width:0}
table.matrix{border:1px solid var(--line);font-size:12px;border-radius:8px}
table.matrix th,table.matrix td{padding:5px 9px;border:1px solid var(--line)}
table.matrix th{background:#f1f3f6;font-weight:600;color:var(--head)}
table.matrix th.corner{font-weight:400;color:var(--muted);font-size:11px}
table.matrix td.hot{background:#fdecea;font-weight:700;color:#8a2b27}
table.matrix td.diag{background:#f4f5f7}
table.matrix th.rowh{text-align:left;white-space:nowrap}
ul.list{list-style:none;padding:0;margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px}
ul.list li{padding:6px 12px;border-bottom:1px solid var(--line);overflow-wrap:anywhere}
ul.list li:last-child{border-bottom:0}
ul.list .sw{margin-right:5px}
ul.ints{font-size:13px}
.to{color:var(--muted);font-size:12px}
.ts{display:inline-block;min-width:44px;color:var(--muted);margin-right:6px}
footer{color:var(--muted);font-size:12px;margin-top:30px;border-top:1px solid var(--line);padding-top:10px}
@media print{
 body{background:#fff;font-size:11px}
 main{max-width:none;padding:0}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 .panel,.tablewrap{overflow:visible;border-color:#ccc}
 .card,.panel,table.matrix,tr{break-inside:avoid}
 h2{break-after:avoid}
 table.people{font-size:9.5px}
 table.people th,table.people td,table.people tfoot td{padding:4px 3px}
 table.people th{font-size:9.5px}
 table.people tr.grp th{font-size:8.5px;letter-spacing:0}
 .who{min-width:0}
 .bar{width:28px;margin-right:3px}
 .share{min-width:0}
 .score{min-width:0;padding:0 4px;font-size:9.5px}
 .small,table.people .small{font-size:8.5px}
 table.people tr.grp th.who{font-size:9.5px}
 .role,.badge{font-size:8px;padding:0 4px;margin-left:3px}
 .sw{margin-right:4px}
 .cards{grid-template-columns:repeat(7,1fr);gap:6px}
 .card{padding:6px 8px}.card .v{font-size:16px}.card .k,.card .s{font-size:9px}
 .legend,.note,.foot-note{font-size:9.5px}
 .score,th[title]{cursor:auto}
}
"""


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


def _gaps_note(r: Report) -> str:
    """What the bot could not see, said plainly: talk time there is not measured, not zero."""
    gaps = r.observer.gaps if r.observer else []
    if not gaps:
        return ""
    hours = r.meeting.duration_s >= 3600
    items = "".join(f"<li>{_clock(g.start_s, hours)}–{_clock(g.end_s, hours)} {_e(_GAP_WHY.get(g.reason, g.reason))}</li>"
                    for g in gaps)
    heard = r.observer.audio_observed_s
    return (f"<div class='gaps'><strong>Not fully observed.</strong> Talk time and the transcript cover "
            f"{_e(fmt_dur(heard, long=True)) if heard is not None else '–'} of the meeting; in these stretches they "
            f"are not measured (shaded on the timeline):<ul>{items}</ul></div>")


def render_report_html(report: Report) -> str:
    r = report
    colours = {p.key: colour(i) for i, p in enumerate(r.participants)}
    names = {p.key: p.name for p in r.participants}
    mm = r.meeting_metrics
    dur = r.meeting.duration_s
    hours = dur >= 3600
    started = r.meeting.started_at.replace("T", " ").replace("Z", " UTC")
    win = mm.window.end_s - mm.window.start_s
    n_opt = sum(1 for p in r.participants if not p.consent)

    if mm.talk_balance is None:
        bal_sub = "needs 2+ people and some talk"
    else:
        bal_sub = "1 = all equal · 0 = one voice"
    ints_by: dict[str, int] = {}
    for x in r.interruptions:
        ints_by[x.by] = ints_by.get(x.by, 0) + 1
    if ints_by:
        k = max(ints_by, key=ints_by.__getitem__)
        int_sub = f"most by {_trunc(names.get(k, k), 18)} ({ints_by[k]})"
    else:
        int_sub = "none detected"
    n_ov = len(mm.overlap_intervals)
    cards = [
        ("Participants", f"{mm.participants_total}",
         f"peak {mm.peak_present} at once" + (f" · {n_opt} opted out" if n_opt else "")),
        ("Talk balance", "–" if mm.talk_balance is None else f"{mm.talk_balance:.2f}", bal_sub),
        ("Overlap", fmt_dur(mm.overlap_s),
         f"{_plural(n_ov, 'stretch', 'stretches')} of 2+ talking" if n_ov else "nobody talked at once"),
        ("Silence", fmt_dur(mm.silence_s), (_pct(mm.silence_s / win) if win > 0 else "–") + " of the meeting"),
        ("Speaker switches", f"{mm.speaker_switches_per_min:.1f}/min", f"{mm.speaker_switches} in total"),
        ("Interruptions", f"{mm.interruptions_total}", int_sub),
        ("Non-verbal", f"{mm.chat_messages} · {mm.hand_raises} · {mm.reactions}", "chat · hands · reactions"),
    ]
    cards_html = "".join(f"<div class='card'><div class='k'>{_e(k)}</div><div class='v'>{_e(v)}</div>"
                         f"<div class='s'>{_e(s)}</div></div>" for k, v, s in cards)
    opt_note = (f"<p class='foot-note'>{_plural(n_opt, 'participant')} opted out of analytics: only "
                "their presence is shown; audio, camera, chat and reactions were "
                "not analysed and are left out of every meeting total.</p>") if n_opt else ""
    topic = r.meeting.topic or "Meeting"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>{_e(topic)} — Rollcall report</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<header>
<div class="eyebrow">Rollcall meeting report</div>
<h1>{_e(topic)}</h1>
<div class="meta"><span>Started {_e(started)}</span><span>{_e(fmt_dur(dur, long=True))} long</span>
<span>{_plural(len(r.participants), 'participant')}</span><span>Meeting ID {_e(r.meeting.id)}</span></div>
<div class="cards">{cards_html}</div>
{_gaps_note(r)}
{_highlights(r)}
</header>
<section>
<h2>Timeline</h2>
<div class="panel">
{_timeline(r, colours)}
</div>
{_legend(r, colours)}
</section>
<section>
<h2>Participants</h2>
{_table(r, colours)}
{opt_note}
{_scores_note(r)}
<p class="foot-note">Times are from the meeting start. Talk time is measured from each participant's own audio;
share is of everybody's talk time (overlapping talk counts for each speaker). Hover any column header for its
definition.</p>
</section>
{_interruptions(r, names, colours, hours)}
{_chat(r, names, colours, hours)}
{_transcript(r, names, colours, hours)}
<footer>Generated by Rollcall from media time; every metric is defined in docs/metrics.md. Raw numbers are in
report.json next to this page.</footer>
</main>
</body>
</html>
"""
