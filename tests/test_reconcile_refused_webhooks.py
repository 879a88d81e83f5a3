"""Webhook deliveries the receiver refuses are lost for good (Zoom never retries a 4xx), so reconciliation
makes up for them: the meeting a refused delivery names is looked up through the API later, queued once
Zoom says it has ended, waited for while it runs, and forgotten when Zoom never knows it."""
from __future__ import annotations

import time

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from analysis.scenario import Scenario
from orchestrator import keys
from orchestrator.server.app import create_app
from orchestrator.emulator.data import BotStay, meeting_from_scenario
from orchestrator.zoom.rate_limits import Governor, plan_limits
from orchestrator.reconciliation.queue import ReconcileQueue
from orchestrator.reconciliation.reconciler import Reconciler
from orchestrator.report_store import ReportStore
from orchestrator.settings import Settings
from orchestrator.reconciliation.hints import HINT_TTL_S
from orchestrator.zoom.api import ZoomApi
from orchestrator.emulator.server import EmulatorServer, ZoomEmulator
from orchestrator.zoom.oauth import ServerToServerToken
from tests.test_reconciliation import BOT_JOIN, BOT_KEY, BOT_LEAVE, DOC
from tests.zoom_cloud import bot_report

SECRET = "zoom-webhook-secret"


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def bot_saw(tmp_path_factory):
    return bot_report(DOC, tmp_path_factory.mktemp("bot"), join_s=BOT_JOIN, leave_s=BOT_LEAVE, customer_key=BOT_KEY)


@pytest.fixture()
def zoom(redis_client):
    """The emulator with the scenario's meeting, Rollcall's receiver and a reconciler, on one clock."""
    meeting = meeting_from_scenario(Scenario.model_validate(DOC), bot=BotStay(BOT_KEY, BOT_JOIN, BOT_LEAVE))
    emu = ZoomEmulator([meeting])
    clock = Clock()
    web = TestClient(create_app(Settings(ZOOM_WEBHOOK_SECRET_TOKEN=SECRET), redis_client, clock=clock))
    with EmulatorServer(emu) as server, httpx.Client(timeout=5) as http:
        token = ServerToServerToken(http, server.oauth_url, emu.account_id, emu.client_id, SecretStr(emu.client_secret))
        api = ZoomApi(http, server.api_url, token, Governor(redis_client, emu.account_id, plan_limits("business")))
        queue = ReconcileQueue(redis_client, clock=clock)
        yield emu, meeting, web, Reconciler(api, ReportStore(redis_client), queue, clock=clock), clock


def deliver(emu: ZoomEmulator, web: TestClient, envelope: dict, *, timestamp: float, secret: str = SECRET) -> int:
    return emu.deliver_webhook("/webhooks/zoom", envelope, secret, timestamp=int(timestamp), client=web).status_code


def test_a_refused_meeting_ended_is_reconciled_through_the_api(redis_client, zoom, bot_saw):
    emu, meeting, web, reconciler, clock = zoom
    ReportStore(redis_client).save_bot_report(bot_saw, job_id="job-42")
    assert deliver(emu, web, emu.meeting_ended(meeting.uuid), timestamp=clock.t - 600) == 401  # skewed clock
    assert reconciler.run().done == 0  # Zoom is asked a minute later, not at once
    clock.t += 61
    summary = reconciler.run()
    assert (summary.done, summary.failed, summary.later) == (1, 0, 1)  # and a second pass, as for meeting.ended
    record = ReportStore(redis_client).record(meeting.uuid)
    assert record["meeting"]["source"]["end"] == "zoom" and len(record["participants"]) == 5
    assert emu.stats.endpoints["past_meeting"] == 1
    # the same meeting named by another refused delivery: already reconciled, so only forgotten
    assert deliver(emu, web, emu.meeting_ended(meeting.uuid), timestamp=clock.t + 900) == 401
    clock.t += 61
    assert reconciler.run().done == 0
    assert redis_client.zcard(keys.WEBHOOK_HINTS) == 0 and emu.stats.endpoints["past_meeting"] == 2


def test_a_hint_for_a_meeting_still_running_waits_and_a_refused_end_brings_it_forward(redis_client, zoom):
    emu, meeting, web, reconciler, clock = zoom
    end, meeting.end_time = meeting.end_time, None  # still running
    joined = {"event": "meeting.participant_joined", "event_ts": int(clock.t * 1000), "payload": {"object": {
        "uuid": meeting.uuid, "id": meeting.id, "participant": {"user_id": "1", "email": "ana@example.org"}}}}
    assert deliver(emu, web, joined, timestamp=clock.t, secret="rotated-secret") == 401  # an old secret
    looks = []
    for _ in range(3):
        clock.t = redis_client.zscore(keys.WEBHOOK_HINTS, meeting.uuid)
        summary = reconciler.run()
        assert (summary.done, summary.failed, summary.left) == (0, 0, 0)  # nothing queued, nothing failed
        looks.append(redis_client.zscore(keys.WEBHOOK_HINTS, meeting.uuid) - clock.t)
    assert looks == [900, 1800, 3600]  # Zoom answers 3001 until it ends: asked again, less and less often
    meeting.end_time = end
    assert deliver(emu, web, emu.meeting_ended(meeting.uuid), timestamp=clock.t - 3600) == 401
    assert redis_client.zscore(keys.WEBHOOK_HINTS, meeting.uuid) == clock.t + 60  # not in an hour
    clock.t += 60
    assert reconciler.run().done == 1


def test_a_forged_meeting_costs_a_few_lookups_and_is_forgotten_never_failed(redis_client, zoom):
    emu, _, web, reconciler, clock = zoom
    forged = {"event": "meeting.ended", "payload": {"object": {"uuid": "Zm9yZ2VkAAAAAAAAAAAAAA=="}}}
    assert web.post("/webhooks/zoom", json=forged).status_code == 401  # not even signed
    first = clock.t
    while redis_client.zcard(keys.WEBHOOK_HINTS):
        clock.t = redis_client.zscore(keys.WEBHOOK_HINTS, "Zm9yZ2VkAAAAAAAAAAAAAA==")
        assert reconciler.run().failed == 0
    # looked up after 1, 15, 30 … minutes, then every six hours: about a dozen Light calls in two days
    assert clock.t - first >= HINT_TTL_S and emu.stats.endpoints["past_meeting"] <= 14
    assert redis_client.hlen(keys.RECONCILE_FAILED) == 0 and redis_client.zcard(keys.RECONCILE_PENDING) == 0
    assert redis_client.hlen(keys.WEBHOOK_HINTS_SEEN) == 0
