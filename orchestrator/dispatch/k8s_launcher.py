"""The ``kubernetes`` launcher: one ``batch/v1`` Job per bot, in the bot image (``containers/bot.Dockerfile``).

The Job runs exactly one pod (``backoffLimit: 0``): the dispatcher, not Kubernetes, decides whether a
dead bot is replaced, so a retry is a new Job with a new job id and the meeting lock moves with it. The
pod runs the image's own entrypoint (tini, PulseAudio with a null sink, ``rollcall bot``) with the
arguments of ``bot_command``, as a non-root user on a read-only root filesystem with ``/work`` and
``/tmp`` as emptyDir volumes.

No secret is ever written into the Job: the Zoom credentials come from a Secret through ``envFrom``, a
meeting passcode goes into a per-job Secret owned by the Job (deleted with it), and a ``REDIS_URL`` that
carries a password is read from the shared Secret's ``REDIS_URL`` key instead of being copied in.
``containers/k8s/bot-job-template.yaml`` shows the Job this builds; ``make k8s-validate`` checks they agree.
"""
from __future__ import annotations

import hashlib
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from pydantic import Field
import structlog
from orchestrator.dispatch.launchers import BotJob, bot_command
from orchestrator.settings import KubernetesSettings

if TYPE_CHECKING:
    from orchestrator.settings import Settings

log = structlog.get_logger(__name__)

APP_LABEL = "app.kubernetes.io/name"
APP_NAME = "rollcall-bot"
PART_OF_LABEL = "app.kubernetes.io/part-of"  # what the Redis NetworkPolicy admits
MEETING_LABEL = "rollcall/meeting-id"
JOB_LABEL = "rollcall/job-id"
ATTEMPT_LABEL = "rollcall/attempt"
CONTAINER = "bot"
WORK_DIR = "/work"
BOT_UID = 10001  # the image's `rollcall` user; numeric so the kubelet can enforce runAsNonRoot
PASSCODE_KEY = "passcode"
API_TIMEOUT_S = 10.0  # a hung API server must not hold up the dispatcher's loop for longer
# what bot_command starts with; the image's entrypoint runs `rollcall bot` itself and takes the rest
_BOT_PREFIX = ["python", "-m", "bot.cli", "bot"]
_RTMS_PREFIX = ["python", "-m", "bot.cli", "rtms"]


class K8sSettings(KubernetesSettings):
    """What the launcher works from: the ``k8s`` section of ``Settings`` (``Settings.k8s``) and the Redis
    the bots report to (``Settings.redis_url``), which must be reachable from the pods: the embedded Redis
    an orchestrator starts when ``REDIS_URL`` is unset listens on the orchestrator's loopback only. A plain
    model, not read from the environment: build it with ``KubernetesLauncher.from_settings``."""

    redis_url: str | None = Field(default=None, alias="REDIS_URL", repr=False)  # may carry a password


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def dns_label(text: str, limit: int = 63) -> str:
    """``text`` as a DNS-1123 label (lowercase alphanumerics and '-', alphanumeric at both ends, at most
    ``limit`` characters). Job ids end in what makes them unique (the stream entry), so when characters
    are cut or replaced (not merely lowercased) a hash of the whole text keeps two ids apart."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if len(label) <= limit and label == text.lower():
        return label
    suffix = _short_hash(text)
    return f"{label[:limit - len(suffix) - 1].rstrip('-')}-{suffix}".lstrip("-")


def label_value(text: str) -> str:
    """``text`` as a label value (≤ 63 of [A-Za-z0-9_.-], alphanumeric at both ends), hashed like
    ``dns_label`` when it had to change."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")
    if len(value) <= 63 and value == text:
        return value
    suffix = _short_hash(text)
    return f"{value[:63 - len(suffix) - 1].rstrip('-_.')}-{suffix}".lstrip("-_.")


def job_name(job_id: str) -> str:
    return dns_label(f"rollcall-bot-{job_id}")


def _has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return True  # unparsable: treat it as secret rather than copy it into the spec


def load_api_client(settings: KubernetesSettings) -> k8s.ApiClient:
    """In a pod (``KUBERNETES_SERVICE_HOST`` set) its service account; elsewhere ``KUBECONFIG`` or
    ``~/.kube/config``."""
    cfg = k8s.Configuration()
    try:
        if settings.service_host:
            k8s_config.load_incluster_config(client_configuration=cfg)
        else:
            k8s_config.load_kube_config(config_file=settings.kubeconfig, client_configuration=cfg)
    except (k8s_config.ConfigException, OSError, TypeError) as exc:
        where = "the pod's service account" if settings.service_host else \
            f"the kube config ({settings.kubeconfig or '~/.kube/config'})"
        raise ValueError(f"--launcher kubernetes: cannot load {where}: {exc}") from exc
    return k8s.ApiClient(cfg)


