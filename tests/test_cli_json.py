"""`--json` on `status`, `schedule list` and `limits`: one JSON document on stdout that scripts can read,
with ids in full (the ones `schedule cancel` and the API take)."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from bot.cli import app as rollcall

MEETING = "85000000061"


def test_status_and_schedule_list_as_json_name_what_later_commands_take(redis_server):
    env = {"REDIS_URL": redis_server.url, "COLUMNS": "40"}  # a narrow terminal must not cut ids in JSON
    added = CliRunner().invoke(rollcall, ["schedule", "add", "--meeting-id", MEETING, "--at", "+600"], env=env)
    assert added.exit_code == 0, added.output
    sid = added.stdout.split()[1].rstrip(":")
    listed = json.loads(CliRunner().invoke(rollcall, ["schedule", "list", "--json"], env=env).stdout)
    (row,) = listed["schedules"]
    assert row["id"] == sid and row["meeting_id"] == MEETING and row["status"] == "scheduled" and row["bots"] == []
    assert "bots" not in listed
    status = json.loads(CliRunner().invoke(rollcall, ["status", "--json"], env=env).stdout)
    assert status["schedules"] == listed["schedules"] and status["bots"] == []
    cancelled = CliRunner().invoke(rollcall, ["schedule", "cancel", row["id"]], env=env)
    assert cancelled.exit_code == 0, cancelled.output


def test_limits_as_json_has_every_category(redis_server):
    env = {"REDIS_URL": redis_server.url, "ZOOM_ACCOUNT_ID": "acct", "ZOOM_CLIENT_ID": "id",
           "ZOOM_CLIENT_SECRET": "secret", "ZOOM_PLAN": "pro"}
    got = CliRunner().invoke(rollcall, ["limits", "--json"], env=env)
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    assert doc["account"] == "acct" and doc["plan"] == "pro"
    assert {c["category"] for c in doc["categories"]} >= {"light", "medium", "heavy"}
    assert all(c["calls_today"] == 0 for c in doc["categories"])
