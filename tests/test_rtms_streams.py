"""RTMS streams on a real Redis: one worker per stream whatever Zoom repeats, a failover takes the new
servers, a stop ends replacements (unless Zoom's rules say reconnect), and the worker's command and Job
are `rollcall rtms` with nothing secret on them."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from kubernetes.client import ApiClient

from orchestrator import keys
from orchestrator.dispatch.dispatcher import NOT_RETRYABLE, DispatchConfig, Dispatcher
from orchestrator.dispatch.k8s_launcher import K8sSettings, KubernetesLauncher
from orchestrator.dispatch.launchers import BotJob, bot_command
from orchestrator.dispatch.rtms_streams import RtmsStreams
from orchestrator.dispatch.schedule_store import Schedule
from test_dispatcher import Clock, FakeLauncher

T0_MS = int(time.time()) * 1000


def started(stream: str = "st1", urls: str = "wss://rtms-1.zoom.example/s", account: str = "acct-1",
            nested: bool = False, event_ts: int = T0_MS) -> dict:
    payload = {"account_id": account, "meeting_uuid": "uu==", "meeting_id": 85020040750, "rtms_stream_id": stream,
               "server_urls": urls}
    return {"event": "meeting.rtms_started", "event_ts": event_ts, "payload": {"object": payload} if nested else payload}


def stopped(stream: str = "st1", reason: int = 6) -> dict:
    return {"event": "meeting.rtms_stopped", "event_ts": T0_MS + 60_000,
            "payload": {"meeting_uuid": "uu==", "rtms_stream_id": stream, "stop_reason": reason}}


def _setup(redis_client, accounts=("acct-1",)):
    clock = Clock()
    clock.t = T0_MS / 1000 + 2
    streams = RtmsStreams(redis_client, accounts=list(accounts), clock=clock)
    launcher = FakeLauncher(clock)
    dispatcher = Dispatcher(redis_client, launcher, DispatchConfig(), clock=clock)
    return clock, streams, launcher, dispatcher


def test_one_worker_per_stream_whatever_zoom_repeats(redis_client):
    clock, streams, launcher, dispatcher = _setup(redis_client)
    assert streams.on_webhook(started()) == "started"
    # a retry (another delivery), the nested form of the same event, and a second orchestrator's hook
    assert streams.on_webhook(started(nested=True)) == "duplicate"
    assert RtmsStreams(redis_client, accounts=["acct-1"], clock=clock).on_webhook(started()) == "duplicate"
    dispatcher.tick()
    dispatcher.tick()
    assert len(launcher.launched) == 1
    job = launcher.launched[0][0]
    s = job.schedule
    assert (job.schedule_id, s.kind, s.meeting_id) == ("rtms-st1", "rtms", "85020040750")
    assert s.start_at == datetime.fromtimestamp(T0_MS / 1000, UTC) and s.rtms.started_ms == T0_MS
    cmd = bot_command(job, "/w/out", python="py")
    assert cmd[:4] == ["py", "-m", "bot.cli", "rtms"]
    assert cmd[cmd.index("--stream-id") + 1] == "st1" and cmd[cmd.index("--started-ms") + 1] == str(T0_MS)
    assert redis_client.hget(keys.rtms_stream("st1"), "status") == "started"


def test_failover_takes_the_new_servers_and_a_stop_ends_replacements(redis_client):
    clock, streams, launcher, dispatcher = _setup(redis_client)
    streams.on_webhook(started())
    dispatcher.tick()
    assert streams.on_webhook(started(urls="wss://rtms-2.zoom.example/s", event_ts=T0_MS + 30_000)) == "failover"
    spec = streams.schedules.get("rtms-st1")
    assert spec.rtms.server_urls == "wss://rtms-2.zoom.example/s" and spec.rtms.started_ms == T0_MS
    # the first worker received the stream (its heartbeat noted when), then its connection dropped (exit 30):
    # the replacement connects to the new servers, and counts on no backlog from before its connection
    redis_client.hset(keys.bot(launcher.launched[0][0].job_id), "joined_at", f"{T0_MS / 1000:.3f}")
    launcher.exits[redis_client.hget(keys.bot(launcher.launched[0][0].job_id), "handle")] = 30
    clock.t += 2  # the monitor's next look
    dispatcher.tick()
    dispatcher.tick()
    assert len(launcher.launched) == 2 and launcher.launched[1][0].attempt == 2
    replacement = bot_command(launcher.launched[1][0], "/w", python="py")
    assert "wss://rtms-2.zoom.example/s" in replacement and "--replacement" in replacement
    assert "--replacement" not in bot_command(launcher.launched[0][0], "/w", python="py")
    # Zoom's rule: a stream stopped for a connection timeout is reconnected, not ended
    assert streams.on_webhook(stopped(reason=11)) == "ignored"
    assert streams.on_webhook(stopped(reason=6)) == "stopped"
    launcher.exits[redis_client.hget(keys.bot(launcher.launched[1][0].job_id), "handle")] = 30
    clock.t += 2
    dispatcher.tick()
    dispatcher.tick()
    assert len(launcher.launched) == 2  # no replacement after the stream's end
    assert streams.on_webhook(started()) == "duplicate"  # a late copy of the start does not revive it


def test_a_stop_before_its_start_and_streams_of_other_accounts(redis_client):
    clock, streams, launcher, dispatcher = _setup(redis_client)
    assert streams.on_webhook(stopped("early")) == "stopped"
    assert streams.on_webhook(started("early")) == "duplicate"
    assert streams.on_webhook(started("other", account="acct-2")) == "ignored"
    assert streams.on_webhook({"event": "meeting.rtms_started", "payload": {"rtms_stream_id": "x"}}) == "ignored"
    assert streams.on_webhook(started("../../etc", account="acct-1")) == "ignored"  # it would name a folder
    dispatcher.tick()
    assert launcher.launched == []
    everyone = RtmsStreams(redis_client, accounts=["*"], clock=clock)
    assert everyone.on_webhook(started("other", account="acct-2")) == "started"


def test_an_rtms_worker_is_its_own_kubernetes_command_and_its_refusals_are_final(redis_client):
    clock, streams, launcher, dispatcher = _setup(redis_client)
    streams.on_webhook(started())
    dispatcher.tick()
    job: BotJob = launcher.launched[0][0]
    k8s = KubernetesLauncher(K8sSettings(redis_url="redis://rollcall-redis:6379/0"), api_client=ApiClient(),
                             status_cache_s=0)
    container = k8s.build_job(job).spec.template.spec.containers[0]
    assert container.command == ["/usr/bin/tini", "--", "rollcall", "rtms"]  # tini forwards SIGTERM to Python
    assert container.args[:2] == ["--job-id", job.job_id]
    assert not any("secret" in a.lower() for a in container.args)
    assert {31, 32} <= NOT_RETRYABLE and 30 not in NOT_RETRYABLE


def test_a_schedule_can_choose_rtms_for_its_meeting(redis_client):
    """A schedule with transport rtms sends no bot; the meeting's stream starts a worker whatever the account
    (none is configured here), with the schedule's ASR choice and training policy."""
    clock, streams, launcher, dispatcher = _setup(redis_client, accounts=())
    start = datetime.fromtimestamp(T0_MS / 1000, UTC)
    planned = Schedule(meeting_id="85020040750", start_at=start, join_at=start, end_at=start + timedelta(hours=1),
                       transport="rtms", asr=False, policy="no-roll-call.yaml", topic="Safety training")
    sid, _ = streams.schedules.add(planned)
    clock.t += 120
    dispatcher.tick()
    assert launcher.launched == [] and streams.schedules.get(sid).status == "scheduled"
    assert streams.on_webhook(started(account="acct-9")) == "started"
    dispatcher.tick()
    (job, _), = launcher.launched
    cmd = bot_command(job, "/w", python="py")
    assert cmd[3] == "rtms" and "--no-asr" in cmd and cmd[cmd.index("--policy") + 1] == "no-roll-call.yaml"
    assert cmd[cmd.index("--duration") + 1] == "3600"  # the training is judged over its planned hour
    assert job.schedule.topic == "Safety training"
    other = started("st2", account="acct-9")
    other["payload"]["meeting_id"] = 85099999999
    assert streams.on_webhook(other) == "ignored"  # a meeting no schedule chose, of an account not configured