class KubernetesLauncher:
    """Bots as Kubernetes Jobs; the handle is the Job's name."""

    name = "kubernetes"

    def __init__(self, settings: K8sSettings, api_client: k8s.ApiClient | None = None, *,
                 status_cache_s: float = 1.0) -> None:
        """``status_cache_s``: how long one listing of the bot Jobs answers ``poll``. The dispatcher polls
        every live bot every second; one list per second, not one GET per bot, keeps the API server's
        load flat however many bots run."""
        if not settings.redis_url:
            raise ValueError("--launcher kubernetes needs REDIS_URL: a Redis the bot pods can reach (the "
                             "embedded Redis used when it is unset listens on the orchestrator's loopback only)")
        self.settings = settings
        self.api_client = api_client or load_api_client(settings)
        self.batch = k8s.BatchV1Api(self.api_client)
        self.core = k8s.CoreV1Api(self.api_client)
        self.status_cache_s = status_cache_s
        self._statuses: dict[str, k8s.V1JobStatus | None] = {}
        self._listed_at: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings, api_client: k8s.ApiClient | None = None) -> KubernetesLauncher:
        """The launcher of ``settings.k8s``, its bots reporting to ``settings.redis_url``."""
        k8s_settings = K8sSettings(**settings.k8s.model_dump(), redis_url=settings.redis_url)
        return cls(k8s_settings, api_client)  # checks REDIS_URL before it looks for a cluster

    # ---- the Job ---------------------------------------------------------------------------------------
    def labels(self, job: BotJob) -> dict[str, str]:
        return {APP_LABEL: APP_NAME, PART_OF_LABEL: "rollcall", MEETING_LABEL: label_value(job.schedule.meeting_id),
                JOB_LABEL: label_value(job.job_id), ATTEMPT_LABEL: str(job.attempt)}

    def _env(self, job: BotJob, name: str) -> list[k8s.V1EnvVar]:
        s = self.settings
        assert s.redis_url is not None
        if _has_password(s.redis_url):
            redis = k8s.V1EnvVar(name="REDIS_URL", value_from=k8s.V1EnvVarSource(
                secret_key_ref=k8s.V1SecretKeySelector(name=s.secret, key="REDIS_URL")))
        else:
            redis = k8s.V1EnvVar(name="REDIS_URL", value=s.redis_url)
        env = [redis, k8s.V1EnvVar(name="HOME", value=WORK_DIR), k8s.V1EnvVar(name="PYTHONUNBUFFERED", value="1")]
        if job.schedule.passcode:
            env.append(k8s.V1EnvVar(name="ROLLCALL_PASSCODE", value_from=k8s.V1EnvVarSource(
                secret_key_ref=k8s.V1SecretKeySelector(name=f"{name}-passcode", key=PASSCODE_KEY))))
        return env

    def build_job(self, job: BotJob) -> k8s.V1Job:
        """The Job for ``job``, built but not created."""
        s, name, labels = self.settings, job_name(job.job_id), self.labels(job)
        cmd = bot_command(job, f"{WORK_DIR}/out", python="python")
        command = None
        if cmd[:len(_RTMS_PREFIX)] == _RTMS_PREFIX:  # a stream worker needs no PulseAudio: tini, not the entrypoint
            command, args = ["/usr/bin/tini", "--", "rollcall", "rtms"], cmd[len(_RTMS_PREFIX):]
        elif cmd[:len(_BOT_PREFIX)] == _BOT_PREFIX:
            args = cmd[len(_BOT_PREFIX):]
        else:
            raise RuntimeError(f"bot_command no longer starts with {' '.join(_BOT_PREFIX)}: {cmd[:4]}")
        resources = {"cpu": s.cpu, "memory": s.memory}
        container = k8s.V1Container(
            name=CONTAINER, image=s.image, command=command, args=args, working_dir=WORK_DIR,
            env=self._env(job, name),
            env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=s.secret))],
            resources=k8s.V1ResourceRequirements(requests=resources, limits=dict(resources)),
            volume_mounts=[k8s.V1VolumeMount(name="work", mount_path=WORK_DIR),
                           k8s.V1VolumeMount(name="tmp", mount_path="/tmp")],
            security_context=k8s.V1SecurityContext(
                run_as_non_root=True, allow_privilege_escalation=False, read_only_root_filesystem=True,
                capabilities=k8s.V1Capabilities(drop=["ALL"])))
        pod = k8s.V1PodSpec(
            containers=[container], restart_policy="Never", service_account_name=s.service_account,
            automount_service_account_token=False, enable_service_links=False,
            security_context=k8s.V1PodSecurityContext(
                run_as_non_root=True, run_as_user=BOT_UID, run_as_group=BOT_UID, fs_group=BOT_UID,
                seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault")),
            volumes=[k8s.V1Volume(name="work", empty_dir=k8s.V1EmptyDirVolumeSource()),
                     k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource())])
        return k8s.V1Job(
            api_version="batch/v1", kind="Job",
            metadata=k8s.V1ObjectMeta(name=name, namespace=s.namespace, labels=labels,
                                      annotations={JOB_LABEL: job.job_id, "rollcall/schedule-id": job.schedule_id}),
            spec=k8s.V1JobSpec(
                backoff_limit=0, ttl_seconds_after_finished=s.ttl_s,
                template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=dict(labels)), spec=pod)))

    def _passcode_secret(self, job: BotJob, name: str, owner: k8s.V1Job) -> k8s.V1Secret:
        return k8s.V1Secret(
            api_version="v1", kind="Secret", type="Opaque", string_data={PASSCODE_KEY: job.schedule.passcode},
            metadata=k8s.V1ObjectMeta(
                name=f"{name}-passcode", namespace=self.settings.namespace, labels=self.labels(job),
                owner_references=[k8s.V1OwnerReference(api_version="batch/v1", kind="Job", name=name,
                                                       uid=owner.metadata.uid, block_owner_deletion=True)]))

    # ---- the Launcher protocol -------------------------------------------------------------------------
    def launch(self, job: BotJob) -> str:
        """Create the Job (and its passcode Secret, owned by it, so both go together). Until the Secret
        exists the kubelet holds the pod back (CreateContainerConfigError) and retries; if it cannot be
        created the Job is deleted and the error raised, so the dispatcher records a failed launch."""
        body = self.build_job(job)
        name, ns = body.metadata.name, self.settings.namespace
        created = self.batch.create_namespaced_job(ns, body, _request_timeout=API_TIMEOUT_S)
        if job.schedule.passcode:
            try:
                self.core.create_namespaced_secret(ns, self._passcode_secret(job, name, created),
                                                   _request_timeout=API_TIMEOUT_S)
            except Exception:
                self.stop(name)
                raise
        log.info("bot %s: Job %s/%s created", job.job_id, ns, name)
        return name

    def poll(self, handle: str) -> int | None:
        """0 if the Job succeeded; if it failed, the bot container's exit code (1 when no pod tells);
        None while it runs, once it is gone (deleted, or collected after its TTL) and when the API cannot
        be reached: the bot's heartbeat decides then."""
        try:
            status = self._job_statuses().get(handle)
        except k8s.ApiException as exc:
            log.warning("bot Jobs in %s: unreadable (%s %s)", self.settings.namespace, exc.status, exc.reason)
            return None
        except Exception as exc:  # connection refused, timeouts: the dispatcher's loop must go on
            log.warning("bot Jobs in %s: unreadable (%s)", self.settings.namespace, type(exc).__name__)
            return None
        if status is None:  # not listed: gone, or created after the listing
            return None
        if status.succeeded:
            return 0
        failed = status.failed or any(c.type == "Failed" and c.status == "True" for c in status.conditions or [])
        return self._exit_code(handle) if failed else None

    def _job_statuses(self) -> dict[str, k8s.V1JobStatus | None]:
        now = time.monotonic()
        if self._listed_at is None or now - self._listed_at >= self.status_cache_s:
            jobs = self.batch.list_namespaced_job(self.settings.namespace, label_selector=f"{APP_LABEL}={APP_NAME}",
                                                  _request_timeout=API_TIMEOUT_S)
            self._statuses = {j.metadata.name: j.status for j in jobs.items}
            self._listed_at = now
        return self._statuses

    def _exit_code(self, name: str) -> int | None:
        """The failed bot's exit code from its pod; 1 if no pod has one (gone already, never started);
        None if the pods cannot be read now (a wrong guess could retry a bot that must not be)."""
        try:
            pods = self.core.list_namespaced_pod(self.settings.namespace, label_selector=f"job-name={name}",
                                                 _request_timeout=API_TIMEOUT_S).items
        except Exception as exc:
            log.warning("Job %s: its pods are unreadable (%s)", name, type(exc).__name__)
            return None
        codes = [cs.state.terminated.exit_code for p in pods if p.status
                 for cs in p.status.container_statuses or []
                 if cs.name == CONTAINER and cs.state and cs.state.terminated]
        return next((c for c in reversed(codes) if c), 1)

    def stop(self, handle: str) -> None:
        """Delete the Job; its pod gets SIGTERM (the bot leaves and reports) and is collected with it."""
        try:
            self.batch.delete_namespaced_job(handle, self.settings.namespace, propagation_policy="Background",
                                             _request_timeout=API_TIMEOUT_S)
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise
