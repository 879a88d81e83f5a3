"""Check the Kubernetes manifests under containers/k8s/ without a cluster: ``make k8s-validate``.

Every YAML document is read into the ``kubernetes`` client's model for its kind. The client drops
fields it does not know without a word, so a misspelled field would pass unnoticed; the model is
therefore written back out and every key of the YAML must still be there. Missing required fields and
wrongly typed values fail the model itself. The bot Job template must be exactly the Job
``KubernetesLauncher`` builds for the same job, so the reference cannot drift from the code, and
``kustomization.yaml`` must list every manifest except the two templates.

    .venv/bin/python containers/validate_manifests.py [DIR]     # exit 0: all good; 1: problems, listed
"""
from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from pydantic import ValidationError

from orchestrator.dispatch.k8s_launcher import (APP_LABEL, APP_NAME, ATTEMPT_LABEL, JOB_LABEL, MEETING_LABEL, K8sSettings,
                                       KubernetesLauncher)
from orchestrator.dispatch.launchers import BotJob
from orchestrator.dispatch.schedule_store import Schedule

K8S_DIR = Path(__file__).resolve().parent / "k8s"
BOT_JOB_TEMPLATE = "bot-job-template.yaml"
TEMPLATES = {BOT_JOB_TEMPLATE, "secret-template.yaml"}  # not applied: kustomization.yaml leaves them out
KUSTOMIZATION = "kustomization.yaml"

MODELS = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("batch/v1", "Job"): "V1Job",
    ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
}

_api = k8s.ApiClient()


def _model_errors(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors(include_url=False):
        field = ".".join(str(p) for p in e["loc"])
        if e["input"] is None:
            out.append(f"missing required field {field!r} (in {exc.title})")
        else:
            out.append(f"{field!r} (in {exc.title}): {e['msg']}, got {e['input']!r}")
    return out


def dropped_keys(original: Any, rebuilt: Any, path: str = "") -> list[str]:
    """The paths of keys in ``original`` that ``rebuilt`` lost: fields the model does not know."""
    if isinstance(original, dict):
        rebuilt = rebuilt if isinstance(rebuilt, dict) else {}
        out = []
        for key, value in original.items():
            where = f"{path}.{key}" if path else str(key)
            if value is None:
                continue
            if key not in rebuilt:
                out.append(where)
            else:
                out += dropped_keys(value, rebuilt[key], where)
        return out
    if isinstance(original, list):
        rebuilt = rebuilt if isinstance(rebuilt, list) else []
        return [p for i, item in enumerate(original)
                for p in dropped_keys(item, rebuilt[i] if i < len(rebuilt) else None, f"{path}[{i}]")]
    return []


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON-like values differ, as paths with both sides."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for key in sorted(set(a) | set(b), key=str)
                for d in differences(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: template {a!r}, code {b!r}"]


def launcher_job_like(template: dict) -> dict:
    """The Job KubernetesLauncher builds for the job the template shows, with the default settings."""
    meta = template.get("metadata") or {}
    labels, notes = meta.get("labels") or {}, meta.get("annotations") or {}
    container = template["spec"]["template"]["spec"]["containers"][0]
    redis = next(e.get("value") for e in container.get("env", []) if e.get("name") == "REDIS_URL")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    schedule = Schedule(meeting_id=labels[MEETING_LABEL], start_at=start, join_at=start,
                        end_at=start + timedelta(hours=1), asr="--no-asr" not in container.get("args", []))
    defaults = {name: field.default for name, field in K8sSettings.model_fields.items()}
    launcher = KubernetesLauncher(K8sSettings(**{**defaults, "redis_url": redis}), api_client=_api)
    job = BotJob(notes[JOB_LABEL], notes.get("rollcall/schedule-id", ""), schedule, int(labels.get(ATTEMPT_LABEL, 1)))
    return _api.sanitize_for_serialization(launcher.build_job(job))


def check_document(doc: Any) -> tuple[str, list[str]]:
    """(what it is, its problems) for one YAML document."""
    if not isinstance(doc, dict):
        return "?", [f"not a Kubernetes object but a {type(doc).__name__}"]
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    what = f"{kind} {name or '(unnamed)'}"
    model = MODELS.get((api_version, kind))
    if model is None:
        return what, [f"unknown kind {api_version}/{kind} (known: "
                      f"{', '.join(f'{v}/{k}' for v, k in sorted(MODELS))})"]
    problems = [] if name else ["missing required field 'metadata.name'"]
    try:
        parsed = _api._ApiClient__deserialize(doc, model)
    except ValidationError as exc:
        return what, problems + _model_errors(exc)
    except (TypeError, ValueError) as exc:
        return what, problems + [f"does not fit {model}: {exc}"]
    rebuilt = _api.sanitize_for_serialization(parsed)
    problems += [f"unknown field {p!r} (not in {model}; misspelled?)" for p in dropped_keys(doc, rebuilt)]
    if kind == "Job" and (doc["metadata"].get("labels") or {}).get(APP_LABEL) == APP_NAME and not problems:
        try:
            problems += [f"differs from the Job KubernetesLauncher builds at {d}"
                         for d in differences(doc, launcher_job_like(doc))]
        except (KeyError, IndexError, StopIteration, ValueError) as exc:
            problems.append(f"cannot rebuild it with KubernetesLauncher: {type(exc).__name__} {exc}")
    return what, problems


def check_kustomization(root: Path, doc: Any) -> list[str]:
    if not isinstance(doc, dict) or doc.get("kind") != "Kustomization":
        return ["not a Kustomization"]
    listed = set(doc.get("resources") or [])
    manifests = {p.name for p in root.glob("*.yaml")} - {KUSTOMIZATION}
    return ([f"lists {r}, which does not exist" for r in sorted(listed - manifests)]
            + [f"lists {r}, a template that must not be applied" for r in sorted(listed & TEMPLATES)]
            + [f"leaves out {r}" for r in sorted(manifests - TEMPLATES - listed)])


def validate(root: Path = K8S_DIR) -> tuple[list[str], int]:
    """Every problem under ``root`` as "file: kind name: problem", and how many objects were checked."""
    problems, checked = [], 0
    files = sorted([*root.glob("*.yaml"), *root.glob("*.yml")])
    if not files:
        return [f"{root}: no YAML files"], 0
    for path in files:
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except yaml.YAMLError as exc:
            problems.append(f"{path.name}: not valid YAML: {exc}")
            continue
        if path.name == KUSTOMIZATION:
            problems += [f"{path.name}: {p}" for p in check_kustomization(root, docs[0] if docs else None)]
            continue
        for doc in docs:
            what, found = check_document(doc)
            checked += 1
            problems += [f"{path.name}: {what}: {p}" for p in found]
    if not (root / BOT_JOB_TEMPLATE).exists():
        problems.append(f"{BOT_JOB_TEMPLATE}: missing (the reference for the Job the launcher builds)")
    return problems, checked


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else K8S_DIR
    problems, checked = validate(root)
    for p in problems:
        print(f"{root}/{p}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in the manifests under {root}", file=sys.stderr)
        return 1
    print(f"{checked} Kubernetes objects under {root}: all valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