def test_a_worker_still_receiving_after_its_stream_stopped_is_told_to_leave_once(redis_client):
    clock, streams, launcher, dispatcher = _setup(redis_client)
    stops: list[str] = []
    launcher.stop = stops.append
    streams.on_webhook(started())
    dispatcher.tick()
    job = launcher.launched[0][0].job_id
    redis_client.hset(keys.bot(job), mapping={"status": "running", "rtms_stream": "st1"})  # as its heartbeat does
    streams.on_webhook(stopped(reason=1))
    for dt in (2, 10, 10):  # within the grace period: Zoom's servers end the stream themselves
        clock.t += dt
        dispatcher.tick()
    assert stops == []
    for dt in (10, 2, 2):
        clock.t += dt
        dispatcher.tick()
    assert stops == [redis_client.hget(keys.bot(job), "handle")]


def test_a_restarted_stream_waits_for_its_predecessor_and_a_cancelled_plan_chooses_nothing(redis_client):
    clock, streams, launcher, dispatcher = _setup(redis_client)
    streams.on_webhook(started())
    dispatcher.tick()
    # the host stops RTMS and starts it again at once: the new stream's worker waits for the old one to leave
    streams.on_webhook(stopped(reason=1))
    assert streams.on_webhook(started("st2")) == "started"
    dispatcher.tick()
    assert len(launcher.launched) == 1 and streams.schedules.get("rtms-st2").status == "scheduled"
    redis_client.delete(keys.meeting_lock("85020040750"))  # the first worker left
    clock.t += 3
    dispatcher.tick()
    assert [j.schedule_id for j, _ in launcher.launched] == ["rtms-st1", "rtms-st2"]
    # a known stream id announced for another meeting changes nothing (its servers are its meeting's)
    other = started("st2", urls="wss://elsewhere.example/s")
    other["payload"]["meeting_uuid"] = "another=="
    assert streams.on_webhook(other) == "ignored"
    assert streams.schedules.get("rtms-st2").rtms.server_urls == "wss://rtms-1.zoom.example/s"
    # a plan that chose RTMS and was cancelled chooses nothing any more
    start = datetime.fromtimestamp(T0_MS / 1000, UTC)
    plan = Schedule(meeting_id="85011111111", start_at=start, join_at=start, end_at=start + timedelta(hours=2),
                    transport="rtms", policy="p.yaml")
    sid, _ = streams.schedules.add(plan)
    assert streams.schedules.cancel(sid)
    planned = started("st3", account="acct-9")
    planned["payload"]["meeting_id"] = 85011111111
    assert streams.on_webhook(planned) == "ignored"
