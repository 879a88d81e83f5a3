"""The dispatcher on a real Redis: due schedules become exactly one launch each, even with two
orchestrator processes; one bot per meeting; capacity; dead bots replaced or failed with a reason."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator import keys
from orchestrator.bench_orchestrator import run_dispatch
from orchestrator.dispatcher import DispatchConfig, Dispatcher
from orchestrator.launchers import NoopLauncher
from orchestrator.schedule_store import Schedule, ScheduleStore

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = NOW.timestamp()

    def __call__(self) -> float:
        return self.t


class FakeLauncher(NoopLauncher):
    """Bots that run until told otherwise: ``exits[handle] = code`` makes one exit."""

    name = "fake"

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.exits: dict[str, int] = {}

    def poll(self, handle: str) -> int | None:
        return self.exits.get(handle)


def schedule(meeting: str, at: datetime, minutes: float = 60) -> Schedule:
    return Schedule(meeting_id=meeting, start_at=at, join_at=at - timedelta(seconds=60),
                    end_at=at + timedelta(minutes=minutes))


def test_two_orchestrator_processes_launch_each_schedule_exactly_once(redis_server, redis_client):
    res = run_dispatch(redis_server.url, schedules=150, window_s=4.0)
    assert (res.launches, res.duplicates, res.missing) == (150, 0, 0)
    assert len(res.per_process) == 2 and min(res.per_process) > 0  # both did work
    assert res.lateness_p99 < 1.0


def test_one_bot_per_meeting_and_the_same_schedule_added_twice_is_one(redis_client):
    clock = Clock()
    store = ScheduleStore(redis_client, clock=clock)
    sid, new = store.add(schedule("85000000001", NOW))
    assert new and store.add(schedule("85000000001", NOW)) == (sid, False)
    store.add(schedule("85000000001", NOW + timedelta(minutes=1)))  # another start: a second schedule
    launcher = FakeLauncher(clock)
    d = Dispatcher(redis_client, launcher, clock=clock)
    clock.t = NOW.timestamp() - 61  # bots join 60 s before the start: nothing is due yet
    d.tick()
    assert len(launcher.launched) == 0
    clock.t += 1
    d.tick()
    assert [j.schedule_id for j, _ in launcher.launched] == [sid]
    clock.t += 60
    d.tick()
    assert len(launcher.launched) == 1  # the meeting has its bot
    statuses = sorted(redis_client.hget(keys.schedule(s), "status") for s, _ in store.all(since=NOW - timedelta(days=1)))
    assert statuses == ["dispatched", "duplicate"]


def test_capacity_makes_schedules_wait(redis_client):
    clock = Clock()
    store = ScheduleStore(redis_client, clock=clock)
    for n in range(3):
        store.add(schedule(f"8500000001{n}", NOW + timedelta(seconds=60)))
    launcher = FakeLauncher(clock)
    d = Dispatcher(redis_client, launcher, DispatchConfig(capacity=2), clock=clock)
    d.tick()
    assert len(launcher.launched) == 2
    first = launcher.launched[0][0]
    redis_client.hset(keys.bot(first.job_id), "status", "finished")  # one bot leaves
    clock.t += 2
    d._next_watch = 0
    d.tick()  # the monitor sees the bot gone; the waiting schedule was put back for a second later
    clock.t += 2
    d.tick()
    assert len(launcher.launched) == 3


def test_a_dead_bot_is_replaced_while_the_meeting_runs_and_a_hopeless_one_is_not(redis_client):
    clock = Clock()
    store = ScheduleStore(redis_client, clock=clock)
    at = NOW + timedelta(seconds=60)
    crash, refused = store.add(schedule("85000000021", at))[0], store.add(schedule("85000000022", at))[0]
    launcher = FakeLauncher(clock)
    d = Dispatcher(redis_client, launcher, clock=clock)
    d.tick()
    by_schedule = {j.schedule_id: h for (j, _), h in zip(launcher.launched, ["noop-" + j.job_id for j, _ in launcher.launched])}
    launcher.exits[by_schedule[crash]] = -9  # SIGKILL
    launcher.exits[by_schedule[refused]] = 12  # wrong passcode: another attempt cannot fix it
    clock.t += 1
    d._next_watch = 0
    d.tick()
    d.tick()
    replacement = [j for j, _ in launcher.launched if j.schedule_id == crash]
    assert [j.attempt for j in replacement] == [1, 2]
    assert redis_client.hget(keys.bot(replacement[1].job_id), "replaces") == replacement[0].job_id
    assert redis_client.get(keys.meeting_lock("85000000021")) == replacement[1].job_id  # taken over
    assert len([j for j, _ in launcher.launched if j.schedule_id == refused]) == 1
    alerts = [f for _, f in redis_client.xrange(keys.ALERTS)]
    assert len(alerts) == 1 and alerts[0]["schedule"] == refused and "cannot fix" in alerts[0]["reason"]
    # a bot whose heartbeat stops (no process to poll: another host) is dead too
    redis_client.delete(keys.bot_lease(replacement[1].job_id))
    clock.t += 1
    d._next_watch = 0
    d.tick()
    assert redis_client.hget(keys.bot(replacement[1].job_id), "reason") == "heartbeat lost"
    clock.t += 2.5  # the third attempt waits out its backoff
    d._next_watch = 0
    d.tick()
    assert [j.attempt for j, _ in launcher.launched if j.schedule_id == crash] == [1, 2, 3]
