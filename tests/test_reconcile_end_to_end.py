"""From Zoom's meeting.ended to the final record: the signed webhook is queued, the job reconciles against
the emulator using the bot's stored report, the record is stored and delivered, signed, to a receiver;
and the same through the command line (`rollcall reconcile`, `rollcall report`)."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import SecretStr

from analysis.scenario import Scenario
from orchestrator import keys
from orchestrator.server.app import create_app
from orchestrator.bench.reconcile import minimum_calls
from orchestrator.emulator.data import BotStay, meeting_from_scenario, synthetic_meetings
from orchestrator.emulator.rules import ALL_SCOPES
from orchestrator.outbound import OutboundWebhooks
from orchestrator.zoom.rate_limits import Category, Governor, plan_limits
from orchestrator.reconciliation.queue import ReconcileJob, ReconcileQueue
from orchestrator.reconciliation.reconciler import Reconciler
from orchestrator.redis_conn import free_port, open_redis
from orchestrator.reconciliation.registration import register_attendee
from orchestrator.report_store import ReportStore
from orchestrator.settings import Settings
from orchestrator.webhooks.events import process_pending_once
from orchestrator.zoom.api import ZoomApi
from orchestrator.emulator.server import EmulatorServer, LoopbackServer, ZoomEmulator
from orchestrator.zoom.oauth import ServerToServerToken
from tests.test_reconciliation import BOT_JOIN, BOT_KEY, BOT_LEAVE, DOC
from tests.zoom_cloud import bot_report

ZOOM_SECRET = "zoom-webhook-secret"
OUT_SECRET = "hr-system-secret"


@pytest.fixture(scope="module")
def bot_saw(tmp_path_factory):
    return bot_report(DOC, tmp_path_factory.mktemp("bot"), join_s=BOT_JOIN, leave_s=BOT_LEAVE, customer_key=BOT_KEY)


@pytest.fixture()
def emulator(bot_saw):
    meeting = meeting_from_scenario(Scenario.model_validate(DOC), bot=BotStay(BOT_KEY, BOT_JOIN, BOT_LEAVE))
    emu = ZoomEmulator([meeting])
    with EmulatorServer(emu) as server:
        yield emu, server, meeting


class Receiver:
    """An HR system's endpoint: fails the first delivery with a 503, then keeps what it is sent."""

    def __init__(self) -> None:
        self.got: list[tuple[dict, bytes]] = []
        self.app = FastAPI()
        self.calls = 0

        @self.app.post("/hook")
        async def hook(request: Request) -> JSONResponse:
            self.calls += 1
            if self.calls == 1:
                return JSONResponse({"error": "busy"}, status_code=503)
            self.got.append((dict(request.headers), await request.body()))
            return JSONResponse({"ok": True})


