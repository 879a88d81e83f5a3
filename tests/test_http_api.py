"""The orchestrator's API: closed without a token, refuses wrong ones, schedules round-trip (passcodes
never come back), bots and records are readable, and the OpenAPI describes it."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from fastapi.testclient import TestClient

from orchestrator import keys
from orchestrator.server.app import create_app
from orchestrator.report_store import ReportStore
from orchestrator.settings import Settings

TOKEN = "admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def api(redis_client):
    with TestClient(create_app(Settings(ROLLCALL_ADMIN_TOKEN=TOKEN), redis_client)) as client:
        yield client


def test_the_api_is_closed_without_a_token_and_refuses_wrong_ones(redis_client, api):
    with TestClient(create_app(Settings(), redis_client)) as closed:
        assert closed.get("/schedules", headers=AUTH).status_code == 503
    assert api.get("/schedules").status_code == 401
    assert api.get("/schedules", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert api.get("/schedules", headers={"Authorization": f"Bearer {TOKEN}é".encode()}).status_code == 401
    assert api.get("/healthz").status_code == 200  # health and webhooks have their own rules


def test_schedules_round_trip_and_passcodes_are_write_only(api, redis_client):
    at = datetime.now(UTC) + timedelta(hours=2)
    body = {"at": at.isoformat(), "meeting_id": "85012345678", "passcode": "s3cret-pass", "topic": "Safety"}
    made = api.post("/schedules", json=body, headers=AUTH)
    assert made.status_code == 201 and made.json()["new"] is True
    assert api.post("/schedules", json=body, headers=AUTH).json() == {"id": made.json()["id"], "new": False}
    listed = api.get("/schedules", headers=AUTH)
    assert "s3cret-pass" not in listed.text
    (s,) = listed.json()
    assert (s["meeting_id"], s["topic"], s["status"], s["kind"]) == ("85012345678", "Safety", "scheduled", "zoom")
    assert datetime.fromisoformat(s["join_at"]) == at.replace(microsecond=at.microsecond) - timedelta(seconds=60)
    assert api.delete(f"/schedules/{s['id']}", headers=AUTH).status_code == 204
    assert api.get("/schedules", headers=AUTH).json()[0]["status"] == "cancelled"
    assert api.delete("/schedules/nope", headers=AUTH).status_code == 404
    bad = api.post("/schedules", json={"at": at.isoformat(), "meeting_id": "12ab"}, headers=AUTH)
    assert bad.status_code == 422
    both = api.post("/schedules", json={"at": at.isoformat()}, headers=AUTH)
    assert both.status_code == 422 and "either meeting_id or scenario" in both.text


def test_a_scenario_schedule_bots_and_records(api, redis_client, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"meeting": {"id": "85000000501", "start": "2026-11-22T10:00:00Z",
                                                "duration_s": 30}, "participants": [], "events": []}))
    at = datetime.now(UTC) + timedelta(minutes=5)
    made = api.post("/schedules", json={"at": at.isoformat(), "scenario": str(path)}, headers=AUTH).json()
    (s,) = api.get("/schedules", headers=AUTH).json()
    assert s["kind"] == "scenario" and datetime.fromisoformat(s["end_at"]) - datetime.fromisoformat(s["start_at"]) == timedelta(seconds=30)
    broken = api.post("/schedules", json={"at": at.isoformat(), "scenario": str(tmp_path / "none.yaml")}, headers=AUTH)
    assert broken.status_code == 422 and "file not found" in broken.text
    redis_client.rpush(keys.schedule_jobs(made["id"]), "job-1")
    redis_client.hset(keys.bot("job-1"), mapping={"status": "running", "meeting_id": "85000000501", "attempt": 1})
    redis_client.set(keys.bot_lease("job-1"), "1", ex=15)
    assert api.get("/bots/job-1", headers=AUTH).json() == {
        "job": "job-1", "status": "running", "meeting_id": "85000000501", "attempt": "1", "alive": True}
    assert [b["job"] for b in api.get("/bots", headers=AUTH).json()] == ["job-1"]
    assert api.get("/bots/none", headers=AUTH).status_code == 404
    assert api.get("/reports/85000000501", headers=AUTH).status_code == 404
    ReportStore(redis_client).save_record({"meeting": {"id": "85000000501", "uuid": made["id"],
                                                       "started_at": at.isoformat()}, "participants": []})
    assert api.get("/reports/85000000501", headers=AUTH).json()["meeting"]["uuid"] == made["id"]


def test_the_openapi_describes_the_api(api):
    paths = api.get("/openapi.json", headers=AUTH).json()["paths"]  # behind the token, like the rest
    assert {"/schedules", "/schedules/{schedule_id}", "/bots", "/bots/{job_id}", "/reports/{meeting}",
            "/webhooks/zoom"} <= set(paths)
