"""The Kubernetes manifests pass ``containers/validate_manifests.py`` (``make k8s-validate``), and the
validator fails, naming the file, on the mistakes the client would let through silently."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "containers" / "k8s"
VALIDATOR = ROOT / "containers" / "validate_manifests.py"


def run_validator(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(VALIDATOR), *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


@pytest.fixture()
def copy(tmp_path) -> Path:
    shutil.copytree(K8S, tmp_path / "k8s")
    return tmp_path / "k8s"


def test_the_manifests_are_valid():
    res = run_validator()
    assert res.returncode == 0, res.stderr
    docs = [d for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
            for d in yaml.safe_load_all(p.read_text()) if d]
    assert {"Deployment", "Service", "Role", "RoleBinding", "ServiceAccount", "Secret", "Job", "StatefulSet"} <= \
        {d["kind"] for d in docs}
    assert f"{len(docs)} Kubernetes objects" in res.stdout


def test_a_misspelled_field_fails_with_the_file_named(copy):
    path = copy / "orchestrator-deployment.yaml"
    text = path.read_text()
    assert "serviceAccountName:" in text
    path.write_text(text.replace("serviceAccountName:", "serviceAcountName:"))
    res = run_validator(str(copy))
    assert res.returncode == 1
    (line,) = [ln for ln in res.stderr.splitlines() if "serviceAcountName" in ln]
    assert "orchestrator-deployment.yaml: Deployment rollcall-orchestrator" in line and "unknown field" in line


def test_a_missing_required_field_and_an_unknown_kind_fail(copy):
    rbac = copy / "rbac.yaml"
    rbac.write_text(rbac.read_text().replace("roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n"
                                             "  name: rollcall-orchestrator\n", ""))
    (copy / "ingress.yaml").write_text("apiVersion: networking.k8s.io/v1beta1\nkind: Ingress\nmetadata:\n  name: x\n")
    res = run_validator(str(copy))
    assert res.returncode == 1
    assert "rbac.yaml: RoleBinding rollcall-orchestrator: missing required field 'roleRef'" in res.stderr
    assert "ingress.yaml: Ingress x: unknown kind networking.k8s.io/v1beta1/Ingress" in res.stderr
    assert "kustomization.yaml: leaves out ingress.yaml" in res.stderr


def test_the_bot_job_template_must_match_the_launcher(copy):
    path = copy / "bot-job-template.yaml"
    path.write_text(path.read_text().replace("restartPolicy: Never", "restartPolicy: OnFailure")
                    .replace("    rollcall/attempt: \"1\"\n", "", 1))
    res = run_validator(str(copy))
    assert res.returncode == 1
    lines = [ln for ln in res.stderr.splitlines() if "bot-job-template.yaml" in ln]
    assert any("spec.template.spec.restartPolicy: template 'OnFailure', code 'Never'" in ln for ln in lines)
    assert any("metadata.labels.rollcall/attempt: template None, code '1'" in ln for ln in lines)


def test_the_secret_templates_hold_placeholders_only_and_bots_get_only_the_sdk_keys():
    zoom, bot = yaml.safe_load_all((K8S / "secret-template.yaml").read_text())
    assert set(zoom["stringData"]) == {"ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET",
                                       "ZOOM_WEBHOOK_SECRET_TOKEN", "ROLLCALL_ADMIN_TOKEN"}
    assert set(bot["stringData"]) == {"ZOOM_SDK_CLIENT_ID", "ZOOM_SDK_CLIENT_SECRET"}
    assert set(zoom["stringData"].values()) | set(bot["stringData"].values()) == {"REPLACE_ME"}
    job = yaml.safe_load((K8S / "bot-job-template.yaml").read_text())
    refs = [e["secretRef"]["name"] for e in job["spec"]["template"]["spec"]["containers"][0].get("envFrom", [])]
    assert refs == [bot["metadata"]["name"]]
