"""Issue 17, acceptance 3: from a signed ``meeting.rtms_started`` to a stored record, through real Redis,
the real orchestrator process, real `rollcall rtms` workers with the real ``rtms`` module, and loopback
emulators of Zoom's RTMS and REST servers. The worker is SIGKILLed mid-stream: a replacement reconnects
within 20 s and the record marks what nobody saw; a repeated ``rtms_started`` starts no second worker."""
from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import soundfile as sf
from fastapi.testclient import TestClient
from pydantic import SecretStr

from analysis.scenario import Scenario
from conftest import AMI_DIR, require_shared_data
from orchestrator.dispatch.rtms_streams import RtmsStreams
from orchestrator.emulator.data import meeting_from_scenario
from orchestrator.emulator.rtms import RtmsEmulator, StreamScript, rtms_started
from orchestrator.emulator.server import EmulatorServer, ZoomEmulator
from orchestrator.reconciliation.queue import ReconcileQueue
from orchestrator.reconciliation.reconciler import Reconciler
from orchestrator.redis_conn import embedded_url
from orchestrator.report_store import ReportStore
from orchestrator.server.app import create_app
from orchestrator.settings import Settings
from orchestrator.webhooks.events import RTMS_EVENTS, process_pending_once
from orchestrator.zoom.api import ZoomApi
from orchestrator.zoom.oauth import ServerToServerToken
from orchestrator.zoom.rate_limits import Governor, plan_limits
from test_orchestrator_recovery import Orchestrator

LENGTH_S = 24
KILL_AT_S = 8.0
RATE = 16000
MEETING = "85000000417"
UUID = "rtms-e2e-uuid=="
STREAM = "rtms-e2e-stream"
WEBHOOK_SECRET = "zoom-webhook-secret-e2e"
CLIENT_ID, CLIENT_SECRET = "rtms-e2e-client", "rtms-e2e-signing-secret"


def _people(start: datetime) -> Scenario:
    channels = require_shared_data(AMI_DIR) / "channels"
    return Scenario.model_validate({
        "meeting": {"id": MEETING, "topic": "RTMS end to end", "start": start.isoformat(), "duration_s": LENGTH_S},
        "participants": [{"key": "p1", "name": "Fran Host", "role": "host", "audio": str(channels / "source1.wav")},
                         {"key": "p2", "name": "Fiona Attendee", "audio": str(channels / "source3.wav")}],
        "events": [{"t": 0, "type": "join", "who": "p1"}, {"t": 0.5, "type": "join", "who": "p2"}]})


def _stream_script(scenario: Scenario, rows: list[dict], t0_ms: int) -> StreamScript:
    """What Zoom's RTMS servers send of the same meeting: each person's own microphone, the same per-join
    user ids as the REST report's rows, paced in real time."""
    channels = require_shared_data(AMI_DIR) / "channels"
    ids = {r["name"]: int(r["user_id"]) for r in rows}
    audio, people = {}, []
    for p, source, join_s in ((scenario.participants[0], "source1.wav", 0.0),
                              (scenario.participants[1], "source3.wav", 0.5)):
        pcm, rate = sf.read(str(channels / source), dtype="int16")
        assert rate == RATE
        x = np.zeros(LENGTH_S * RATE, dtype=np.int16)
        x[int(join_s * RATE):] = pcm[:LENGTH_S * RATE - int(join_s * RATE)]
        audio[ids[p.name]] = x
        people.append((ids[p.name], p.name, join_s, None))
    return StreamScript(meeting_uuid=UUID, stream_id=STREAM, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                        t0_ms=t0_ms, rate=RATE, participants=tuple(people), audio=audio, speed=1.0, end=6)


