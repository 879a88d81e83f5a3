"""A scenario file, read where the orchestrator runs (the schema and its errors are
``analysis.scenario``'s; the core reads no files)."""
from __future__ import annotations

from pathlib import Path

from analysis.scenario import Scenario, parse_scenario, unreadable


def read_scenario(path: Path) -> Scenario:
    """The validated scenario at ``path``; a ScenarioError naming the file (and field) otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable(path, exc) from None
    return parse_scenario(text, path)
