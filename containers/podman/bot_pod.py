"""The Job ``KubernetesLauncher`` builds for one bot, as what ``podman kube play`` can run (smoke test d).

Run with the orchestrator image's Python (it holds the launcher and the Kubernetes client):
    podman run --rm -i --network=none --entrypoint /opt/rollcall/bin/python rollcall-orchestrator - \\
        REDIS_URL CLIENT_ID CLIENT_SECRET PASSCODE < containers/podman/bot_pod.py

Prints one JSON object: ``job`` (the Job exactly as the launcher builds it for a Zoom meeting with a
passcode, default ROLLCALL_K8S_* settings), ``pod`` (its pod template as a Pod: podman 4.3 plays Pods, not
Jobs; nothing in the spec is changed, only the Job's name and labels are carried over as Kubernetes
would), and ``secrets`` (the Secret the Job's ``envFrom`` names, with the given made-up Meeting SDK
credentials, and the per-job passcode Secret the launcher creates), each a Kubernetes Secret, which
``podman secret create`` stores and ``kube play`` reads.
"""
from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

from kubernetes import client as k8s

from orchestrator.dispatch.k8s_launcher import K8sSettings, KubernetesLauncher
from orchestrator.dispatch.launchers import BotJob
from orchestrator.dispatch.schedule_store import Schedule


def main(redis_url: str, client_id: str, client_secret: str, passcode: str) -> None:
    api = k8s.ApiClient()
    defaults = {name: field.default for name, field in K8sSettings.model_fields.items()}
    launcher = KubernetesLauncher(K8sSettings(**{**defaults, "redis_url": redis_url}), api_client=api)
    start = datetime.now(UTC).replace(microsecond=0)
    schedule = Schedule(meeting_id="85012345678", start_at=start, join_at=start - timedelta(seconds=60),
                        end_at=start + timedelta(hours=1), passcode=passcode)
    job = BotJob(f"85012345678-{start:%Y%m%dT%H%M%SZ}-smoke", schedule.id, schedule, 1)
    built = launcher.build_job(job)
    body = api.sanitize_for_serialization(built)
    name = body["metadata"]["name"]
    template = body["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": {**template["metadata"]["labels"], "job-name": name}},
           "spec": template["spec"]}
    built.metadata.uid = "smoke"  # the owner reference needs one; the API server would set it
    passcode_secret = api.sanitize_for_serialization(launcher._passcode_secret(job, name, built))
    passcode_secret["data"] = {k: _b64(v) for k, v in passcode_secret.pop("stringData").items()}
    sdk = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": launcher.settings.secret},
           "data": {"ZOOM_SDK_CLIENT_ID": _b64(client_id), "ZOOM_SDK_CLIENT_SECRET": _b64(client_secret)}}
    json.dump({"job": body, "pod": pod, "secrets": {s["metadata"]["name"]: s for s in (sdk, passcode_secret)}},
              sys.stdout)


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


if __name__ == "__main__":
    main(*sys.argv[1:5])
