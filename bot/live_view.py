"""The live terminal table shown while a meeting is measured (rich)."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text

from analysis.live import LiveSnapshot


def _clock(t: float) -> str:
    m, s = divmod(int(t), 60)
    return f"{m:02d}:{s:02d}"


def _bar(pct: float | None, width: int = 12) -> Text:
    if pct is None:
        return Text("—", style="dim")
    filled = int(round(pct / 100 * width))
    return Text("█" * filled, style="cyan") + Text("░" * (width - filled), style="dim") + Text(f" {pct:4.1f}%")


def render_snapshot(snap: LiveSnapshot, title: str) -> Table:
    tot = snap.totals
    balance = "—" if tot.talk_balance is None else f"{tot.talk_balance:.2f}"
    table = Table(title=f"{title}  ·  {_clock(snap.t)}{'  ·  ended' if snap.ended else ''}",
                  caption=f"present {tot.present} · talking {tot.talking} · talk balance {balance} · "
                          f"overlap {tot.overlap_s:.1f}s · silence {tot.silence_s:.1f}s · chat {tot.chat_messages} · "
                          f"hands {tot.hand_raises}",
                  expand=False)
    table.add_column("participant", no_wrap=True)
    table.add_column("role", style="dim")
    table.add_column("here", justify="center")
    table.add_column("talking", justify="center")
    table.add_column("talk time", justify="right")
    table.add_column("share", no_wrap=True)
    table.add_column("turns", justify="right")
    table.add_column("camera", justify="center")
    table.add_column("hand", justify="center")
    for p in snap.participants:
        if not p.consent:
            table.add_row(p.name, p.role, "●" if p.present else "·", Text("opted out", style="dim"), "", "", "", "", "")
            continue
        table.add_row(
            Text(p.name, style="bold" if p.talking_now else ""),
            p.role,
            Text("●", style="green") if p.present else Text("·", style="dim"),
            Text("◉ speaking", style="bold green") if p.talking_now else Text(""),
            f"{p.talk_time_s or 0:.1f}s",
            _bar(p.share_pct),
            str(p.turns or 0),
            "on" if p.camera_on else Text("off", style="dim"),
            "✋" if p.hand_up else "",
        )
    return table
