"""Acceptance 1 of the orchestrator issue, end to end with the embedded Redis: three simulated meetings
scheduled 5 s apart each get exactly one bot, their live snapshots appear on their Redis channels while
they run, and each record lands in the store; the same meeting scheduled twice still gets one bot."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import yaml

from orchestrator import keys
from orchestrator.redis_conn import embedded_url

LENGTH_S = 8.0


def scenario(d: Path, n: int) -> Path:
    doc = {"meeting": {"id": f"8500000030{n}", "topic": f"Training {n}", "start": "2026-11-22T10:00:00Z",
                       "duration_s": LENGTH_S},
           "participants": [{"key": "p1", "name": f"Host {n}", "role": "host"}, {"key": "p2", "name": f"Ana {n}"}],
           "events": [{"t": 0, "type": "join", "who": "p1"}, {"t": 1, "type": "join", "who": "p2"},
                      {"t": 2, "type": "video_on", "who": "p2"}, {"t": 3, "type": "chat", "who": "p2", "text": "hi"},
                      {"t": 6, "type": "leave", "who": "p2"}]}
    path = d / f"training-{n}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, capture_output=True, text=True, timeout=60)


def test_three_simulated_meetings_each_get_one_bot_live_snapshots_and_a_record(tmp_path):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    orch = subprocess.Popen([sys.executable, "-m", "bot.cli", "orchestrator", "--data-dir", str(data)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port_file = data / "redis" / "port"
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert time.monotonic() < deadline and orch.poll() is None, "the orchestrator did not start"
            time.sleep(0.05)
        r = redis.Redis.from_url(embedded_url(data), decode_responses=True)  # it has a password
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=int(port_file.read_text())).get("x")  # without the password: refused
        paths = [scenario(tmp_path, n) for n in range(3)]
        meetings = [f"8500000030{n}" for n in range(3)]
        heard: dict[str, list[tuple[float, dict]]] = {m: [] for m in meetings}
        pubsub = r.pubsub()
        pubsub.subscribe(*[keys.live_channel(m) for m in meetings])
        done = threading.Event()

        def listen() -> None:
            while not done.is_set():
                msg = pubsub.get_message(timeout=0.2)
                if msg and msg["type"] == "message":
                    heard[msg["channel"].rsplit(":", 1)[1]].append((time.time(), json.loads(msg["data"])))

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        starts = {}
        for n, path in enumerate(paths):
            out = cli("schedule", "add", "--scenario", str(path), "--at", f"+{4 + 5 * n}", "--no-asr",
                      "--data-dir", str(data), env=env)
            assert out.returncode == 0 and out.stdout.startswith("scheduled "), out.stderr
            starts[meetings[n]] = time.time() + 4 + 5 * n
        again = cli("schedule", "add", "--scenario", str(paths[0]), "--at", "+5", "--no-asr", "--data-dir", str(data),
                    env=env)  # the same meeting once more, a second later
        assert again.returncode == 0
        deadline = time.monotonic() + 60
        while r.zcard(keys.RECORDS) < 3:
            assert time.monotonic() < deadline, f"records: {r.zrange(keys.RECORDS, 0, -1)}"
            assert orch.poll() is None, orch.stderr.read()
            time.sleep(0.2)
        done.set()
        listener.join(2)
        for m in meetings:
            bots = [r.hgetall(k) for k in r.keys("rollcall:bot:*") if not k.endswith((":lease", ":obs"))]
            mine = [b for b in bots if b.get("meeting_id") == m and b.get("status") != "duplicate"]
            assert len(mine) == 1 and mine[0]["status"] == "finished", mine
            # live snapshots arrived while the meeting ran, about one a second
            during = [t for t, snap in heard[m] if starts[m] - 1 <= t <= starts[m] + LENGTH_S + 2 and not snap["ended"]]
            assert len(during) >= LENGTH_S - 3, (m, len(during))
            assert r.xlen(keys.live_stream(m)) >= len(during)  # and are kept for late joiners
            record = json.loads(r.get(keys.record(r.smembers(keys.records_of_meeting(m)).pop())))
            people = {p["key"]: p for p in record["participants"]}
            assert set(people) == {"p1", "p2"} and people["p2"]["chat_messages"] == 1
            assert abs(people["p2"]["present_s"] - 5.0) < 0.2 and people["p2"]["camera_on_s"] > 3.5
            assert record["observer"]["observed_s"] >= LENGTH_S - 1.0 and len(record["bots"]) == 1
        duplicate = [s for s in r.keys("rollcall:schedule:85000000300@*") if ":" not in s.rsplit("@", 1)[1]]
        assert sorted(r.hget(s, "status") for s in duplicate) == ["duplicate", "ended"]
    finally:
        orch.terminate()
        orch.wait(30)
    assert not (data / "redis" / "port").exists()  # the orchestrator stopped its Redis
