"""Test support for the Zoom cloud side: the bot's own view of a scenario it joined late (or left early),
replayed through the real pipeline into the report a bot would have stored."""
from __future__ import annotations

from pathlib import Path

import yaml

from analysis.scenario import Scenario
from bot.simulator.replay import replay
from bot.simulator.scenario_view import join_late


def bot_report(doc: dict, tmp: Path, *, join_s: float, leave_s: float, customer_key: str) -> dict:
    """What the bot would have written for ``doc`` (no ASR), as the report store keeps it."""
    view = join_late(Scenario.model_validate(doc), join_s, leave_s)
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "bot-view.yaml"
    path.write_text(yaml.safe_dump(view.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    report = replay(path, tmp / "out").report
    data = report.model_dump(mode="json")
    data["observer"] = {"name": "Rollcall", "customer_key": customer_key}
    return data