def test_meeting_ended_webhook_leads_to_a_stored_and_delivered_record(redis_client, emulator, bot_saw):
    emu, server, meeting = emulator
    store = ReportStore(redis_client)
    store.save_bot_report(bot_saw, job_id="job-42")
    settings = Settings(ZOOM_WEBHOOK_SECRET_TOKEN=ZOOM_SECRET, ROLLCALL_RECONCILE_DELAY_S=0)
    with TestClient(create_app(settings, redis_client)) as web:
        resp = emu.deliver_webhook("/webhooks/zoom", emu.meeting_ended(meeting.uuid), ZOOM_SECRET, client=web)
    assert resp.json() == {"status": "accepted"}
    queue = ReconcileQueue(redis_client)
    process_pending_once(redis_client, queue, settings)
    receiver = Receiver()
    with LoopbackServer(receiver.app) as hr, httpx.Client(timeout=5) as http:
        token = ServerToServerToken(http, server.oauth_url, emu.account_id, emu.client_id, SecretStr(emu.client_secret))
        api = ZoomApi(http, server.api_url, token, Governor(redis_client, emu.account_id, plan_limits("business")))
        outbound = OutboundWebhooks([hr.base_url + "/hook"], OUT_SECRET, redis_client, http, backoff_s=0.01)
        summary = Reconciler(api, store, queue, outbound).run()
    assert (summary.done, summary.failed, summary.left, summary.later) == (1, 0, 0, 1)
    # Zoom has no "report complete": a second pass is queued for six hours later
    (uuid, due), = redis_client.zrange(keys.RECONCILE_PENDING, 0, -1, withscores=True)
    assert uuid == meeting.uuid and due == pytest.approx(time.time() + 6 * 3600, abs=60)
    # meeting.ended gave the window: one Heavy report call and nothing else
    assert dict(emu.stats.calls) == {"heavy": 1}
    record = store.record(meeting.uuid)
    assert record == store.record(meeting.id)  # by number: the latest instance
    assert record["meeting"]["source"] == {"start": "zoom", "end": "webhook", "participants": "zoom_report",
                                           "leave_times_from_webhooks": 0, "pass": 1}
    eve = next(p for p in record["participants"] if p["name"] == "Eve Early")
    assert eve["present_s"] == 1620.0 and eve["coverage"] == pytest.approx(1380 / 1620, abs=1e-4)
    # delivered, signed, after one retry; both attempts recorded
    (headers, body), = receiver.got
    ts = headers["x-rollcall-timestamp"]
    expected = "v1=" + hmac.new(OUT_SECRET.encode(), b"v1:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-rollcall-signature"], expected)
    sent = json.loads(body)
    assert sent["event"] == "meeting.reconciled" and sent["data"]["meeting"]["uuid"] == meeting.uuid
    attempts = [f for _, f in redis_client.xrange(keys.OUTBOUND_DELIVERIES)]
    assert [(a["attempt"], a["outcome"], a["ok"]) for a in attempts] == [("1", "HTTP 503", "0"), ("2", "HTTP 200", "1")]
    assert all(a["host"] == f"127.0.0.1:{hr.port}" for a in attempts)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_command_line_reconciles_and_prints_the_record(redis_server, redis_client, emulator, bot_saw, tmp_path):
    emu, server, meeting = emulator
    ReportStore(redis_client).save_bot_report(bot_saw, job_id="job-42")
    env = {**os.environ, "REDIS_URL": redis_server.url, "ZOOM_API_URL": server.api_url,
           "ZOOM_OAUTH_URL": server.oauth_url, "ZOOM_ACCOUNT_ID": emu.account_id, "ZOOM_CLIENT_ID": emu.client_id,
           "ZOOM_CLIENT_SECRET": emu.client_secret}
    done = _cli(["reconcile", meeting.id], env)  # a meeting number: every past instance
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("reconciled 1, failed 0, left 0, queued for later 0; Zoom calls 3 "
                                  "(heavy 1, light 1, medium 1), 429s 0")
    assert emu.client_secret not in done.stdout + done.stderr
    shown = _cli(["report", meeting.id], env)
    record = json.loads(shown.stdout)
    assert record["meeting"]["uuid"] == meeting.uuid and len(record["participants"]) == 5
    assert not any("@" in line for line in done.stderr.splitlines())  # no e-mail in what it prints
    again = _cli(["reconcile", meeting.uuid], env)
    assert "already reconciled (use --force to redo)" in again.stderr and again.returncode == 0
    unknown = _cli(["report", "no-such-meeting"], env)
    assert unknown.returncode == 1 and "no final record for no-such-meeting" in unknown.stderr
    capped = _cli(["reconcile", meeting.uuid, "--force"], {**env, "ZOOM_DAILY_CAP": "1"})
    assert capped.returncode == 75
    assert "1 meetings are left and resume after" in capped.stderr.replace("\n", " ")
    missing = _cli(["reconcile", "--pending"], {k: v for k, v in env.items() if k != "ZOOM_CLIENT_SECRET"})
    assert missing.returncode == 2 and "set ZOOM_CLIENT_SECRET" in missing.stderr


def test_registration_binds_an_outside_attendee_and_an_app_without_the_report_scope_still_reconciles(
        redis_client, bot_saw, tmp_path):
    """Xena registers (our registration, her personal link); the meeting's rows carry her registrant id,
    and the record names her customer key. The app lacks ``report:read:admin`` (Zoom answers 400, code
    4700): past participants are used, asked for registrant ids (Zoom leaves them out otherwise)."""
    emu = ZoomEmulator([meeting_from_scenario(Scenario.model_validate(DOC))],
                       scopes=ALL_SCOPES - {"report:read:admin"})
    with EmulatorServer(emu) as server, httpx.Client(timeout=5) as http:
        token = ServerToServerToken(http, server.oauth_url, emu.account_id, emu.client_id, SecretStr(emu.client_secret))
        api = ZoomApi(http, server.api_url, token, Governor(redis_client, emu.account_id, plan_limits("business")))
        store = ReportStore(redis_client)
        reg = register_attendee(api, store, DOC["meeting"]["id"], "emp-2004", "Xena", "xena@outside.org", "Guest")
        assert reg.join_url and store.bindings(DOC["meeting"]["id"]) == {reg.registrant_id: "emp-2004"}
        doc = {**DOC, "participants": [{**p, "registrant_id": reg.registrant_id} if p["key"] == "p4" else p
                                       for p in DOC["participants"]]}
        meeting = meeting_from_scenario(Scenario.model_validate(doc), uuid="second-instance==",
                                        bot=BotStay(BOT_KEY, BOT_JOIN, BOT_LEAVE))
        meeting.rows = [{**r, "customer_key": ""} if r["name"] == "Rollcall" else r for r in meeting.rows]
        emu.add_meeting(meeting)
        store.save_bot_report(bot_saw, job_id="job-42")
        queue = ReconcileQueue(redis_client)
        queue.add(ReconcileJob(uuid=meeting.uuid))
        summary = Reconciler(api, store, queue).run()
    assert (summary.done, summary.failed) == (1, 0)
    assert emu.stats.endpoints["past_participants"] == 1 and emu.stats.endpoints["report_participants"] == 0
    record = store.record(meeting.uuid)
    assert record["meeting"]["source"]["participants"] == "zoom_past_participants"
    xena = next(p for p in record["participants"] if p["identity"]["registrant_id"] == reg.registrant_id)
    assert xena["customer_key"] == "emp-2004" and xena["present_s"] == 1200.0
    # without customer keys the bot's row is still found (anonymous, under its name) and is nobody's presence
    assert len(record["participants"]) == 5 and record["observer"]["clock"] == ["zoom_bot_row"]
    assert record["observer"]["observed"] == [{"start_s": 120.0, "end_s": 1500.0}]


