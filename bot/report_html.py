"""Render a meeting ``Report`` as one self-contained HTML page: inline CSS and inline SVG, no scripts, no
external resources. Every piece of user text (names, topic, chat, transcript, emoji) goes through
``html.escape``.
"""
from __future__ import annotations

import colorsys
from html import escape

from analysis.report import ParticipantReport, Report

_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
            "#ff9da7", "#3b8bc2", "#86bc86", "#d37295"]
_TICK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400]

# timeline geometry (px)
_W = 1160
_LABEL_W = 210
_X0, _X1 = _LABEL_W + 10, _W - 20
_ROW_H = 26
_TOP = 26


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
    w = max(w, 0.8)  # keep very short turns visible
    t = f"<title>{_e(title)}</title>" if title else ""
    return f'<rect x="{sc.x(a):.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}" {extra}>{t}</rect>'


def _timeline(r: Report, colours: dict[str, str]) -> str:
    dur = r.meeting.duration_s
    sc = _Scale(dur)
    hours = dur >= 3600
    parts: list[ParticipantReport] = r.participants
    n_rows = len(parts) + 1  # + the meeting-level overlap row
    height = _TOP + n_rows * _ROW_H + 34
    out: list[str] = [
        f'<svg class="timeline" font-family="system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif" width="{_W}" height="{height}" '
        f'viewBox="0 0 {_W} {height}" role="img" aria-label="Meeting timeline">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fbe3e3"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#d9534f" stroke-width="3"/></pattern>'
        '<pattern id="optout" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#eef0f3"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c9ced6" '
        'stroke-width="2"/></pattern></defs>',
    ]
    # ticks and grid
    step = next((s for s in _TICK_STEPS if dur / s <= 12), _TICK_STEPS[-1])
    axis_y = _TOP + n_rows * _ROW_H + 4
    t = 0.0
    while t <= dur + 1e-9:
        x = sc.x(t)
        out.append(f'<line x1="{x:.1f}" y1="{_TOP - 6}" x2="{x:.1f}" y2="{axis_y}" stroke="#eef0f3" stroke-width="1"/>')
        out.append(f'<text x="{x:.1f}" y="{axis_y + 16}" fill="#6b7785" font-size="11" text-anchor="middle">{_clock(t, hours)}</text>')
        t += step
    out.append(f'<line x1="{_X0}" y1="{axis_y}" x2="{_X1}" y2="{axis_y}" stroke="#9aa5b1" stroke-width="1"/>')
    out.append(f'<text x="{_X0}" y="{_TOP - 10}" fill="#6b7785" font-size="11">time from meeting start</text>')

    for i, p in enumerate(parts):
        y = _TOP + i * _ROW_H
        c = colours[p.key]
        if i % 2:
            out.append(f'<rect x="0" y="{y}" width="{_W}" height="{_ROW_H}" fill="#f6f7f9"/>')
        label = p.name if len(p.name) <= 26 else p.name[:25] + "…"
        badge = " (opted out)" if not p.consent else ""
        out.append(f'<g class="row" data-key="{_e(p.key)}">')
        out.append(f'<rect x="8" y="{y + 8}" width="10" height="10" rx="2" fill="{c if p.consent else "#c9ced6"}"/>')
        out.append(f'<text x="24" y="{y + 17}" fill="#1f2933" font-size="12.5"><title>{_e(p.name)}{_e(badge)}</title>'
                   f'{_e(label)}<tspan fill="#6b7785" font-size="11">{_e(badge)}</tspan></text>')
        bar_y, bar_h = y + 5, 15
        pres_fill = c if p.consent else "url(#optout)"
        for s in p.presence:
            out.append(_rect(sc, s.join_s, s.leave_s, bar_y, bar_h, pres_fill,
                             'fill-opacity="0.17"' if p.consent else "",
                             f"{p.name}: present {_clock(s.join_s, hours)}–{_clock(s.leave_s, hours)}"))
        for s in p.speech:
            out.append(_rect(sc, s.start_s, s.end_s, bar_y, bar_h, c, "",
                             f"{p.name} speaking {_clock(s.start_s, hours)}–{_clock(s.end_s, hours)}"
                             f" ({s.end_s - s.start_s:.1f} s)"))
        for s in p.camera:
            out.append(_rect(sc, s.start_s, s.end_s, y + 21.5, 3, "#2f855a", "",
                             f"{p.name}: camera on {_clock(s.start_s, hours)}–{_clock(s.end_s, hours)}"))
        for s in p.share:
            out.append(_rect(sc, s.start_s, s.end_s, y + 2, 2, "#6b46c1", "",
                             f"{p.name}: screen share {_clock(s.start_s, hours)}–{_clock(s.end_s, hours)}"))
        for t in p.chat_times:
            out.append(f'<circle cx="{sc.x(t):.1f}" cy="{y + 5}" r="3.2" fill="#ffffff" stroke="#3b6ea5" stroke-width="1.4">'
                       f'<title>{_e(p.name)}: chat at {_clock(t, hours)}</title></circle>')
        for t in p.hand_raise_times:
            x = sc.x(t)
            out.append(f'<path d="M{x - 3.6:.1f},{y + 9.5} L{x + 3.6:.1f},{y + 9.5} L{x:.1f},{y + 2.5} Z" '
                       f'fill="#f0a202" stroke="#8a5d00" stroke-width="0.6"><title>{_e(p.name)}: raised hand at {_clock(t, hours)}</title></path>')
        for ev in p.reaction_events:
            out.append(f'<text x="{sc.x(ev.t):.1f}" y="{y + 11}" font-size="11" text-anchor="middle">'
                       f'<title>{_e(p.name)}: reaction {_e(ev.emoji)} at {_clock(ev.t, hours)}</title>'
                       f'{_e(ev.emoji or "★")}</text>')
        out.append("</g>")

    y = _TOP + len(parts) * _ROW_H
    out.append(f'<line x1="0" y1="{y + 0.5}" x2="{_W}" y2="{y + 0.5}" stroke="#cfd5dc" stroke-width="1"/>')
    out.append(f'<text x="24" y="{y + 17}" fill="#a23b38" font-size="12.5" font-weight="600">Overlap (2+ talking)</text>')
    for s in r.meeting_metrics.overlap_intervals:
        out.append(_rect(sc, s.start_s, s.end_s, y + 5, 15, "url(#hatch)", 'stroke="#d9534f" stroke-width="0.6"',
                         f"overlap {_clock(s.start_s, hours)}–{_clock(s.end_s, hours)}"
                         f" ({s.end_s - s.start_s:.1f} s)"))
    out.append("</svg>")
    return "\n".join(x for x in out if x)


