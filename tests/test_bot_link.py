"""A bot's line to the orchestrator through Redis: heartbeat, live channel, observation log and report
for a Zoom bot (stand-in SDK) and for a failure the orchestrator must see; nothing raises while Redis
is away and the log waits for it."""
from __future__ import annotations

import json

import redis
from fake_zoom_sdk import FakeUser, FakeZoom
from test_zoom_cli import SECRET, SignalLoop

from analysis.live import LiveSnapshot, LiveTotals
from analysis.observations import Event
from bot.redis_link import BotLink
from bot.zoom.credentials import ZoomCredentials
from bot.zoom.run import run_meeting
from bot.zoom.session import JoinSpec
from orchestrator import keys
from orchestrator.redis_conn import free_port

SPEC = JoinSpec(85012345678, "pass", "Rollcall", "rollcall-job-z")


def test_a_zoom_bot_reports_heartbeat_live_observations_and_its_report(redis_client, tmp_path):
    fake = FakeZoom()
    fake.users[100] = FakeUser(100, "pA", "Ana", muted=False)
    redis_client.set(keys.meeting_lock("85012345678"), "job-z", ex=30)  # as the dispatcher leaves it
    link = BotLink(redis_client, "job-z", "85012345678", flush_every_s=0.2)
    lifecycle = run_meeting(fake, SignalLoop(fake, 1.5), SPEC, ZoomCredentials(client_id="cid", client_secret=SECRET),
                            tmp_path, link=link)
    assert lifecycle.exit_code == 5  # left on SIGTERM: a normal ending
    bot = redis_client.hgetall(keys.bot("job-z"))
    assert bot["status"] == "finished" and bot["exit_code"] == "5" and float(bot["joined_at"]) > 0
    assert not redis_client.exists(keys.bot_lease("job-z")) and not redis_client.exists(keys.meeting_lock("85012345678"))
    lines = [json.loads(f["r"]) for _, f in redis_client.xrange(keys.bot_observations("job-z"))]
    assert {"kind": "event", "type": "join", "key": "pA"}.items() <= lines[0].items()
    assert redis_client.xlen(keys.live_stream("85012345678")) >= 2
    (stored,) = redis_client.hvals(keys.bot_reports("85012345678"))
    report = json.loads(stored)
    assert report["observer"]["customer_key"] == "rollcall-job-z" and report["participants"][0]["name"] == "Ana"


def test_a_failing_zoom_bot_says_how_so_the_orchestrator_can_decide(redis_client, tmp_path):
    fake = FakeZoom(joins=[[("CONNECTING", 0), ("FAILED", 4)]])  # wrong passcode
    link = BotLink(redis_client, "job-f", "85012345678", flush_every_s=0.2)
    lifecycle = run_meeting(fake, SignalLoop(fake, 60), SPEC, ZoomCredentials(client_id="cid", client_secret=SECRET),
                            tmp_path, link=link)
    bot = redis_client.hgetall(keys.bot("job-f"))
    assert (bot["status"], bot["exit_code"]) == ("exited", str(lifecycle.exit_code)) and lifecycle.exit_code == 12
    assert "passcode" in bot["reason"].lower()
    assert not redis_client.exists(keys.bot_reports("85012345678"))


def test_while_redis_is_away_nothing_raises_and_the_log_waits(tmp_path):
    away = redis.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    link = BotLink(away, "job-a", "85000000001")
    link.log(Event(t=1.0, type="join", key="p1"))
    link.snapshot(LiveSnapshot(t=1.0, participants=[], totals=LiveTotals(
        present=0, talking=0, camera_on=0, hands_up=0, total_talk_s=0.0, talk_balance=None, overlap_s=0.0,
        silence_s=0.0, chat_messages=0, reactions=0, hand_raises=0)))
    assert link.snapshots_skipped == 1
    assert not link.flush() and len(link._buffer) == 1  # kept for when Redis is back
    assert link.finish(None, status="finished", exit_code=0, give_up_after_s=0.5) is False


def test_a_zoom_bot_with_a_training_policy_posts_roll_calls_and_reports_compliance(tmp_path):
    from analysis.policy import parse_policy

    fake = FakeZoom()
    fake.users[100] = FakeUser(100, "pA", "Ana", muted=False)
    policy = parse_policy("roll_call: {every_s: 100, first_at_s: 0.5, response_window_s: 30, text: 'Roll call!'}")
    run_meeting(fake, SignalLoop(fake, 1.5), SPEC, ZoomCredentials(client_id="cid", client_secret=SECRET), tmp_path,
                policy=policy, duration_s=600)
    assert {"text": "Roll call!", "to": 0, "type": "To_All"} in fake.sent  # through the SDK's chat
    report = json.loads((tmp_path / "report.json").read_text())
    ana = next(p for p in report["participants"] if p["key"] == "pA")
    assert ana["compliance"]["status"] == "failed"  # the meeting ended for the bot after 1.5 s of 10 minutes
    assert (tmp_path / "exceptions.csv").exists()
