"""The kubernetes launcher against a fake API server over real HTTP (``tests/fake_k8s.py``): the Job it
creates (one per bot, no retries of its own, no secret in it, non-root), how a Job's state maps to an
exit code, deletion, names for long ids, the REDIS_URL requirement, and the real dispatcher replacing a
bot whose Job failed."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client as k8s

from orchestrator import keys
from orchestrator.dispatch.dispatcher import Dispatcher
from orchestrator.dispatch.k8s_launcher import (JOB_LABEL, MEETING_LABEL, K8sSettings, KubernetesLauncher, dns_label,
                                       job_name, label_value)
from orchestrator.dispatch.launchers import BotJob
from orchestrator.redis_conn import free_port
from orchestrator.dispatch.schedule_store import Schedule, ScheduleStore
from orchestrator.settings import Settings
from fake_k8s import FakeKubernetes

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
SECRET_VALUE = "s3cr3t-sdk-value-never-in-a-spec"
PASSCODE = "pc-739184"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


class Clock:
    def __init__(self) -> None:
        self.t = NOW.timestamp()

    def __call__(self) -> float:
        return self.t


def schedule(meeting: str = "85012345678", passcode: str | None = None, minutes: float = 60) -> Schedule:
    return Schedule(meeting_id=meeting, start_at=NOW, join_at=NOW - timedelta(seconds=60),
                    end_at=NOW + timedelta(minutes=minutes), passcode=passcode)


def bot_job(job_id: str = "85012345678-20261122T090000Z-17637987000001", **kw) -> BotJob:
    s = schedule(**kw)
    return BotJob(job_id, s.id, s, 1)


@pytest.fixture()
def fake():
    with FakeKubernetes() as server:
        yield server


@pytest.fixture()
def settings() -> K8sSettings:
    return K8sSettings(namespace="rollcall", image="registry.example/rollcall-bot:1.2", secret="zoom-creds",
                       cpu="500m", memory="768Mi", ttl_s=900, service_account="rollcall-bot",
                       redis_url="redis://rollcall-redis:6379/0")


def as_v1job(body: dict) -> k8s.V1Job:
    return k8s.ApiClient()._ApiClient__deserialize(body, "V1Job")


def test_launch_creates_one_job_that_runs_once_as_non_root_without_secrets(fake, settings, monkeypatch):
    monkeypatch.setenv("ZOOM_SDK_CLIENT_SECRET", SECRET_VALUE)  # in the orchestrator's env: must not travel
    launcher = KubernetesLauncher(settings, api_client=fake.api_client(), status_cache_s=0)
    job = bot_job(passcode=PASSCODE)
    handle = launcher.launch(job)

    assert len(fake.created_bodies) == 1 and list(fake.jobs) == [("rollcall", handle)]
    sent = fake.created_bodies[0]
    text = json.dumps(sent)
    assert SECRET_VALUE not in text and PASSCODE not in text
    v1 = as_v1job(sent)
    assert isinstance(v1, k8s.V1Job) and v1.metadata.name == handle
    assert v1.spec.backoff_limit == 0 and v1.spec.ttl_seconds_after_finished == 900
    pod = v1.spec.template.spec
    assert pod.restart_policy == "Never" and pod.service_account_name == "rollcall-bot"
    for labels in (v1.metadata.labels, v1.spec.template.metadata.labels):
        assert labels["app.kubernetes.io/name"] == "rollcall-bot"
        assert labels[MEETING_LABEL] == "85012345678" and labels[JOB_LABEL] == job.job_id
    (c,) = pod.containers
    assert c.image == "registry.example/rollcall-bot:1.2"
    assert [e.secret_ref.name for e in c.env_from] == ["zoom-creds"]
    env = {e.name: e for e in c.env}
    assert env["REDIS_URL"].value == "redis://rollcall-redis:6379/0"
    assert env["ROLLCALL_PASSCODE"].value is None
    ref = env["ROLLCALL_PASSCODE"].value_from.secret_key_ref
    assert c.args[:2] == ["--job-id", job.job_id] and "--meeting-id" in c.args and PASSCODE not in c.args
    assert c.resources.requests == c.resources.limits == {"cpu": "500m", "memory": "768Mi"}
    assert pod.security_context.run_as_non_root and pod.security_context.run_as_user != 0
    assert c.security_context.allow_privilege_escalation is False and c.security_context.read_only_root_filesystem
    assert {m.mount_path for m in c.volume_mounts} >= {"/work"}
    assert {v.name for v in pod.volumes if v.empty_dir is not None} == {m.name for m in c.volume_mounts}

    # the passcode lives in a Secret the Job owns, so it goes when the Job goes
    secret = fake.secrets[("rollcall", ref.name)]
    assert secret["stringData"] == {ref.key: PASSCODE}
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Job", handle, fake.job(handle)["metadata"]["uid"])


def test_a_redis_password_is_read_from_the_secret_not_copied_into_the_job(fake, settings):
    settings = settings.model_copy(update={"redis_url": f"redis://:{SECRET_VALUE}@rollcall-redis:6379/0"})
    handle = KubernetesLauncher(settings, api_client=fake.api_client(), status_cache_s=0).launch(bot_job())
    assert SECRET_VALUE not in json.dumps(fake.created_bodies[0])
    env = {e.name: e for e in as_v1job(fake.job(handle)).spec.template.spec.containers[0].env}
    assert env["REDIS_URL"].value_from.secret_key_ref.to_dict() == {"name": "zoom-creds", "key": "REDIS_URL",
                                                                    "optional": None}
    assert not any(n == "ROLLCALL_PASSCODE" for n in env) and not fake.secrets  # no passcode, no Secret


def test_poll_maps_the_job_state_to_an_exit_code(fake, settings):
    launcher = KubernetesLauncher(settings, api_client=fake.api_client(), status_cache_s=0)
    pending, ok, refused, killed = (launcher.launch(bot_job(f"8501234567{n}-20261122T090000Z-1763798700000{n}",
                                                            meeting=f"8501234567{n}")) for n in range(4))
    assert launcher.poll(pending) is None  # created, no pod running yet
    for h in (ok, refused, killed):
        fake.run(h)
        assert launcher.poll(h) is None
    fake.succeed(ok)
    fake.fail(refused, 12)
    fake.fail(killed, 137)
    assert (launcher.poll(ok), launcher.poll(refused), launcher.poll(killed)) == (0, 12, 137)
    for pod in fake.job_pods(killed):  # a failed Job whose pod is gone already: failed all the same
        fake.pods = {k: p for k, p in fake.pods.items() if p is not pod}
    assert launcher.poll(killed) == 1
    fake.outage()  # an API outage must not stop the dispatcher's loop
    assert launcher.poll(refused) is None
    fake.outage("/pods")  # the Job says failed, its pod cannot be read: no guess at the code, ask again
    assert launcher.poll(refused) is None
    assert launcher.poll(refused) == 12
    unreachable = k8s.ApiClient(k8s.Configuration(host=f"http://127.0.0.1:{free_port()}"))
    assert KubernetesLauncher(settings, api_client=unreachable).poll(refused) is None


def test_one_listing_answers_every_poll_for_a_while(fake, settings):
    launcher = KubernetesLauncher(settings, api_client=fake.api_client(), status_cache_s=60)
    a = launcher.launch(bot_job("85012345670-20261122T090000Z-17637987000000", meeting="85012345670"))
    b = launcher.launch(bot_job("85012345671-20261122T090000Z-17637987000001", meeting="85012345671"))
    fake.run(a)
    fake.run(b)
    fake.requests.clear()
    assert [launcher.poll(h) for h in (a, b, a, b)] == [None] * 4
    assert fake.requests == [("GET", "/apis/batch/v1/namespaces/rollcall/jobs")]
    fake.succeed(a)
    assert launcher.poll(a) is None  # the listing is still fresh
    launcher.status_cache_s = 0
    assert launcher.poll(a) == 0


def test_stop_deletes_the_job_in_the_background_with_its_pod_and_secret(fake, settings):
    launcher = KubernetesLauncher(settings, api_client=fake.api_client(), status_cache_s=0)
    handle = launcher.launch(bot_job(passcode=PASSCODE))
    other = launcher.launch(bot_job("85099999999-20261122T090000Z-17637987000009", meeting="85099999999"))
    launcher.stop(handle)
    assert fake.deletions == [("Job", handle, "Background")]
    assert list(fake.jobs) == [("rollcall", other)] and not fake.job_pods(handle) and not fake.secrets
    assert launcher.poll(handle) is None  # gone (deleted, or collected after its TTL): the heartbeat decides
    launcher.stop(handle)  # stopping twice is harmless


def test_long_and_odd_job_ids_give_valid_distinct_names(fake, settings):
    long_a, long_b = "scenario-" + "x" * 80 + "-17637987000001", "scenario-" + "x" * 80 + "-17637987000002"
    names = {job_name(long_a), job_name(long_b), job_name("Meeting_42@Room/7-1"), job_name("meeting-42-room-7-1")}
    assert len(names) == 4
    assert all(len(n) <= 63 and DNS_LABEL.match(n) for n in names)
    assert dns_label("rollcall-bot-85012345678-1") == "rollcall-bot-85012345678-1"  # unchanged when valid
    for v in (label_value(long_a), label_value("a meeting/with spaces"), label_value("_x_")):
        assert LABEL_VALUE.match(v) and len(v) <= 63
    launcher = KubernetesLauncher(settings, api_client=fake.api_client(), status_cache_s=0)
    handle = launcher.launch(bot_job(long_a, meeting="Team sync: " + "y" * 70))
    assert handle == job_name(long_a) and len(handle) <= 63
    labels = fake.job(handle)["metadata"]["labels"]
    assert all(LABEL_VALUE.match(v) for v in labels.values())
    assert fake.job(handle)["metadata"]["annotations"][JOB_LABEL] == long_a  # the whole id is kept


def test_redis_url_is_required(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    with pytest.raises(ValueError, match="REDIS_URL") as err:
        KubernetesLauncher.from_settings(Settings())
    assert "reach" in str(err.value)
    monkeypatch.setenv("ROLLCALL_K8S_NAMESPACE", "bots")
    launcher = KubernetesLauncher.from_settings(Settings(REDIS_URL="redis://redis:6379/0"),
                                                api_client=k8s.ApiClient())
    assert (launcher.settings.namespace, launcher.settings.redis_url) == ("bots", "redis://redis:6379/0")


def test_without_a_cluster_configuration_the_error_says_where_it_looked(monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent-home")
    with pytest.raises(ValueError, match="kube config"):
        KubernetesLauncher(K8sSettings(redis_url="redis://redis:6379/0"))


def test_the_dispatcher_replaces_a_bot_whose_job_failed(fake, settings, redis_client):
    clock = Clock()
    store = ScheduleStore(redis_client, clock=clock)
    sid, _ = store.add(schedule("85012345671"))
    launcher = KubernetesLauncher(settings, api_client=fake.api_client(), status_cache_s=0)
    d = Dispatcher(redis_client, launcher, clock=clock)
    d.tick()  # due: one Job
    (first,) = [name for _, name in fake.jobs]
    assert fake.job(first)["metadata"]["labels"]["rollcall/attempt"] == "1"
    job1 = redis_client.lrange(keys.schedule_jobs(sid), 0, -1)[0]
    assert redis_client.hget(keys.bot(job1), "handle") == first
    fake.run(first)
    clock.t += 1
    d._next_watch = 0
    d.tick()
    assert len(fake.jobs) == 1  # running: nothing to do
    fake.fail(first, 137)  # OOM-killed
    clock.t += 1
    d._next_watch = 0
    d.tick()  # the monitor sees the failure and queues a replacement
    d.tick()  # which is dispatched
    assert len(fake.jobs) == 2
    second = next(name for _, name in fake.jobs if name != first)
    assert fake.job(second)["metadata"]["labels"]["rollcall/attempt"] == "2"
    job2 = redis_client.lrange(keys.schedule_jobs(sid), 0, -1)[1]
    assert redis_client.hgetall(keys.bot(job1))["exit_code"] == "137"
    assert redis_client.hget(keys.bot(job2), "replaces") == job1
    assert redis_client.get(keys.meeting_lock("85012345671")) == job2
