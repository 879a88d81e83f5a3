"""Acceptance 1 of the compliance issue: a generated 10-minute training with six attendees (one joins
6 minutes late, one leaves early, one never answers roll call, one keeps the camera off, one drops for
20 s and comes back, one does everything right) replayed through the whole pipeline: each reaches
at_risk at the right moment of media time, the host gets one private message per transition, and the
final compliance and exceptions files are exactly right."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta

import pytest
import yaml

from bot.simulator.replay import replay

POLICY = {"name": "strict", "min_presence_share": 0.8, "max_late_join_s": 300, "max_early_leave_s": 120,
          "min_camera_share": 0.5, "grace": {"drop_s": 10}, "notify": {"min_interval_s": 5},
          "roll_call": {"every_s": 240, "first_at_s": 120, "response_window_s": 60, "max_missed": 1}}
ANSWERS = {"after_s": 8, "text": "Here!", "to": "bot"}


def training() -> dict:
    people = [("host", "Dana Host", "host"), ("ok", "Olga Ok", "attendee"), ("late", "Lars Late", "attendee"),
              ("early", "Eve Early", "attendee"), ("mute_rc", "Max Silent", "attendee"),
              ("no_cam", "Nina Nocam", "attendee"), ("drop", "Dirk Drop", "attendee")]
    participants = [{"key": k, "name": n, "role": r, **({"reply_to_prompt": ANSWERS} if k not in ("host", "mute_rc") else {})}
                    for k, n, r in people]
    events = [{"t": 0, "type": "join", "who": "host"}]
    for k in ("ok", "early", "mute_rc", "no_cam", "drop"):
        events.append({"t": 0, "type": "join", "who": k})
        if k != "no_cam":
            events.append({"t": 0, "type": "video_on", "who": k})
    events += [{"t": 200, "type": "leave", "who": "drop"}, {"t": 220, "type": "join", "who": "drop"},
               {"t": 221, "type": "video_on", "who": "drop"},
               {"t": 250, "type": "rename", "who": "ok", "name": "Olga O. (Sales)"},  # answers still count
               {"t": 360, "type": "join", "who": "late"}, {"t": 361, "type": "video_on", "who": "late"},
               {"t": 420, "type": "leave", "who": "early"}, {"t": 600, "type": "end"}]
    return {"meeting": {"id": "85000000701", "topic": "Mandatory safety training", "start": "2026-11-23T09:00:00Z",
                        "duration_s": 600, "policy": "strict.yaml"},
            "participants": participants, "events": events}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("training")
    (d / "strict.yaml").write_text(yaml.safe_dump(POLICY))
    (d / "training.yaml").write_text(yaml.safe_dump(training(), sort_keys=False))
    result = replay(d / "training.yaml", d / "out")
    return d / "out", result


def test_each_reaches_at_risk_at_the_right_moment_and_the_host_hears_once_per_change(run):
    out, _ = run
    log = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    changes = [(r["key"], r["t"], r["after"]) for r in log if r["kind"] == "compliance"]
    # evaluated with each live snapshot (every second, at x.1 s here): the first one after each moment
    assert changes == [
        ("late", 10.1, "at_risk"),  # not here beyond the 10 s grace
        ("no_cam", 60.1, "at_risk"),  # a minute present with the camera off
        ("late", 120.1, "failed"),  # 80 % of the session out of reach
        ("mute_rc", 180.1, "at_risk"),  # the first roll call's minute over, unanswered
        ("drop", 210.1, "at_risk"), ("drop", 220.1, "on_track"),  # gone 20 s: at risk, then back
        ("no_cam", 300.1, "failed"),  # half the session with the camera on out of reach
        ("mute_rc", 420.1, "failed"),  # a second roll call missed
        ("early", 430.1, "at_risk"),  # left at 7:00
        ("early", 540.1, "failed")]  # 80 % out of reach
    said = [r for r in log if r["kind"] == "bot_chat"]
    prompts = [r["t"] for r in said if r["to"] == "everyone"]
    to_host = [r for r in said if r["to"] == "host"]
    assert prompts == [120.1, 360.1]  # posted with the first snapshot at or after 2:00 and 6:00
    assert len(to_host) == len([c for c in changes if c[2] != "on_track"])  # one message per transition
    assert "Lars Late: at risk (not here yet)" in to_host[0]["text"]
    assert all(r["text"].count(":") >= 1 and "@" not in r["text"] for r in to_host)
    live = [json.loads(line) for line in (out / "live.jsonl").read_text().splitlines()]
    at_200 = next(s for s in live if s["t"] == 200.1)
    status = {p["key"]: p["compliance"] for p in at_200["participants"]}
    assert status == {"host": None, "ok": "on_track", "early": "on_track", "mute_rc": "at_risk",
                      "no_cam": "at_risk", "drop": "on_track"}  # "late" is not in the meeting (no row yet)


def test_the_final_compliance_and_exceptions_are_exactly_right(run):
    out, result = run
    verdicts = {p.key: p.compliance.status for p in result.report.participants if p.compliance is not None}
    assert verdicts == {"ok": "passed", "late": "failed", "early": "failed", "mute_rc": "failed", "no_cam": "failed",
                        "drop": "passed"}
    ok = next(p for p in result.report.participants if p.key == "ok")
    assert [(c.name, c.status) for c in ok.compliance.checks] == [
        ("presence", "pass"), ("late_join", "pass"), ("early_leave", "pass"), ("camera", "pass"), ("roll_call", "pass")]
    rows = json.loads((out / "exceptions.json").read_text())
    assert {(r["key"], r["rule"], r["by"], r["unit"]) for r in rows} == {
        ("late", "presence", 240.0, "s"), ("late", "late_join", 60.0, "s"), ("early", "presence", 60.0, "s"),
        ("early", "early_leave", 60.0, "s"), ("mute_rc", "roll_call", 2.0, "prompts"), ("no_cam", "camera", 0.5, "share")}
    with (out / "exceptions.csv").open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [(r["name"], r["rule"]) for r in table] == [(r["name"], r["rule"]) for r in rows]
    assert {r["name"] for r in table} == {"Lars Late", "Eve Early", "Max Silent", "Nina Nocam"}


def test_scores_are_deterministic_bounded_and_carry_their_components(run, tmp_path):
    out, first = run
    again = replay(out.parent / "training.yaml", tmp_path / "again").report
    scored = [p for p in first.report.participants if p.attention is not None]
    assert [(p.key, p.attention_score, p.engagement_score) for p in scored] == [
        (p.key, p.attention_score, p.engagement_score) for p in again.participants if p.attention is not None]
    for p in scored:
        assert 0 <= p.attention_score <= 1 and 0 <= p.engagement_score <= 1
        for comps in (p.attention, p.engagement):
            assert sum(comps.weights.values()) == pytest.approx(1.0, abs=1e-3)
            values = comps.model_dump()
            assert all(0 <= values[name] <= 1 for name in ("presence_share", "camera_share", "interaction", "speaking",
                                                           "talk_component", "spread", "nonverbal_component")
                       if name in values)
    by_key = {p.key: p for p in scored}
    assert by_key["ok"].attention.responsiveness == 1.0  # answered both roll calls
    assert by_key["mute_rc"].attention.responsiveness == 0.0  # answered none
    assert by_key["late"].attention.responsiveness == 1.0  # asked once while present (6:00), answered
    assert by_key["ok"].attention_score > by_key["mute_rc"].attention_score


def test_the_host_can_get_a_periodic_summary(tmp_path):
    policy = {**POLICY, "notify": {"min_interval_s": 5, "summary_every_s": 120}}
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(policy))
    (tmp_path / "training.yaml").write_text(yaml.safe_dump(training(), sort_keys=False))
    replay(tmp_path / "training.yaml", tmp_path / "out")
    log = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    summaries = [r for r in log if r["kind"] == "bot_chat" and r["to"] == "host" and " here · " in r["text"]]
    assert [r["t"] for r in summaries] == [120.1, 240.1, 360.1, 480.1]
    assert summaries[1]["text"] == "Rollcall · 4:00 · 6 here · 3 on track, 2 at risk, 1 failed · 6 not yet spoken"


def test_the_hr_system_gets_the_training_outcome_signed_when_the_meeting_ends(run, redis_client):
    import httpx

    from orchestrator import keys
    from orchestrator.dispatch.dispatcher import Dispatcher
    from orchestrator.dispatch.launchers import NoopLauncher
    from orchestrator.outbound import OutboundWebhooks, sign
    from orchestrator.dispatch.schedule_store import Schedule, ScheduleStore

    _, result = run
    report = result.report.model_dump(mode="json")
    start = result.report.meeting.started_at
    t0 = datetime.fromisoformat(start.replace("Z", "+00:00"))
    store = ScheduleStore(redis_client, clock=lambda: t0.timestamp() + 1)
    sid, _ = store.add(Schedule(meeting_id="85000000701", kind="scenario", scenario="/x.yaml", start_at=t0,
                                join_at=t0, end_at=t0 + timedelta(seconds=600)))
    store.take_due()
    redis_client.rpush(keys.schedule_jobs(sid), "job-1")
    redis_client.hset(keys.bot("job-1"), mapping={"status": "finished", "meeting_id": "85000000701"})
    redis_client.hset(keys.bot_reports("85000000701"), f"{start}|job-1", json.dumps(report))
    got = []
    with httpx.Client(transport=httpx.MockTransport(lambda req: got.append(req) or httpx.Response(204))) as http:
        out = OutboundWebhooks(["https://hr.example/rollcall"], "hr-secret", redis_client, http)
        d = Dispatcher(redis_client, NoopLauncher(), clock=lambda: t0.timestamp() + 700, outbound=out)
        d.finalize()
        d.finalize()  # once only
    (req,) = got
    ts = req.headers["x-rollcall-timestamp"]
    assert req.headers["x-rollcall-signature"] == sign("hr-secret", ts, req.content)
    body = json.loads(req.content)
    assert body["event"] == "training.compliance"
    data = body["data"]
    assert (data["passed"], data["failed"]) == (2, 4)
    failed = {a["name"]: sorted(f["rule"] for f in a["failed"]) for a in data["attendees"] if a["status"] == "failed"}
    assert failed == {"Lars Late": ["late_join", "presence"], "Eve Early": ["early_leave", "presence"],
                      "Max Silent": ["roll_call"], "Nina Nocam": ["camera"]}
