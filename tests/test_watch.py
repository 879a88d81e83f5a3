"""`rollcall watch` shows a meeting's latest live snapshot from Redis, with compliance when a policy
applies; with nothing live yet it says so."""
from __future__ import annotations

import os
import subprocess
import sys

from analysis.live import LiveParticipant, LiveSnapshot, LiveTotals
from orchestrator import keys


def snapshot() -> LiveSnapshot:
    people = [LiveParticipant(key="p1", name="Dana Host", role="host", consent=True, present=True, talking_now=True,
                              talk_time_s=42.5, share_pct=70.0, turns=3, camera_on=True, hand_up=False),
              LiveParticipant(key="p2", name="Lars Late", role="attendee", consent=True, present=False,
                              talking_now=False, talk_time_s=18.2, share_pct=30.0, turns=2, camera_on=False,
                              hand_up=True, compliance="at_risk", compliance_reasons=["absent since 3:20"])]
    totals = LiveTotals(present=1, talking=1, camera_on=1, hands_up=1, total_talk_s=60.7, talk_balance=0.4,
                        overlap_s=1.0, silence_s=12.0, chat_messages=2, reactions=0, hand_raises=1)
    return LiveSnapshot(t=201.0, participants=people, totals=totals)


def test_watch_once_prints_the_latest_snapshot(redis_server, redis_client):
    redis_client.xadd(keys.live_stream("85000000901"), {"job": "j", "snapshot": snapshot().model_dump_json()})
    env = {**os.environ, "REDIS_URL": redis_server.url, "COLUMNS": "120"}
    out = subprocess.run([sys.executable, "-m", "bot.cli", "watch", "85000000901", "--once"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for text in ("Dana Host", "42.5s", "Lars Late", "18.2s", "70.0%", "at risk", "absent since 3:20", "03:21"):
        assert text in out.stdout, text
    none = subprocess.run([sys.executable, "-m", "bot.cli", "watch", "85000000902", "--once"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert none.returncode == 1 and "nothing live for meeting 85000000902 yet" in none.stderr
