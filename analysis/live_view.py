"""The live terminal table shown while a meeting is measured (rich). Fits an 80-column terminal."""
from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from analysis.live import LiveSnapshot


def _clock(t: float) -> str:
    m, s = divmod(int(t), 60)
    return f"{m:02d}:{s:02d}"


def _bar(pct: float | None, width: int = 8) -> Text:
    if pct is None:
        return Text("—", style="dim")
    filled = int(round(pct / 100 * width))
    return Text("█" * filled, style="cyan") + Text("░" * (width - filled), style="dim") + Text(f" {pct:4.1f}%")


class LiveView:
    """The table plus the latest transcript line (snapshots carry only the lines new since the last)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.caption: Text | None = None

    def render(self, snap: LiveSnapshot) -> Group:
        if snap.transcript:
            line = snap.transcript[-1]
            name = next((p.name for p in snap.participants if p.key == line.participant), line.participant)
            self.caption = Text.assemble((f"{name}: ", "bold"), (line.text, "italic"))
        table = render_snapshot(snap, self.title)
        return Group(table, self.caption) if self.caption is not None else Group(table)


def _count(n: int | None) -> str:
    return "–" if n is None else str(n)  # None: not observed by this transport


def render_snapshot(snap: LiveSnapshot, title: str) -> Table:
    tot = snap.totals
    balance = "—" if tot.talk_balance is None else f"{tot.talk_balance:.2f}"
    table = Table(title=f"{title}  ·  {_clock(snap.t)}{'  ·  ended' if snap.ended else ''}",
                  caption=f"{tot.present} here · {tot.talking} talking · balance {balance} · overlap "
                          f"{tot.overlap_s:.0f}s · silence {tot.silence_s:.0f}s · "
                          f"{_count(tot.chat_messages)} chat · {_count(tot.hand_raises)} hands"
                          + (f" · NOT OBSERVED: {', '.join(r.replace('_', ' ') for r in snap.not_observed)}"
                             if snap.not_observed else ""),
                  box=box.SIMPLE_HEAD, expand=False, pad_edge=False)
    table.add_column("participant", no_wrap=True, max_width=20, overflow="ellipsis")
    table.add_column("here", justify="center")
    table.add_column("now", justify="center")
    table.add_column("talk", justify="right", no_wrap=True)
    table.add_column("share", no_wrap=True)
    table.add_column("turns", justify="right")
    table.add_column("cam", justify="center")
    table.add_column("hand", justify="center")
    training = any(p.compliance is not None for p in snap.participants)
    if training:
        table.add_column("status", no_wrap=True, max_width=28, overflow="ellipsis")
    for p in snap.participants:
        name = Text(p.name, style="bold" if p.talking_now else "")
        if p.role != "attendee":
            name += Text(f" {p.role}", style="dim")
        here = Text("●", style="green") if p.present else Text("·", style="dim")
        status = [_status(p.compliance, p.compliance_reasons)] if training else []
        if not p.consent:
            table.add_row(name, here, "", Text("opted out", style="dim"), "", "", "", "", *status)
            continue
        table.add_row(
            name,
            here,
            Text("◉", style="bold green") if p.talking_now else Text(""),
            Text(f"{p.talk_time_s or 0:.1f}s") + (Text(" ⚠", style="yellow") if p.talk_doubts else Text("")),
            _bar(p.share_pct),
            str(p.turns or 0),
            Text("–", style="dim") if p.camera_on is None else "on" if p.camera_on else Text("off", style="dim"),
            "✋" if p.hand_up else "",
            *status,
        )
    return table


_STATUS = {"on_track": ("on track", "green"), "at_risk": ("at risk", "bold yellow"), "failed": ("failed", "bold red")}


def _status(status: str | None, reasons: list[str]) -> Text:
    if status is None:
        return Text("")
    label, style = _STATUS.get(status, (status, ""))
    return Text(label, style=style) + (Text(f" {reasons[0]}", style="dim") if reasons else Text(""))
