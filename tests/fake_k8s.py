"""A small fake Kubernetes API server on loopback, for the kubernetes launcher's tests.

It serves what the launcher uses, over real HTTP to the real ``kubernetes`` client: ``batch/v1`` Jobs
(create, get, list, delete), the pods a Job controller would make (listed by label selector) and
Secrets (create, get, delete). It checks what a real API server would refuse (a Job name that is no
DNS-1123 label, a body for another namespace, a name taken: 422, 400, 409), answers unknown objects with
a 404 ``Status``, and on a Job's deletion collects its pods and the objects it owns, as the garbage
collector would. Tests play the Job controller and the kubelet: ``run``, ``succeed``, ``fail``.
"""
from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from kubernetes import client as k8s

from orchestrator.emulator.server import LoopbackServer

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str, **details: str) -> JSONResponse:
    return JSONResponse({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                         "message": message, "reason": reason, "details": details, "code": code}, status_code=code)


def _selected(obj: dict, selector: str | None) -> bool:
    labels = obj["metadata"].get("labels") or {}
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.replace("==", "=").partition("=")
        if labels.get(key.strip()) != value.strip():
            return False
    return True


class FakeKubernetes:
    """The fake API server; ``with FakeKubernetes() as fake`` serves it, ``fake.api_client()`` talks to it."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], dict] = {}
        self.pods: dict[tuple[str, str], dict] = {}
        self.secrets: dict[tuple[str, str], dict] = {}
        self.created_bodies: list[dict] = []  # every Job body as the client sent it
        self.deletions: list[tuple[str, str, str | None]] = []  # (kind, name, propagationPolicy)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self._outages: list[str] = []  # path fragments: the next request matching each gets a 500
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None
        self.app = self._build_app()

    # ---- serving ---------------------------------------------------------------------------------------
    def __enter__(self) -> FakeKubernetes:
        self._server = LoopbackServer(self.app, name="fake-kubernetes").__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.__exit__(*exc)

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.base_url

    def api_client(self) -> k8s.ApiClient:
        return k8s.ApiClient(k8s.Configuration(host=self.url))

    def outage(self, path_part: str = "") -> None:
        """The next request whose path contains ``path_part`` (any request: "") fails with a 500."""
        with self._lock:
            self._outages.append(path_part)

    # ---- playing the Job controller and the kubelet -----------------------------------------------------
    def job(self, name: str, namespace: str = "rollcall") -> dict:
        return self.jobs[(namespace, name)]

    def job_pods(self, name: str, namespace: str = "rollcall") -> list[dict]:
        return [p for (ns, _), p in self.pods.items() if ns == namespace and _selected(p, f"job-name={name}")]

    def run(self, name: str, namespace: str = "rollcall") -> None:
        """The pod is running."""
        with self._lock:
            self.job(name, namespace)["status"] = {"active": 1, "ready": 1, "startTime": _now()}
            for pod in self.job_pods(name, namespace):
                pod["status"] = {"phase": "Running", "containerStatuses": [
                    self._container_status(pod, {"running": {"startedAt": _now()}}, ready=True)]}

    def succeed(self, name: str, namespace: str = "rollcall") -> None:
        self._finish(name, namespace, 0)

    def fail(self, name: str, exit_code: int, namespace: str = "rollcall") -> None:
        """The bot container exited with ``exit_code`` (≠ 0); with backoffLimit 0 the Job has failed."""
        assert exit_code != 0
        self._finish(name, namespace, exit_code)

    def _finish(self, name: str, namespace: str, exit_code: int) -> None:
        with self._lock:
            job = self.job(name, namespace)
            kind = ("Complete", "succeeded", "Succeeded") if exit_code == 0 else ("Failed", "failed", "Failed")
            job["status"] = {"startTime": _now(), "completionTime": _now(), kind[1]: 1, "active": 0,
                             "conditions": [{"type": kind[0], "status": "True", "lastTransitionTime": _now(),
                                             "reason": "Completed" if exit_code == 0 else "BackoffLimitExceeded"}]}
            for pod in self.job_pods(name, namespace):
                terminated = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                              "startedAt": _now(), "finishedAt": _now()}
                pod["status"] = {"phase": kind[2],
                                 "containerStatuses": [self._container_status(pod, {"terminated": terminated})]}

    @staticmethod
    def _container_status(pod: dict, state: dict, ready: bool = False) -> dict:
        c = pod["spec"]["containers"][0]
        return {"name": c["name"], "image": c["image"], "imageID": "", "ready": ready, "restartCount": 0,
                "state": state}

    # ---- the API ---------------------------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def outage(request: Request, call_next):
            self.requests.append((request.method, request.url.path))
            with self._lock:
                hit = next((o for o in self._outages if o in request.url.path), None)
                if hit is not None:
                    self._outages.remove(hit)
            if hit is not None:
                return status(500, "InternalError", "the fake is told to fail")
            return await call_next(request)

        @app.post("/apis/batch/v1/namespaces/{ns}/jobs")
        async def create_job(ns: str, request: Request):
            body = await request.json()
            self.created_bodies.append(copy.deepcopy(body))
            if body.get("apiVersion") != "batch/v1" or body.get("kind") != "Job":
                return status(400, "BadRequest", f"not a batch/v1 Job: {body.get('apiVersion')}/{body.get('kind')}")
            meta = body.setdefault("metadata", {})
            name = meta.get("name", "")
            if meta.get("namespace", ns) != ns:
                return status(400, "BadRequest", "the namespace of the provided object does not match the "
                                                 "namespace sent on the request")
            if not _DNS_LABEL.match(name):
                return status(422, "Invalid", f'Job.batch "{name}" is invalid: metadata.name: must be a valid '
                                              "DNS-1123 label of at most 63 characters", name=name, kind="Job")
            with self._lock:
                if (ns, name) in self.jobs:
                    return status(409, "AlreadyExists", f'jobs.batch "{name}" already exists', name=name,
                                  group="batch", kind="jobs")
                meta.update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_now(), resourceVersion="1")
                body["status"] = {}
                self.jobs[(ns, name)] = body
                self._make_pod(ns, body)
            return JSONResponse(body, status_code=201)

        @app.get("/apis/batch/v1/namespaces/{ns}/jobs")
        def list_jobs(ns: str, labelSelector: str | None = None):  # noqa: N803 (the API's name)
            with self._lock:
                items = [j for (n, _), j in self.jobs.items() if n == ns and _selected(j, labelSelector)]
            return {"apiVersion": "batch/v1", "kind": "JobList", "metadata": {"resourceVersion": "1"}, "items": items}

        @app.get("/apis/batch/v1/namespaces/{ns}/jobs/{name}")
        def get_job(ns: str, name: str):
            with self._lock:
                job = self.jobs.get((ns, name))
            return job if job is not None else status(404, "NotFound", f'jobs.batch "{name}" not found', name=name,
                                                      group="batch", kind="jobs")

        @app.delete("/apis/batch/v1/namespaces/{ns}/jobs/{name}")
        async def delete_job(ns: str, name: str, request: Request, propagationPolicy: str | None = None):  # noqa: N803
            raw = await request.body()
            policy = propagationPolicy or (json.loads(raw).get("propagationPolicy") if raw else None)
            with self._lock:
                job = self.jobs.pop((ns, name), None)
                if job is None:
                    return status(404, "NotFound", f'jobs.batch "{name}" not found', name=name, group="batch",
                                  kind="jobs")
                self.deletions.append(("Job", name, policy))
                if policy != "Orphan":
                    self._collect(ns, name, job["metadata"]["uid"])
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": "batch", "kind": "jobs", "uid": job["metadata"]["uid"]}}

        @app.get("/api/v1/namespaces/{ns}/pods")
        def list_pods(ns: str, labelSelector: str | None = None):  # noqa: N803
            with self._lock:
                items = [p for (n, _), p in self.pods.items() if n == ns and _selected(p, labelSelector)]
            return {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": items}

        @app.post("/api/v1/namespaces/{ns}/secrets")
        async def create_secret(ns: str, request: Request):
            body = await request.json()
            meta = body.setdefault("metadata", {})
            name = meta.get("name", "")
            with self._lock:
                if (ns, name) in self.secrets:
                    return status(409, "AlreadyExists", f'secrets "{name}" already exists', name=name, kind="secrets")
                owners = {j["metadata"]["uid"] for (n, _), j in self.jobs.items() if n == ns}
                for ref in meta.get("ownerReferences") or []:
                    if ref.get("uid") not in owners:
                        return status(422, "Invalid", f'secrets "{name}": owner {ref.get("name")} not found')
                meta.update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_now())
                self.secrets[(ns, name)] = body
            return JSONResponse(body, status_code=201)

        @app.get("/api/v1/namespaces/{ns}/secrets/{name}")
        def get_secret(ns: str, name: str):
            with self._lock:
                secret = self.secrets.get((ns, name))
            return secret if secret is not None else status(404, "NotFound", f'secrets "{name}" not found',
                                                            name=name, kind="secrets")

        @app.delete("/api/v1/namespaces/{ns}/secrets/{name}")
        def delete_secret(ns: str, name: str):
            with self._lock:
                if self.secrets.pop((ns, name), None) is None:
                    return status(404, "NotFound", f'secrets "{name}" not found', name=name, kind="secrets")
                self.deletions.append(("Secret", name, None))
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}

        return app

    def _make_pod(self, ns: str, job: dict) -> None:
        """What the Job controller does: one pod from the template, labelled with the Job's name."""
        name = job["metadata"]["name"]
        template = copy.deepcopy(job["spec"]["template"])
        labels = {**(template.get("metadata") or {}).get("labels", {}), "job-name": name,
                  "batch.kubernetes.io/job-name": name, "controller-uid": job["metadata"]["uid"]}
        pod_name = f"{name[:57]}-{uuid.uuid4().hex[:5]}"
        self.pods[(ns, pod_name)] = {
            "apiVersion": "v1", "kind": "Pod", "spec": template["spec"], "status": {"phase": "Pending"},
            "metadata": {"name": pod_name, "namespace": ns, "labels": labels, "uid": str(uuid.uuid4()),
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                              "uid": job["metadata"]["uid"], "controller": True}]}}

    def _collect(self, ns: str, name: str, uid: str) -> None:
        """The garbage collector: the Job's pods and whatever names it as owner go with it."""
        for store in (self.pods, self.secrets):
            for key, obj in list(store.items()):
                refs = obj["metadata"].get("ownerReferences") or []
                if key[0] == ns and any(r.get("uid") == uid for r in refs):
                    del store[key]