def _bar(frac: float | None, colour_: str) -> str:
    if frac is None:
        return '<span class="muted">–</span>'
    w = max(0.0, min(1.0, frac)) * 100
    return (f'<div class="bar"><div class="fill" style="width:{w:.1f}%;background:{colour_}"></div></div>'
            f'<span class="num">{frac * 100:.0f}%</span>')


def _score(x: float | None, title: str) -> str:
    if x is None:
        return '<span class="muted">–</span>'
    hue = int(120 * max(0.0, min(1.0, x)))
    return (f'<span class="score" title="{_e(title)}" style="background:hsl({hue},55%,92%);'
            f'color:hsl({hue},60%,28%)">{x * 100:.0f}</span>')


def _table(r: Report, colours: dict[str, str]) -> str:
    dur = r.meeting.duration_s
    rows = []
    for p in r.participants:
        c = colours[p.key]
        role = f'<span class="role role-{_e(p.role)}">{_e(p.role)}</span>' if p.role != "attendee" else ""
        opt = '<span class="badge">opted out</span>' if not p.consent else ""
        renamed = ""
        if len(p.name_history) > 1:
            renamed = ('<div class="muted small">was ' + ", ".join(_e(h.name) for h in p.name_history[:-1]) + "</div>")
        pres_frac = p.present_s / dur if dur > 0 else 0.0
        cam = "–" if p.camera_on_s is None else (
            f"{fmt_dur(p.camera_on_s)} <span class='muted'>({_pct(p.camera_on_s / p.present_s if p.present_s else 0)})</span>")
        att_t = eng_t = ""
        if p.attention:
            a = p.attention
            att_t = (f"presence {a.presence_share:.0%} ×{a.weights['presence']} + camera {a.camera_share:.0%} "
                     f"×{a.weights['camera']} + interaction {a.interaction:.0f} ×{a.weights['interaction']}")
        if p.engagement:
            g = p.engagement
            eng_t = (f"talk share {g.talk_share:.0%} vs equal {g.equal_share:.0%} → {g.talk_component:.2f} "
                     f"×{g.weights['talk']} + non-verbal {g.nonverbal_actions} → {g.nonverbal_component:.2f} "
                     f"×{g.weights['nonverbal']}")
        joins = f"<div class='muted small'>{p.joins} joins</div>" if p.joins > 1 else ""
        share = None if p.speaking_pct is None else p.speaking_pct / 100.0

        def num(v):
            return '<span class="muted">–</span>' if v is None else _e(v)

        rows.append(
            f'<tr class="{"optout" if not p.consent else ""}">'
            f'<td class="who"><span class="sw" style="background:{c if p.consent else "#c9ced6"}"></span>'
            f'<span class="nm">{_e(p.name)}</span> {role}{opt}{renamed}</td>'
            f'<td class="r">{fmt_dur(p.present_s)} <span class="muted">({_pct(pres_frac)})</span>'
            f'{joins}</td>'
            f'<td class="r">{fmt_dur(p.talk_time_s)}</td>'
            f'<td class="share">{_bar(share, c)}</td>'
            f'<td class="r">{num(p.turns)}</td>'
            f'<td class="r">{fmt_dur(p.longest_monologue_s)}</td>'
            f'<td class="r">{num(p.interruptions_made)} <span class="muted">/</span> {num(p.interrupted_by_others)}</td>'
            f'<td class="r">{cam}</td>'
            f'<td class="r">{num(p.chat_messages)}</td>'
            f'<td class="r">{num(p.hand_raises)}</td>'
            f'<td class="r">{num(p.reactions)}</td>'
            f'<td class="c">{_score(p.attention_score, att_t)}</td>'
            f'<td class="c">{_score(p.engagement_score, eng_t)}</td>'
            "</tr>")
    head = ("<tr><th>Participant</th><th class='r'>Present</th><th class='r'>Talk time</th><th>Share of talk</th>"
            "<th class='r'>Turns</th><th class='r'>Longest monologue</th>"
            "<th class='r' title='made / received'>Interruptions<br><span class='muted small'>made / received</span></th>"
            "<th class='r'>Camera on</th><th class='r'>Chat</th><th class='r'>Hands</th><th class='r'>Reactions</th>"
            "<th class='c'>Attention</th><th class='c'>Engagement</th></tr>")
    return f'<table class="people"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _matrix(r: Report, names: dict[str, str]) -> str:
    m = r.meeting_metrics.interruption_matrix
    if not m:
        return ""
    keys = [p.key for p in r.participants if p.consent]
    head = "".join(f"<th class='c'>{_e(names[k])}</th>" for k in keys)
    body = []
    for by in keys:
        cells = []
        for of in keys:
            v = m.get(by, {}).get(of, 0)
            cls = "diag" if by == of else ("hot" if v else "")
            cells.append(f"<td class='c {cls}'>{v if by != of else ''}{'' if v or by == of else '·'}</td>")
        body.append(f"<tr><th class='rowh'>{_e(names[by])}</th>{''.join(cells)}</tr>")
    return ("<section><h2>Who cut in on whom</h2><p class='muted small'>Row interrupted column "
            "(counts of interrupting turns).</p>"
            f"<table class='matrix'><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            "</section>")


def _chat(r: Report, names: dict[str, str], hours: bool) -> str:
    if not r.chat:
        return ""
    items = []
    for m in r.chat:
        to = "" if m.to == "everyone" else f" → {_e(names.get(m.to, m.to))}"
        text = _e(m.text) if m.text is not None else "<span class='muted'>(text not kept)</span>"
        items.append(f"<li><span class='ts'>{_clock(m.t, hours)}</span> <b>{_e(names.get(m.sender, m.sender))}</b>"
                     f"{to}: {text}</li>")
    return f"<section><h2>Chat</h2><ul class='chat'>{''.join(items)}</ul></section>"


def _transcript(r: Report, names: dict[str, str], hours: bool) -> str:
    if not r.transcript:
        return ""
    items = [f"<li><span class='ts'>{_clock(e.start_s, hours)}</span> <b>{_e(names.get(e.participant, e.participant))}"
             f"</b>: {_e(e.text)}</li>" for e in r.transcript]
    return f"<section><h2>Transcript</h2><ul class='chat'>{''.join(items)}</ul></section>"


_CSS = """
:root{--fg:#1f2933;--muted:#6b7785;--line:#e4e7eb;--bg:#f7f8fa;--card:#fff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:16px;margin:28px 0 10px}
.meta{color:var(--muted);margin-bottom:18px}
.meta span+span:before{content:"·";margin:0 8px;color:#b8c0ca}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:130px}
.card .v{font-size:20px;font-weight:600}
.card .k{color:var(--muted);font-size:12px}
.panel{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 0;overflow-x:auto}
svg.timeline{display:block;font:12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
.legend{display:flex;flex-wrap:wrap;gap:16px;color:var(--muted);font-size:12px;margin:8px 4px 0}
.legend i{display:inline-block;vertical-align:middle;margin-right:6px}
table{border-collapse:collapse;background:var(--card)}
table.people{width:100%;border:1px solid var(--line);border-radius:8px;font-size:13px}
table.people th{font-weight:600;text-align:left;color:#3e4c59;background:#f1f3f6;padding:8px 8px;
border-bottom:1px solid var(--line);vertical-align:bottom}
table.people td{padding:7px 8px;border-bottom:1px solid var(--line);vertical-align:middle}
table.people tr:last-child td{border-bottom:0}
tr.optout td{color:var(--muted);background:#fbfbfc}
.r{text-align:right;white-space:nowrap}.c{text-align:center}
.who{min-width:180px}.nm{font-weight:600}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:7px}
.role{font-size:11px;padding:1px 6px;border-radius:9px;background:#e6eefb;color:#2c5282;margin-left:4px}
.badge{font-size:11px;padding:1px 6px;border-radius:9px;background:#eceff3;color:#52606d;margin-left:4px}
.share{min-width:140px;white-space:nowrap}
.bar{display:inline-block;width:90px;height:8px;background:#edf0f3;border-radius:4px;overflow:hidden;
vertical-align:middle;margin-right:6px}
.bar .fill{height:100%}
.num{font-variant-numeric:tabular-nums}
td{font-variant-numeric:tabular-nums}
.score{display:inline-block;min-width:34px;padding:2px 6px;border-radius:10px;font-weight:600;font-size:12px}
.muted{color:var(--muted)}.small{font-size:11px}
table.matrix{border:1px solid var(--line);font-size:12px}
table.matrix th,table.matrix td{padding:5px 9px;border:1px solid var(--line)}
table.matrix td.hot{background:#fdecea;font-weight:600}
table.matrix td.diag{background:#f4f5f7}
table.matrix th.rowh{text-align:left}
ul.chat{list-style:none;padding:0;margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px}
ul.chat li{padding:6px 12px;border-bottom:1px solid var(--line)}
ul.chat li:last-child{border-bottom:0}
.ts{color:var(--muted);font-variant-numeric:tabular-nums;margin-right:4px}
footer{color:var(--muted);font-size:12px;margin-top:28px}
"""


def render_report_html(report: Report) -> str:
    r = report
    colours = {}
    ci = 0
    for p in r.participants:
        colours[p.key] = colour(ci)
        ci += 1
    names = {p.key: p.name for p in r.participants}
    mm = r.meeting_metrics
    dur = r.meeting.duration_s
    hours = dur >= 3600
    started = r.meeting.started_at.replace("T", " ").replace("Z", " UTC")
    cards = [
        ("Participants", f"{mm.participants_total}", f"peak {mm.peak_present} at once"),
        ("Talk balance", "–" if mm.talk_balance is None else f"{mm.talk_balance:.2f}", "1 = equal, 0 = one voice"),
        ("Overlap", fmt_dur(mm.overlap_s), "2+ people talking"),
        ("Silence", fmt_dur(mm.silence_s), _pct(mm.silence_s / (mm.window.end_s - mm.window.start_s)
                                                  if mm.window.end_s > mm.window.start_s else None) + " of meeting"),
        ("Speaker switches", f"{mm.speaker_switches_per_min:.1f}/min", f"{mm.speaker_switches} in total"),
        ("Interruptions", f"{mm.interruptions_total}", "see definitions"),
        ("Chat · hands · reactions", f"{mm.chat_messages} · {mm.hand_raises} · {mm.reactions}", ""),
    ]
    cards_html = "".join(f"<div class='card'><div class='k'>{_e(k)}</div><div class='v'>{_e(v)}</div>"
                         f"<div class='k'>{_e(s)}</div></div>" for k, v, s in cards)
    legend = (
        "<div class='legend'>"
        "<span><i style='width:18px;height:10px;background:#4e79a7;opacity:.2'></i>present</span>"
        "<span><i style='width:18px;height:10px;background:#4e79a7'></i>speaking</span>"
        "<span><i style='width:18px;height:3px;background:#2f855a'></i>camera on</span>"
        "<span><i style='width:18px;height:2px;background:#6b46c1'></i>screen share</span>"
        "<span><i style='width:8px;height:8px;border:1.4px solid #3b6ea5;border-radius:50%'></i>chat</span>"
        "<span><i style='width:0;height:0;border-left:4px solid transparent;border-right:4px solid transparent;"
        "border-bottom:7px solid #f0a202'></i>hand raised</span>"
        "<span><i style='width:18px;height:10px;background:repeating-linear-gradient(45deg,#d9534f 0 2px,"
        "#fbe3e3 2px 5px)'></i>overlap</span>"
        "<span><i style='width:18px;height:10px;background:repeating-linear-gradient(45deg,#c9ced6 0 2px,"
        "#eef0f3 2px 5px)'></i>opted out (presence only)</span></div>")
    n_opt = sum(1 for p in r.participants if not p.consent)
    opt_note = (f"<p class='muted small'>{n_opt} participant{'s' if n_opt != 1 else ''} opted out of analytics: "
                "only their presence is shown; their audio and messages were not analysed.</p>") if n_opt else ""
    topic = r.meeting.topic or "Meeting"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(topic)} — Rollcall report</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<header>
<h1>{_e(topic)}</h1>
<div class="meta"><span>Meeting {_e(r.meeting.id)}</span><span>{_e(started)}</span>
<span>{_e(fmt_dur(dur, long=True))} long</span><span>{len(r.participants)} participants</span></div>
<div class="cards">{cards_html}</div>
</header>
<section>
<h2>Timeline</h2>
<div class="panel">
{_timeline(r, colours)}
</div>
{legend}
</section>
<section>
<h2>Participants</h2>
{_table(r, colours)}
{opt_note}
<p class="muted small">Times are from the meeting start. Attention and engagement are 0–100 scores; hover a score
for its components. Talk time is measured from each participant's own audio; share is of everybody's talk time.</p>
</section>
{_matrix(r, names)}
{_chat(r, names, hours)}
{_transcript(r, names, hours)}
<footer>Generated by Rollcall from media time; definitions of every metric are in docs/metrics.md.</footer>
</main>
</body>
</html>
"""