def test_rollcall_serve_reconciles_on_meeting_ended_with_the_embedded_redis(emulator, bot_saw, tmp_path):
    """The whole loop through processes: `rollcall serve` (no REDIS_URL: its own redis-server under the
    data directory) takes Zoom's signed meeting.ended, reconciles it against the emulator, and
    `rollcall report` on the same data directory prints the record."""
    emu, server, meeting = emulator
    data = tmp_path / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update({"ZOOM_API_URL": server.api_url, "ZOOM_OAUTH_URL": server.oauth_url, "ZOOM_ACCOUNT_ID": emu.account_id,
                "ZOOM_CLIENT_ID": emu.client_id, "ZOOM_CLIENT_SECRET": emu.client_secret,
                "ZOOM_WEBHOOK_SECRET_TOKEN": ZOOM_SECRET, "ROLLCALL_RECONCILE_DELAY_S": "0"})
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--data-dir", str(data)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.1)
        with open_redis(None, data) as r:  # the same embedded server, found through the data directory
            ReportStore(r).save_bot_report(bot_saw, job_id="job-42")
        t0 = time.monotonic()
        resp = emu.deliver_webhook(base + "/webhooks/zoom", emu.meeting_ended(meeting.uuid), ZOOM_SECRET)
        assert resp.status_code == 200 and time.monotonic() - t0 < 3
        while (shown := _cli(["report", meeting.uuid, "--data-dir", str(data)], env)).returncode != 0:
            assert time.monotonic() - t0 < 30, shown.stderr
            time.sleep(0.3)
        record = json.loads(shown.stdout)
        assert record["meeting"]["source"]["end"] == "webhook" and len(record["participants"]) == 5
    finally:
        proc.terminate()
        proc.wait(15)
    assert not (data / "redis" / "port").exists()  # serve started the embedded Redis, and stopped it


@pytest.mark.parametrize("emulator_kwargs, refused", [
    ({"scopes": {"user:read:admin"}}, "does not contain scopes:[meeting:read:admin]"),  # neither list's scope
    ({"plan": "free"}, "Only available for paid account"),  # neither list on a free plan
])
def test_when_zoom_refuses_both_lists_the_run_stops_saying_why_and_loses_nothing(
        redis_client, emulator_kwargs, refused):
    meeting = meeting_from_scenario(Scenario.model_validate(DOC))
    emu = ZoomEmulator([meeting], **emulator_kwargs)
    with EmulatorServer(emu) as server, httpx.Client(timeout=5) as http:
        token = ServerToServerToken(http, server.oauth_url, emu.account_id, emu.client_id, SecretStr(emu.client_secret))
        api = ZoomApi(http, server.api_url, token, Governor(redis_client, emu.account_id, plan_limits(
            emulator_kwargs.get("plan", "business"))))
        queue = ReconcileQueue(redis_client)
        for uuid in (meeting.uuid, "another=="):
            queue.add(ReconcileJob(uuid=uuid, meeting_id=meeting.id, start_time="2026-11-20T15:00:00Z",
                                   end_time="2026-11-20T15:30:00Z", source="webhook"))
        summary = Reconciler(api, ReportStore(redis_client), queue).run()
    assert summary.stopped_by == "zoom access" and refused in summary.detail
    assert (summary.done, summary.failed, summary.left) == (0, 0, 2)  # both wait for an admin, unfailed
    assert emu.stats.endpoints["report_participants"] + emu.stats.endpoints["past_participants"] == 0


def test_the_call_budget_counts_the_rows_zoom_allows_per_page(redis_client):
    """A participants report paged at fewer rows than 300 costs more calls, and the minimum says so."""
    meetings = synthetic_meetings(20, 10, start=datetime(2026, 10, 1, tzinfo=UTC))  # 11 rows each
    emu = ZoomEmulator(meetings, page_limits={"report_participants": 5})
    with EmulatorServer(emu) as server, httpx.Client(timeout=5) as http:
        token = ServerToServerToken(http, server.oauth_url, emu.account_id, emu.client_id, SecretStr(emu.client_secret))
        api = ZoomApi(http, server.api_url, token, Governor(redis_client, emu.account_id, plan_limits("business")))
        queue = ReconcileQueue(redis_client)
        queue.add_many([m.uuid for m in meetings])
        assert Reconciler(api, ReportStore(redis_client), queue).run().done == 20
    assert api.pages_needed(Category.HEAVY, 11) == 3
    assert emu.stats.total == minimum_calls(20, 10, api.page_size(Category.HEAVY)) == 20 * (1 + 3)
    assert emu.stats.endpoints["report_participants"] == 20 * 3 and emu.stats.page_sizes[:2] == [300, 5]