def _wait(what, predicate, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while True:
        found = predicate()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_rtms_started_to_record_with_a_killed_worker_replaced_and_no_duplicate(tmp_path, monkeypatch):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    scenario = _people(start)
    zoom_meeting = meeting_from_scenario(scenario, uuid=UUID)
    t0_ms = int(start.timestamp() * 1000)
    emu = ZoomEmulator([zoom_meeting])
    with RtmsEmulator(tmp_path) as rtms_servers, EmulatorServer(emu) as rest:
        monkeypatch.setenv("ZOOM_RTMS_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("ZOOM_RTMS_CLIENT_SECRET", CLIENT_SECRET)
        monkeypatch.setenv("ZM_RTMS_CA", str(rtms_servers.ca_pem_path))
        urls = rtms_servers.add_stream(_stream_script(scenario, zoom_meeting.rows, t0_ms))
        orch = Orchestrator(tmp_path / "data")
        try:
            r = orch.r
            settings = Settings(REDIS_URL=embedded_url(tmp_path / "data"), ZOOM_WEBHOOK_SECRET_TOKEN=WEBHOOK_SECRET,
                                ROLLCALL_RECONCILE_DELAY_S=0, ROLLCALL_RTMS_ACCOUNTS="emu-account")
            streams = RtmsStreams(r, accounts=settings.rtms_account_ids, asr=False)

            def deliver(envelope: dict) -> None:
                with TestClient(create_app(settings, r)) as web:
                    assert ZoomEmulator.deliver_webhook("/webhooks/zoom", envelope, WEBHOOK_SECRET,
                                                        client=web).status_code == 200
                process_pending_once(r, ReconcileQueue(r), settings, on_meeting_change=lambda env: streams.on_webhook(
                    env) if env.get("event") in RTMS_EVENTS else None)

            deliver(rtms_started(UUID, STREAM, urls, meeting_id=int(MEETING), event_ts=t0_ms))
            first = _wait("the worker", lambda: [b for b in orch.bots(MEETING) if b.get("joined_at")], 30)[0]
            _wait("the stream to reach the kill", lambda: time.time() * 1000 >= t0_ms + KILL_AT_S * 1000, 20)
            os.kill(int(first["handle"]), signal.SIGKILL)
            killed = time.time()
            # Zoom announces the same stream again (a retried event): no second worker
            deliver(rtms_started(UUID, STREAM, urls, meeting_id=int(MEETING), event_ts=t0_ms + 1))
            second = _wait("the replacement", lambda: [b for b in orch.bots(MEETING)
                                                       if b.get("attempt") == "2" and b.get("joined_at")], 20)[0]
            replaced_after = float(second["launched_at"]) - killed
            _wait("the stream's end", lambda: orch.bots(MEETING)[-1].get("status") == "finished", LENGTH_S + 30)
            bots = orch.bots(MEETING)
            connections = rtms_servers.connections(STREAM)
            # the meeting ends: Zoom's reports and the workers' reports make the record
            deliver(emu.meeting_ended(UUID))
            queue = ReconcileQueue(r)
            with httpx.Client(timeout=5) as http:
                token = ServerToServerToken(http, rest.oauth_url, emu.account_id, emu.client_id, SecretStr(emu.client_secret))
                api = ZoomApi(http, rest.api_url, token, Governor(r, emu.account_id, plan_limits("business")))
                assert Reconciler(api, ReportStore(r), queue).run().done == 1
            record = ReportStore(r).record(UUID)
        finally:
            orch.stop()
    assert replaced_after < 20 and connections == 2
    assert [(b["attempt"], b["status"]) for b in bots] == [("1", "died"), ("2", "finished")]
    assert all(b.get("transport") == "rtms" for b in bots)
    assert record["observer"]["transports"] == ["rtms"] and record["observer"]["clock"] == ["rtms_stream"]
    # what neither worker saw, between the kill and the reconnection, is a gap in the record
    gap, = [g for g in record["observer"]["gaps"] if g["end_s"] - g["start_s"] > 0.5]
    assert KILL_AT_S - 2 <= gap["start_s"] <= KILL_AT_S + 0.5 and gap["end_s"] <= KILL_AT_S + replaced_after + 3
    people = {p["name"]: p for p in record["participants"]}
    assert set(people) == {"Fran Host", "Fiona Attendee"}
    for p in people.values():
        assert p["identity"]["matched_by"] == "user_id"
        assert p["talk_time_s"] > 1.0 and p["hand_raises"] is None
