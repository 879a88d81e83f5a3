"""The dispatcher on a real Redis: due schedules become exactly one launch each, even with two
orchestrator processes; one bot per meeting; capacity; dead bots replaced or failed with a reason."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator import keys
from orchestrator.bench.dispatch import run_dispatch
from orchestrator.dispatch.dispatcher import DispatchConfig, Dispatcher
from orchestrator.dispatch.launchers import NoopLauncher
from orchestrator.dispatch.schedule_store import Schedule, ScheduleStore

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


def test_a_redelivered_job_keeps_its_own_lock(redis_client):
    """An orchestrator died after taking the meeting's lock for a job; another handles the job again."""
    clock = Clock()
    store = ScheduleStore(redis_client, clock=clock)
    sid, _ = store.add(schedule("85000000031", NOW + timedelta(seconds=60)))
    store.take_due()
    (entry_id, fields), = redis_client.xrange(keys.JOB_STREAM)
    job_id = f"{sid.replace('@', '-')}-{entry_id.replace('-', '')}"
    redis_client.set(keys.meeting_lock("85000000031"), job_id, ex=45)  # taken, then the first one died
    launcher = FakeLauncher(clock)
    Dispatcher(redis_client, launcher, clock=clock)._handle(entry_id, fields)
    assert [j.job_id for j, _ in launcher.launched] == [job_id]
    assert redis_client.hget(keys.schedule(sid), "status") == "dispatched"


def test_a_bot_taken_for_dead_is_stopped_and_its_link_gives_up(redis_client):
    from bot.redis_link import BotLink

    clock = Clock()
    store = ScheduleStore(redis_client, clock=clock)
    store.add(schedule("85000000032", NOW + timedelta(seconds=60)))
    stopped = []
    launcher = FakeLauncher(clock)
    launcher.stop = stopped.append
    d = Dispatcher(redis_client, launcher, clock=clock)
    d.tick()
    (first, _), = launcher.launched
    link = BotLink(redis_client, first.job_id, "85000000032")
    link.start()
    assert redis_client.hget(keys.bot(first.job_id), "status") == "running" and not link.superseded
    redis_client.delete(keys.bot_lease(first.job_id))  # cut off from Redis longer than its lease
    clock.t += 1
    d._next_watch = 0
    d.tick()
    d.tick()
    assert stopped == [f"noop-{first.job_id}"]  # the launcher is told to stop it
    assert [j.attempt for j, _ in launcher.launched] == [1, 2]
    link._beat()  # it comes back: it must not stay beside its replacement
    assert link.superseded
    assert redis_client.get(keys.meeting_lock("85000000032")) == launcher.launched[1][0].job_id
    link.finish(None, status="finished", exit_code=0)
    h = redis_client.hgetall(keys.bot(first.job_id))
    assert h["status"] == "died" and h["late_status"] == "finished"  # its ending is noted, not overwriting


def test_adding_a_schedule_never_undoes_its_dispatch(redis_client):
    clock = Clock()
    store = ScheduleStore(redis_client, clock=clock)
    s = schedule("85000000033", NOW + timedelta(seconds=60))
    sid, _ = store.add(s)
    assert store.take_due() == [sid]
    assert store.add(s.model_copy(update={"topic": "moved"})) == (sid, False)
    assert redis_client.hget(keys.schedule(sid), "status") == "dispatched"
    assert redis_client.zscore(keys.SCHEDULES_DUE, sid) is None  # not queued a second time


def test_the_bot_command_carries_the_training_policy_but_never_the_passcode():
    from orchestrator.dispatch.launchers import BotJob, bot_command

    s = schedule("85000000041", NOW).model_copy(update={"policy": "default", "passcode": "S3cret"})
    cmd = bot_command(BotJob("job-1", s.id, s, 1), "/work/out")
    assert cmd[cmd.index("--policy") + 1] == "default" and cmd[cmd.index("--duration") + 1] == "3600"
    assert "S3cret" not in " ".join(cmd) and "--passcode" not in cmd
